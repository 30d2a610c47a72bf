import { Channel } from './channel.js'
import type { AnyContract, JoinParams } from './contract.js'
import {
  CLOSE_HEARTBEAT_TIMEOUT,
  CLOSE_NORMAL,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_JITTER,
  DEFAULT_RESTART_WINDOW_MS,
  DEFAULT_TIMEOUT_MS,
  HEARTBEAT_EVENT,
  SOCKET_STATES,
  defaultReconnectAfterMs,
  defaultRejoinAfterMs,
} from './constants.js'
import { endPointURL, type Params } from './endpoint.js'
import { LongPollFallback, type SessionStore } from './fallback.js'
import { DEFAULT_LONGPOLL_TIMEOUT_MS, LongPoll } from './longpoll.js'
import type { PayloadSource } from './push.js'
import { decode, encode, type Message } from './serializer.js'
import { encodeBinaryPush } from './binary.js'
import { bytesOf, isBytes } from './bytes.js'
import { DIALECTS, type Dialect, type DialectName } from './dialect.js'
import { Timer, type Backoff } from './timer.js'

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

type Callbacks = {
  open: Array<[string, () => void]>
  close: Array<[string, (event: CloseInfo) => void]>
  error: Array<[string, (error: unknown) => void]>
  message: Array<[string, (message: Message) => void]>
}

/**
 * One WebSocket to the server, shared by all channels: `new Socket('/ws', { params })`.
 *
 * It reconnects with a jittered backoff whenever the connection ends without disconnect()
 * being called (a server restart, a network drop, a heartbeat that got no answer), and its
 * channels then rejoin. A heartbeat goes out every `heartbeatIntervalMs`; when one is not
 * answered within the next interval the connection is presumed dead, closed with 4000, and
 * replaced.
 */
export class Socket {
  /** The channels made by channel() and not closed. */
  channels: Channel<any>[] = []
  readonly endPoint: string
  readonly timeout: number
  readonly heartbeatIntervalMs: number
  readonly reconnectAfterMs: Backoff
  readonly rejoinAfterMs: Backoff
  readonly jitter: number
  readonly restartWindowMs: number
  /** The wire dialect's names and features (see SocketOptions.dialect). */
  readonly dialect: Dialect
  readonly longPollTimeoutMs: number
  private readonly params: Params | (() => Params)
  private readonly logger: LogFunction | undefined
  private readonly transport: WebSocketConstructor | undefined
  private readonly fallback: LongPollFallback | undefined
  /** The fallback happened: every connection from now on is long-poll. */
  private fellBack = false
  private pingRef: string | null = null
  private pingAnswered: (() => void) | undefined
  private conn: WebSocketLike | null = null
  private ref = 0
  private readonly callbacks: Callbacks = { open: [], close: [], error: [], message: [] }
  private readonly reconnectTimer: Timer
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined
  private heartbeatTimeoutTimer: ReturnType<typeof setTimeout> | undefined
  private pendingHeartbeatRef: string | null = null
  /** disconnect() was called: no reconnect until connect(). */
  private closedByUser = false

  /**
   * @param endPoint `/ws` in a browser (resolved against the page), or an absolute
   *   `ws(s)://` or `http(s)://` URL; `/websocket` is appended to its path.
   */
  constructor(endPoint: string, options: SocketOptions = {}) {
    this.endPoint = endPoint
    this.params = options.params ?? {}
    this.logger = options.logger
    this.timeout = options.timeout ?? DEFAULT_TIMEOUT_MS
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS
    this.reconnectAfterMs = options.reconnectAfterMs ?? defaultReconnectAfterMs
    this.rejoinAfterMs = options.rejoinAfterMs ?? defaultRejoinAfterMs
    this.jitter = options.jitter ?? DEFAULT_JITTER
    this.restartWindowMs = options.restartWindowMs ?? DEFAULT_RESTART_WINDOW_MS
    this.transport = options.transport
    const dialect = options.dialect ?? 'hornbeam'
    if (!Object.prototype.hasOwnProperty.call(DIALECTS, dialect)) throw new TypeError(`unknown dialect "${dialect}": 'hornbeam' or 'phoenix'`)
    this.dialect = DIALECTS[dialect]
    this.longPollTimeoutMs = options.longPollTimeoutMs ?? DEFAULT_LONGPOLL_TIMEOUT_MS
    if (options.longPollFallbackMs !== undefined && options.longPollFallbackMs > 0 && options.transport !== LongPoll) {
      const store = options.sessionStorage ?? (globalThis as { sessionStorage?: SessionStore }).sessionStorage
      this.fallback = new LongPollFallback(options.longPollFallbackMs, store, (reason) => this.fallBack(reason))
      this.fellBack = this.fallback.memorized
    }
    this.reconnectTimer = new Timer(() => this.reconnect(), this.reconnectAfterMs, this.jitter)
  }

