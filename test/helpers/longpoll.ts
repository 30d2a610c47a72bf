/**
 * A raw long-poll client for tests, speaking Phoenix's long-poll protocol as phoenix.js does: a
 * GET without a token opens a session (`{status: 410, token}`), GETs with the token poll,
 * POSTs send newline-joined frames. It records every frame it receives and answer it gets.
 */
import { request as httpRequest } from 'node:http'
import { RawClient, eventually, type Frame } from './wire.js'

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

export interface RequestOptions {
  method?: string
  headers?: Record<string, string>
  body?: string | Buffer | null
  signal?: AbortSignal
}

/**
 * One HTTP request on a connection of its own (`agent: false`), closed after it: no pool keeps
 * a connection open behind a test's back (a server's close would wait for it).
 */
export function request(url: string, { method = 'GET', headers = {}, body, signal }: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent: false, ...(signal ? { signal } : {}) }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: { status?: number; token?: string; messages?: string[] } = {}
        try {
          parsed = JSON.parse(text)
        } catch {}
        const responseHeaders = new Headers()
        for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) responseHeaders.set(name, String(value))
        resolve({ http: res.statusCode!, status: parsed.status, token: parsed.token, messages: parsed.messages, text, headers: responseHeaders })
      })
    })
    req.on('error', reject)
    req.end(body ?? undefined)
  })
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

  /**
   * Polls, one request at a time, until a received frame matches (or `timeoutMs`): when it
   * returns, no poll of this client is on its way or waiting at the server.
   */
  async pollUntil(match: (f: Frame) => boolean, timeoutMs = 3000, what = 'frame'): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    while (!this.frames.some(match)) {
      if (Date.now() > deadline) throw new Error(`timed out polling for ${what}; got ${JSON.stringify(this.frames)}`)
      const answer = await this.poll()
      if (answer.status === 200) for (const m of answer.messages ?? []) this.frames.push(JSON.parse(m))
      else if (answer.status !== 204) throw new Error(`poll answered ${answer.http} ${answer.text}`)
    }
    return this.frames.find(match)!
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

/**
 * What every adapter shows for its long-poll route: the seed chat (test/fixtures/chat.ts) between
 * a long-poll session opened at `<base><path>/longpoll` and a WebSocket client on the same
 * adapter (join, presence, push and reply, broadcastFrom both ways), and a 405 for another method.
 */
export async function longPollChat(t: { teardown(fn: () => unknown): void; equal: Function; same: Function; pass: Function }, base: string, path = '/ws'): Promise<void> {
  const lp = await LongPollClient.open(`${base}${path}/longpoll`)
  lp.start()
  t.teardown(() => lp.stop())
  const a = await lp.join('room:lobby', { username: 'alice' })
  t.equal(a.status, 'ok', 'alice joins over long-poll')
  const ws = await RawClient.connect(`${base.replace(/^http/, 'ws')}${path}/websocket?vsn=2.0.0`, 'phoenix')
  t.teardown(() => ws.close())
  const b = await ws.join('room:lobby', { username: 'bob' })
  t.equal(b.status, 'ok', 'bob joins over a WebSocket')
  await lp.waitFor((f) => f[3] === 'presence_diff' && 'user:bob' in f[4].joins, 3000, 'alice sees bob')
  t.same(await lp.request(a.joinRef, 'room:lobby', 'new_msg', { body: 'hi bob' }), { status: 'ok', response: { status: 'ok' } }, 'push and reply over long-poll')
  t.same((await ws.waitFor((f) => f[3] === 'new_msg'))[4], { username: 'alice', body: 'hi bob' }, 'bob got it')
  await ws.push(b.joinRef, 'room:lobby', 'new_msg', { body: 'hi alice' })
  t.same((await lp.waitFor((f) => f[3] === 'new_msg'))[4], { username: 'bob', body: 'hi alice' }, 'alice got bob’s')
  const put = await request(lp.url(), { method: 'PUT', body: '[]' })
  t.equal(put.http, 405, 'another method: 405')
}
