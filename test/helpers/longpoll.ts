/**
 * A raw long-poll client for tests, speaking Phoenix's long-poll protocol as phoenix.js does: a
 * GET without a token opens a session (`{status: 410, token}`), GETs with the token poll,
 * POSTs send newline-joined frames. It records every frame it receives and answer it gets.
 */
import { eventually, type Frame } from './wire.js'

export interface Answer {
  /** The HTTP status. */
  http: number
  /** The JSON body's status, when the body is JSON. */
  status?: number
  token?: string
  messages?: string[]
  text: string
  headers: Headers
}

export async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init)
  const text = await res.text()
  let body: { status?: number; token?: string; messages?: string[] } = {}
  try {
    body = JSON.parse(text)
  } catch {}
  return { http: res.status, status: body.status, token: body.token, messages: body.messages, text, headers: res.headers }
}

const names = {
  hornbeam: { join: 'hb_join', reply: 'hb_reply', hb: 'hornbeam' },
  phoenix: { join: 'phx_join', reply: 'phx_reply', hb: 'phoenix' },
}

export class LongPollClient {
  readonly frames: Frame[] = []
  /** Statuses of every poll answered, in order. */
  readonly polls: number[] = []
  gone = false
  private ref = 0
  private polling: Promise<void> | undefined
  private abort = new AbortController()
  private readonly names: (typeof names)['hornbeam']

  private constructor(
    /** `http://host:port/ws/longpoll` */
    readonly endpoint: string,
    readonly token: string,
    readonly dialect: 'hornbeam' | 'phoenix',
  ) {
    this.names = names[dialect]
  }

  /** Opens a session; throws with the answer if it is not `{status: 410, token}`. */
  static async open(endpoint: string, { dialect = 'phoenix' as 'hornbeam' | 'phoenix', params = {} as Record<string, string>, headers = {} as Record<string, string> } = {}): Promise<LongPollClient> {
    const url = new URL(endpoint)
    if (dialect === 'phoenix') url.searchParams.set('vsn', '2.0.0')
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
    const answer = await request(url.toString(), { headers: { accept: 'application/json', ...headers } })
    if (answer.status !== 410 || typeof answer.token !== 'string') throw new Error(`session not opened: ${answer.http} ${answer.text}`)
    return new LongPollClient(url.toString(), answer.token, dialect)
  }

  /** A client for an open session, sending to `endpoint` (another node's, say). */
  static at(endpoint: string, token: string, dialect: 'hornbeam' | 'phoenix' = 'phoenix'): LongPollClient {
    return new LongPollClient(endpoint, token, dialect)
  }

  url(token = this.token): string {
    const url = new URL(this.endpoint)
    url.searchParams.append('token', token)
    return url.toString()
  }

  /** One poll, as it is answered. */
  poll(signal?: AbortSignal): Promise<Answer> {
    return request(this.url(), { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) })
  }

  /** POSTs frames as phoenix.js does: JSON arrays joined by newlines, `application/x-ndjson`. */
  send(frames: unknown[][], token = this.token): Promise<Answer> {
    return request(this.url(token), { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: frames.map((f) => JSON.stringify(f)).join('\n') })
  }

  /** Polls in a loop until stop(), a 410 or an error; messages go to `frames`. */
  start(): void {
    this.polling ??= (async () => {
      while (!this.abort.signal.aborted) {
        let answer: Answer
        try {
          answer = await this.poll(this.abort.signal)
        } catch {
          return
        }
        this.polls.push(answer.status ?? answer.http)
        if (answer.status === 200) for (const m of answer.messages ?? []) this.frames.push(JSON.parse(m))
        else if (answer.status !== 204) {
          this.gone = true
          return
        }
      }
    })()
  }

  async stop(): Promise<void> {
    this.abort.abort()
    await this.polling
  }

  async waitFor(match: (f: Frame) => boolean, timeoutMs = 3000, what = 'frame'): Promise<Frame> {
    await eventually(() => this.frames.some(match), timeoutMs, `${what}; got ${JSON.stringify(this.frames)}`)
    return this.frames.find(match)!
  }

  nextRef(): string {
    return String(++this.ref)
  }

  /** Sends one frame and waits (polling must be started) for the reply with its ref. */
  async request(joinRef: string | null, topic: string, event: string, payload: unknown = {}): Promise<{ status: string; response: any }> {
    const ref = this.nextRef()
    const sent = await this.send([[joinRef, ref, topic, event, payload]])
    if (sent.status !== 200) throw new Error(`send answered ${sent.http} ${sent.text}`)
    return (await this.waitFor((f) => f[1] === ref && f[3] === this.names.reply, 3000, `reply to ${event}`))[4]
  }

  async join(topic: string, payload: unknown = {}): Promise<{ status: string; response: any; joinRef: string }> {
    const ref = this.nextRef()
    const sent = await this.send([[ref, ref, topic, this.names.join, payload]])
    if (sent.status !== 200) throw new Error(`join send answered ${sent.http} ${sent.text}`)
    const reply = await this.waitFor((f) => f[1] === ref && f[3] === this.names.reply, 3000, `join reply ${topic}`)
    return { ...reply[4], joinRef: ref }
  }
}