  // -- connection

  /** The URL the next connect() opens (params evaluated now). */
  endPointURL(): string {
    const params = typeof this.params === 'function' ? this.params() : this.params
    const vsn = this.dialect.vsn
    return endPointURL(this.endPoint, vsn === undefined ? params : { ...params, vsn }, undefined, this.transport !== undefined)
  }

  /** Opens the connection, unless one is open or opening. */
  connect(): void {
    if (this.conn !== null) return
    this.closedByUser = false
    this.reconnectTimer.clear()
    const Transport = this.pickTransport()
    const url = this.endPointURL()
    const conn: WebSocketLike = new Transport(url)
    this.conn = conn
    if (this.dialect.binary) conn.binaryType = 'arraybuffer'
    if (conn instanceof LongPoll) conn.timeout = this.longPollTimeoutMs
    else this.fallback?.attempt()
    // Without the query: params often hold a token, and logs travel further than they should.
    this.log('transport', `connecting to ${url.split('?')[0]}`)
    conn.onopen = () => conn === this.conn && this.onConnOpen()
    conn.onerror = (error: unknown) => conn === this.conn && this.onConnError(error)
    conn.onmessage = (event: { data: unknown }) => conn === this.conn && this.onConnMessage(event)
    conn.onclose = (event: CloseInfo) => conn === this.conn && this.onConnClose(event)
  }

  /** Whether the socket uses long-poll (given as its transport, or after the fallback). */
  isLongPolling(): boolean {
    return this.transport === LongPoll || this.fellBack
  }

  private pickTransport(): WebSocketConstructor {
    if (this.isLongPolling()) return LongPoll
    const Transport = this.transport ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (typeof Transport === 'function') return Transport
    if (this.fallback !== undefined) {
      this.log('transport', 'no WebSocket in this runtime: long-poll')
      this.fellBack = true
      return LongPoll
    }
    throw new Error(
      'no WebSocket implementation: this runtime has no global WebSocket (Node before 22). ' +
        "Pass one: new Socket(url, { transport: WebSocket }) with WebSocket from the 'ws' package, or use long-poll: { transport: LongPoll }",
    )
  }

  /** The WebSocket failed, or did not open or answer in time: from now on, long-poll. */
  private fallBack(reason: string): void {
    this.log('transport', `falling back to long-poll: ${reason}`)
    this.fellBack = true
    const conn = this.conn
    if (conn === null || this.closedByUser) return
    // The WebSocket's own events no longer reach the socket (they are not from this.conn).
    this.conn = null
    const wasOpen = conn.readyState === SOCKET_STATES.open
    try {
      conn.close(CLOSE_NORMAL, 'falling back to long-poll')
    } catch (err) {
      this.log('transport', 'close failed', err)
    }
    this.stopHeartbeat()
    if (wasOpen) for (const channel of this.channels.slice()) channel.onSocketClose()
    this.reconnectTimer.reset()
    this.connect()
  }

  /**
   * Closes the connection (code 1000 unless given) and stops reconnecting until connect().
   * Channels stay, errored, and rejoin after the next connect().
   */
  disconnect(callback?: () => void, code: number = CLOSE_NORMAL, reason = 'client disconnect'): void {
    this.closedByUser = true
    this.reconnectTimer.reset()
    this.fallback?.clear()
    this.abandon(code, reason, true)
    callback?.()
  }

  /** `connecting`, `open`, `closing` or `closed`. */
  connectionState(): 'connecting' | 'open' | 'closing' | 'closed' {
    switch (this.conn?.readyState) {
      case SOCKET_STATES.connecting:
        return 'connecting'
      case SOCKET_STATES.open:
        return 'open'
      case SOCKET_STATES.closing:
        return 'closing'
      default:
        return 'closed'
    }
  }

  isConnected(): boolean {
    return this.connectionState() === 'open'
  }

  // -- callbacks

