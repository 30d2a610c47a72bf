/**
 * What a Socket is given: its options, and the part of the WebSocket interface it uses (the
 * transports, a WebSocket or LongPoll, present it).
 */
import type { DialectName } from './dialect.js'
import type { Params } from './endpoint.js'
import type { SessionStore } from './fallback.js'
import type { Backoff } from './timer.js'

/** `logger(kind, msg, data)`: kind is `transport`, `push`, `receive` or `channel`. */
export type LogFunction = (kind: string, msg: string, data?: unknown) => void
/** @deprecated Renamed `LogFunction` (`@hornbeam/channels`' `Logger` is a server logger object). */
export type Logger = LogFunction

/** The part of the WebSocket interface the socket uses (browser, Node 22 and `ws` all have it). */
export interface WebSocketLike {
  readonly readyState: number
  onopen: ((event: any) => void) | null
  onclose: ((event: any) => void) | null
  onmessage: ((event: any) => void) | null
  onerror: ((event: any) => void) | null
  /** Set to 'arraybuffer' on the phoenix dialect (a browser's default is 'blob'). */
  binaryType?: string
  /** A string; on the phoenix dialect also a Uint8Array (a binary push). */
  send(data: string | Uint8Array): void
  close(code?: number, reason?: string): void
}

/** A WebSocket class: `new transport(url)`. */
export type WebSocketConstructor = new (url: string) => WebSocketLike

/** What close callbacks receive: the transport's CloseEvent, or one made for a close the client decided. */
export interface CloseInfo {
  code: number
  reason: string
  wasClean: boolean
}

export interface SocketOptions {
  /** Query params of the connection, or a function called on every connect (to send a fresh token). */
  params?: Params | (() => Params)
  /** `logger(kind, msg, data)`, called for transport events, pushes and receives. */
  logger?: LogFunction
  /** Default timeout of joins and pushes, in ms. Default 10000. */
  timeout?: number
  /** A heartbeat is sent this often; one unanswered for as long reconnects. 0 disables. Default 30000. */
  heartbeatIntervalMs?: number
  /** Delay before the n-th reconnect. Default 10, 50, 100, 150, 200, 250, 500, 1000, 2000, then 5000 ms. */
  reconnectAfterMs?: Backoff
  /** Delay before the n-th rejoin of a failed channel. Default 1000, 2000, 5000, then 10000 ms. */
  rejoinAfterMs?: Backoff
  /** Fraction (0..1) of each backoff delay that is random, so clients do not all return at once. Default 0.5. */
  jitter?: number
  /**
   * After the server closes with 1001 (going away) or 1012 (restart), as it does to every client
   * at once, the first reconnect comes at a random moment within this window (full jitter), so
   * they do not all return in the same few milliseconds. Default 5000; 0 reconnects as after a
   * network drop (at once, then backing off).
   */
  restartWindowMs?: number
  /**
   * The WebSocket class. Default `globalThis.WebSocket` (browsers, Node 22); on Node 20 pass `ws`.
   * `LongPoll` (exported by this package) makes the socket use long-poll only.
   */
  transport?: WebSocketConstructor
  /**
   * The wire dialect: 'hornbeam' (the default; JSON text) or 'phoenix' (the phoenix v2 wire,
   * `vsn=2.0.0`, the `phx_` names; payloads of bytes go and come in binary frames).
   */
  dialect?: DialectName
  /**
   * Falls back to long-poll (`LongPoll`, the server's `<path>/longpoll`) when the WebSocket fails
   * before it opens, does not open within this many ms, or opens but does not answer a heartbeat
   * within as long again (a proxy that accepts the upgrade and passes nothing). The socket then
   * stays on long-poll; unless a WebSocket ever worked for it, the fallback is remembered in
   * `sessionStorage`, and the page's next sockets start on long-poll. With no WebSocket at all in
   * the runtime, the socket uses long-poll at once. Unset (the default): WebSocket only. The
   * same as phoenix.js's option of this name (2500 is a good value).
   */
  longPollFallbackMs?: number
  /** How long one long-poll request may take, in ms. Default 20000 (the server answers a poll within 10 s). */
  longPollTimeoutMs?: number
  /** Where the long-poll fallback is remembered. Default `globalThis.sessionStorage`, when there is one. */
  sessionStorage?: SessionStore
}
