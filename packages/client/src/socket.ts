import { Channel } from './channel.js'
import type { AnyContract, JoinParams } from './contract.js'
import {
  CLOSE_HEARTBEAT_TIMEOUT,
  CLOSE_NORMAL,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_JITTER,
  DEFAULT_RESTART_WINDOW_MS,
  DEFAULT_TIMEOUT_MS,
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
import { DIALECTS, type Dialect } from './dialect.js'
import { Heartbeat } from './heartbeat.js'
import { Timer, type Backoff } from './timer.js'
import type { CloseInfo, LogFunction, SocketOptions, WebSocketConstructor, WebSocketLike } from './socket-options.js'

export type { LogFunction, Logger, WebSocketLike, WebSocketConstructor, CloseInfo, SocketOptions } from './socket-options.js'

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
  private conn: WebSocketLike | null = null
  private ref = 0
  private readonly callbacks: Callbacks = { open: [], close: [], error: [], message: [] }
  private readonly reconnectTimer: Timer
  private readonly heartbeat: Heartbeat
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
    this.heartbeat = new Heartbeat(
      {
        topic: this.dialect.heartbeatTopic,
        isConnected: () => this.isConnected(),
        makeRef: () => this.makeRef(),
        push: (message) => this.push(message),
        timedOut: () => {
          this.log('transport', 'heartbeat timeout: the connection is presumed dead, reconnecting')
          this.abandon(CLOSE_HEARTBEAT_TIMEOUT, 'heartbeat timeout', false)
        },
      },
      this.heartbeatIntervalMs,
    )
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
    this.heartbeat.stop()
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
    this.heartbeat.reset()
    if (this.conn instanceof LongPoll) this.fallback?.longPollOpened()
    else
      this.fallback?.open((answered) =>
        this.heartbeat.ping(() => {
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
    if (this.heartbeat.answers(message)) return
    const { topic, ref } = message
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
    this.heartbeat.stop()
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

  private addCallback<K extends keyof Callbacks>(kind: K, callback: Callbacks[K][number][1]): string {
    const ref = this.makeRef()
    ;(this.callbacks[kind] as Array<[string, unknown]>).push([ref, callback])
    return ref
  }
}