  /** Calls `callback()` each time the connection opens. Returns a ref for off(). */
  onOpen(callback: () => void): string {
    return this.addCallback('open', callback)
  }

  /** Calls `callback(event)` each time the connection closes (then a reconnect is scheduled unless disconnect() was called). */
  onClose(callback: (event: CloseInfo) => void): string {
    return this.addCallback('close', callback)
  }

  /** Calls `callback(error)` on transport errors (a close follows). */
  onError(callback: (error: unknown) => void): string {
    return this.addCallback('error', callback)
  }

  /** Calls `callback(message)` for every frame received, after the channels have seen it. */
  onMessage(callback: (message: Message) => void): string {
    return this.addCallback('message', callback)
  }

  /** Removes the callbacks whose refs are given. */
  off(refs: string[]): void {
    for (const list of Object.values(this.callbacks) as Array<Array<[string, unknown]>>) {
      for (let i = list.length - 1; i >= 0; i--) if (refs.includes(list[i]![0])) list.splice(i, 1)
    }
  }

  // -- channels

  /**
   * A channel for `topic`, joined with `params` (an object, or a function called on each join).
   * `socket.channel<RoomContract>(topic, params)` types its pushes, events and join reply.
   */
  channel<C = AnyContract>(topic: string, params: JoinParams<C> | (() => JoinParams<C>) = {} as JoinParams<C>): Channel<C> {
    const channel = new Channel<C>(topic, params as PayloadSource, this)
    this.channels.push(channel)
    return channel
  }

  /** @internal A closed channel leaves the socket. */
  remove(channel: Channel<any>): void {
    this.channels = this.channels.filter((c) => c !== channel)
  }

  /** @internal Joining a topic twice on one socket would make the server replace the first: leave it. */
  leaveOpenTopic(topic: string, joining: Channel<any>): void {
    for (const channel of this.channels) {
      if (channel !== joining && channel.topic === topic && (channel.state === 'joined' || channel.state === 'joining')) {
        this.log('channel', `leaving duplicate topic "${topic}"`)
        channel.leave()
      }
    }
  }

  // -- frames

  /** @internal Writes a frame now; false (and the frame is dropped) when the socket is not open. */
  push(message: Message): boolean {
    if (!this.isConnected()) {
      this.log('push', `dropped, socket not open: ${message.topic} ${message.event}`, message.payload)
      return false
    }
    this.log('push', `${message.topic} ${message.event} (${message.join_ref}, ${message.ref})`, message.payload)
    const payload = message.payload
    // Bytes: a binary push on the phoenix wire; encode() writes their JSON form otherwise.
    this.conn!.send((this.dialect.binary && isBytes(payload) ? encodeBinaryPush(message, bytesOf(payload)) : undefined) ?? encode(message))
    return true
  }

  /** A ref unique on this socket. */
  makeRef(): string {
    this.ref = this.ref >= Number.MAX_SAFE_INTEGER ? 1 : this.ref + 1
    return String(this.ref)
  }

  /** @internal */
  log(kind: string, msg: string, data?: unknown): void {
    this.logger?.(kind, msg, data)
  }

  hasLogger(): boolean {
    return this.logger !== undefined
  }

  // -- transport events

  private onConnOpen(): void {
    this.log('transport', this.conn instanceof LongPoll ? 'connected (long-poll)' : 'connected')
    this.reconnectTimer.reset()
    this.resetHeartbeat()
    if (this.conn instanceof LongPoll) this.fallback?.longPollOpened()
    else
      this.fallback?.open((answered) =>
        this.ping(() => {
          this.log('transport', 'the WebSocket answered a heartbeat: no long-poll fallback')
          answered()
        }),
      )
    for (const [, callback] of this.callbacks.open.slice()) callback()
    for (const channel of this.channels.slice()) channel.onSocketOpen()
  }

  private onConnError(error: unknown): void {
    this.log('transport', 'error', error)
    for (const [, callback] of this.callbacks.error.slice()) callback(error)
    this.fallback?.failed('the WebSocket failed')
  }

