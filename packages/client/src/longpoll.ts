/**
 * The long-poll transport: the WebSocket interface the socket uses (`readyState`, `send`,
 * `close`, `onopen`/`onmessage`/`onerror`/`onclose`) over plain HTTP requests, for networks where
 * WebSockets never open. It speaks Phoenix's long-poll protocol, as the server's
 * `<path>/longpoll` serves it: a GET without a token opens a session (`{status: 410, token}`),
 * GETs with the token wait for messages (`{status: 200, messages}`, or 204 when none came in
 * time), POSTs send the frames of one event-loop turn joined by newlines. A 410 for a session
 * the client had means the server ended it: the transport closes (3410) and the socket reconnects
 * with a new session, and rejoins. Needs `fetch` and `AbortController` (browsers, Node 18+).
 *
 *   new Socket('/ws', { transport: LongPoll })         // long-poll only
 *   new Socket('/ws', { longPollFallbackMs: 2500 })    // WebSocket first, long-poll if it fails
 */
import { base64Of } from './bytes.js'
import { SOCKET_STATES } from './constants.js'

/** The most frames one POST carries (as phoenix.js sends them, and the server reads them). */
export const MAX_LONGPOLL_BATCH = 100
/** How long one request may take before the transport gives up on it (the server answers a poll within 10 s). */
export const DEFAULT_LONGPOLL_TIMEOUT_MS = 20_000

/** A close the transport reports, as a WebSocket's CloseEvent would. */
interface CloseInfo {
  code: number
  reason: string
  wasClean: boolean
}

interface Body {
  status?: number
  token?: string
  messages?: unknown
}

/** `ws(s)://host/ws/websocket?x` → `http(s)://host/ws/longpoll?x` (a relative URL keeps its form). */
export function longPollURL(url: string): string {
  const q = url.indexOf('?')
  const path = (q < 0 ? url : url.slice(0, q)).replace(/^ws(s?):\/\//i, 'http$1://').replace(/\/websocket\/?$/, '/longpoll')
  return q < 0 ? path : path + url.slice(q)
}

export class LongPoll {
  readyState: number = SOCKET_STATES.connecting
  onopen: ((event: unknown) => void) | null = null
  onclose: ((event: CloseInfo) => void) | null = null
  onmessage: ((event: { data: string }) => void) | null = null
  onerror: ((event: unknown) => void) | null = null
  /** Per-request timeout in ms; the socket sets it from its `longPollTimeoutMs`. */
  timeout = DEFAULT_LONGPOLL_TIMEOUT_MS
  private readonly endpoint: string
  private token: string | null = null
  private readonly requests = new Set<AbortController>()
  /** Frames of this turn, sent together at its end. */
  private batch: string[] | null = null
  /** Frames sent while a POST is on its way: they go next, in one POST. */
  private waiting: string[] = []
  private posting = false

  constructor(url: string) {
    this.endpoint = longPollURL(url)
    // The caller sets its callbacks (and the timeout) after the constructor returns.
    setTimeout(() => this.poll(), 0)
  }

  /**
   * Queues a frame: the frames of one turn leave in one POST, after the previous POST's answer.
   * A binary frame (a phoenix v2 binary push) goes as a line of base64, as phoenix.js sends it.
   */
  send(frame: string | Uint8Array): void {
    if (this.readyState !== SOCKET_STATES.open) return
    const data = typeof frame === 'string' ? frame : base64Of(frame)
    if (this.posting) {
      this.waiting.push(data)
    } else if (this.batch !== null) {
      this.batch.push(data)
    } else {
      this.batch = [data]
      setTimeout(() => {
        const frames = this.batch ?? []
        this.batch = null
        void this.post(frames)
      }, 0)
    }
  }

  /**
   * Stops: pending requests are aborted; `onclose` gets the code (1000 by default), after this
   * call returns, as a WebSocket's close event comes after `close()`.
   */
  close(code = 1000, reason = ''): void {
    if (this.readyState === SOCKET_STATES.closed) return
    this.stop()
    setTimeout(() => this.onclose?.({ code, reason, wasClean: true }), 0)
  }

  private stop(): void {
    this.readyState = SOCKET_STATES.closed
    const requests = [...this.requests]
    this.requests.clear()
    for (const controller of requests) controller.abort()
    this.batch = null
    this.waiting = []
  }

  /** Ends the transport as a failed WebSocket ends: an error, then a close the socket reconnects after. */
  private fail(error: unknown, code: number, reason: string): void {
    if (this.readyState === SOCKET_STATES.closed) return
    this.stop()
    this.onerror?.(error)
    this.onclose?.({ code, reason, wasClean: false })
  }

  private async poll(): Promise<void> {
    while (this.readyState === SOCKET_STATES.connecting || this.readyState === SOCKET_STATES.open) {
      const body = await this.request('GET')
      if (body === undefined) return // stopped
      const status = body?.status ?? 0
      if (status === 410 && this.token !== null) return this.fail(410, 3410, 'session gone')
      if (typeof body?.token === 'string') this.token = body.token
      switch (status) {
        case 200:
          for (const message of Array.isArray(body!.messages) ? body!.messages : []) {
            if (this.readyState !== SOCKET_STATES.open) return
            if (typeof message === 'string') this.onmessage?.({ data: message })
          }
          break
        case 204:
          break
        case 410: // a new session: its token came with it
          if (this.token === null) return this.fail(410, 1011, 'no session token')
          this.readyState = SOCKET_STATES.open
          this.onopen?.({})
          break
        case 403:
          return this.fail(403, 1008, 'forbidden')
        default:
          return this.fail(status === 0 ? 'network error' : status, 1011, 'long-poll request failed')
      }
    }
  }

  private async post(frames: string[]): Promise<void> {
    for (let offset = 0; offset < frames.length && this.readyState === SOCKET_STATES.open; offset += MAX_LONGPOLL_BATCH) {
      this.posting = true
      const body = await this.request('POST', frames.slice(offset, offset + MAX_LONGPOLL_BATCH).join('\n'))
      this.posting = false
      if (body === undefined) return
      if (body?.status !== 200) return this.fail(body?.status ?? 'network error', 1011, 'long-poll send failed')
    }
    if (this.waiting.length > 0 && this.readyState === SOCKET_STATES.open) {
      const next = this.waiting
      this.waiting = []
      return this.post(next)
    }
  }

  /**
   * One request: its JSON body, null when it failed (network error, timeout, not JSON), or
   * undefined when the transport was stopped meanwhile.
   */
  private async request(method: 'GET' | 'POST', body?: string): Promise<Body | null | undefined> {
    const controller = new AbortController()
    this.requests.add(controller)
    const timer = setTimeout(() => controller.abort(), this.timeout)
    const url = this.token === null ? this.endpoint : `${this.endpoint}${this.endpoint.includes('?') ? '&' : '?'}token=${encodeURIComponent(this.token)}`
    const headers: Record<string, string> = method === 'POST' ? { 'content-type': 'application/x-ndjson' } : { accept: 'application/json' }
    try {
      const response = await fetch(url, { method, headers, signal: controller.signal, ...(body === undefined ? {} : { body }) })
      const text = await response.text()
      if (!this.requests.has(controller)) return undefined
      try {
        return JSON.parse(text) as Body
      } catch {
        return null
      }
    } catch {
      return this.requests.has(controller) ? null : undefined
    } finally {
      clearTimeout(timer)
      this.requests.delete(controller)
    }
  }
}