  private onConnMessage(event: { data: unknown }): void {
    let message: Message
    try {
      message = decode(event.data, this.dialect.binary)
    } catch (err) {
      this.log('receive', `dropped malformed frame: ${(err as Error).message}`, event.data)
      return
    }
    const { topic, ref } = message
    if (topic === this.dialect.heartbeatTopic && ref !== null && ref === this.pingRef) {
      this.pingRef = null
      this.pingAnswered?.()
      return
    }
    if (topic === this.dialect.heartbeatTopic && ref !== null && ref === this.pendingHeartbeatRef) {
      this.resetHeartbeat()
      return
    }
    this.log('receive', `${message.payload?.status ?? ''} ${topic} ${message.event}${ref ? ` (${ref})` : ''}`, message.payload)
    for (const channel of this.channels.slice()) {
      if (channel.topic === topic) channel.handleMessage(message)
    }
    for (const [, callback] of this.callbacks.message.slice()) callback(message)
  }

  private onConnClose(event: CloseInfo): void {
    // A WebSocket that closes before it opens is a failed attempt: the fallback, if on, takes over.
    if (this.fallback?.pending) return this.fallback.failed(`the WebSocket closed (${event.code})`)
    this.connectionEnded({ code: event.code, reason: event.reason, wasClean: event.wasClean })
  }

  /**
   * Gives up the current connection: closes it and handles the close now, without waiting for
   * the transport's close event, which a dead network may deliver only after minutes. Its
   * late events are ignored (they come from a connection that is no longer `this.conn`).
   */
  private abandon(code: number, reason: string, wasClean: boolean): void {
    const conn = this.conn
    if (conn === null) return
    try {
      conn.close(code, reason)
    } catch (err) {
      this.log('transport', 'close failed', err)
    }
    this.connectionEnded({ code, reason, wasClean })
  }

  private connectionEnded(event: CloseInfo): void {
    this.log('transport', `closed (${event.code}${event.reason ? ` ${event.reason}` : ''})`, event)
    this.conn = null
    this.stopHeartbeat()
    for (const channel of this.channels.slice()) channel.onSocketClose()
    if (!this.closedByUser) {
      const restart = (event.code === 1001 || event.code === 1012) && this.restartWindowMs > 0
      const delay = restart ? this.reconnectTimer.scheduleIn(Math.random() * this.restartWindowMs) : this.reconnectTimer.scheduleTimeout()
      this.log('transport', `reconnecting in ${Math.round(delay)} ms`)
    }
    for (const [, callback] of this.callbacks.close.slice()) callback(event)
  }

  private reconnect(): void {
    if (this.conn !== null || this.closedByUser) return
    try {
      this.connect()
    } catch (err) {
      // e.g. a params function that threw: report it and try again later.
      this.log('transport', 'reconnect failed', err)
      for (const [, callback] of this.callbacks.error.slice()) callback(err)
      this.reconnectTimer.scheduleTimeout()
    }
  }

  // -- heartbeat

  private resetHeartbeat(): void {
    this.stopHeartbeat()
    if (this.heartbeatIntervalMs > 0) {
      this.heartbeatTimer = setTimeout(() => this.sendHeartbeat(), this.heartbeatIntervalMs)
    }
  }

  private stopHeartbeat(): void {
    clearTimeout(this.heartbeatTimer)
    clearTimeout(this.heartbeatTimeoutTimer)
    this.heartbeatTimer = this.heartbeatTimeoutTimer = undefined
    this.pendingHeartbeatRef = null
  }

  /** A heartbeat now, outside the heartbeat cycle: `answered` runs when its reply comes. */
  private ping(answered: () => void): void {
    this.pingRef = this.makeRef()
    this.pingAnswered = answered
    this.push({ join_ref: null, ref: this.pingRef, topic: this.dialect.heartbeatTopic, event: HEARTBEAT_EVENT, payload: {} })
  }

  private sendHeartbeat(): void {
    if (!this.isConnected()) return
    this.pendingHeartbeatRef = this.makeRef()
    this.push({ join_ref: null, ref: this.pendingHeartbeatRef, topic: this.dialect.heartbeatTopic, event: HEARTBEAT_EVENT, payload: {} })
    this.heartbeatTimeoutTimer = setTimeout(() => this.heartbeatTimedOut(), this.heartbeatIntervalMs)
  }

  private heartbeatTimedOut(): void {
    this.log('transport', 'heartbeat timeout: the connection is presumed dead, reconnecting')
    this.abandon(CLOSE_HEARTBEAT_TIMEOUT, 'heartbeat timeout', false)
  }

  private addCallback<K extends keyof Callbacks>(kind: K, callback: Callbacks[K][number][1]): string {
    const ref = this.makeRef()
    ;(this.callbacks[kind] as Array<[string, unknown]>).push([ref, callback])
    return ref
  }
}
