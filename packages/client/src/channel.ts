import type { ChannelState } from './constants.js'
import { DIALECTS, type Dialect } from './dialect.js'
import { Push, type PayloadSource, type PushHost } from './push.js'
import type { Message, Ref } from './serializer.js'
import { Timer, type Backoff } from './timer.js'
import { Bindings, type BindingCallback } from './bindings.js'
import { HistoryCursor, type HistoryNotice, type RecoverInfo } from './cursor.js'
import type { AnyContract, ChannelEvent, InEvent, InPayload, InReply, JoinReply, OutEvent, OutPayload, PushArgs } from './contract.js'

export type { BindingCallback } from './bindings.js'

/** The event the server sends after every join of a topic with its history position. */
const HISTORY_EVENT = 'hb_history'

/** What a channel needs of its socket: `Socket` is one. */
export interface ChannelSocket {
  readonly timeout: number
  readonly rejoinAfterMs: Backoff
  readonly jitter: number
  /** The wire dialect (its event names); the hornbeam dialect when absent. */
  readonly dialect?: Dialect
  isConnected(): boolean
  makeRef(): string
  push(message: Message): boolean
  log(kind: string, msg: string, data?: unknown): void
  /** The channel closed: the socket forgets it. */
  remove(channel: Channel<any>): void
  /** Leaves another channel of the socket on `topic` before `joining` joins it. */
  leaveOpenTopic(topic: string, joining: Channel<any>): void
}

const CHANNEL_CLOSED = { reason: 'channel closed' }

/**
 * One topic on a socket: `socket.channel('room:lobby', { username })`.
 *
 *   closed ──join()──▶ joining ──ok──▶ joined
 *                        │  ▲            │ hb_error, socket closed
 *       refused, timeout │  │ rejoin     ▼
 *                        └─▶ errored ◀───┘
 *   joined ──hb_close──▶ closed          any ──leave()──▶ leaving ──▶ closed
 *
 * A timed-out join is retried with the socket's `rejoinAfterMs` backoff; a channel that broke
 * (hb_error, or its socket closed) rejoins on its own, at once when the socket reopens. A join
 * the server refused is not asked again on the same connection (the same params would get the
 * same answer); the next connection tries again, or call rejoin(). Pushes made before the
 * channel joined wait in a buffer and go out, in order, once it has; each keeps its own timeout.
 * With a contract `C` (`socket.channel<RoomContract>(...)`), push, on and the join are typed.
 */
export class Channel<C = AnyContract> implements PushHost {
  private current: ChannelState = 'closed'
  /** The default timeout of this channel's pushes, in ms (the socket's unless join() was given one). */
  timeout: number
  /** @internal The join push, resent with a new ref by every rejoin. */
  readonly joinPush: Push<JoinReply<C>>
  private readonly bindings = new Bindings()
  private joinedOnce = false
  private pushBuffer: Push[] = []
  /** Pushes sent and not answered yet, by ref. */
  private readonly replies = new Map<string, Push>()
  private leavePush: Push | undefined
  private readonly rejoinTimer: Timer
  private readonly cursor = new HistoryCursor()
  private readonly recoverCallbacks: Array<(info: RecoverInfo) => void> = []
  /** The socket's dialect's system event names (hb_join or phx_join, ...). */
  private readonly events: Dialect['events']

  constructor(
    /** The channel's topic, such as `room:lobby`. */
    readonly topic: string,
    params: PayloadSource,
    /** The socket the channel runs on. */
    readonly socket: ChannelSocket,
  ) {
    this.timeout = socket.timeout
    this.events = (socket.dialect ?? DIALECTS.hornbeam).events
    // Every join after the first carries the last position seen: the server replays what was missed.
    const joinParams = () => ({ ...(typeof params === 'function' ? params() : params), ...this.cursor.joinParams() })
    this.joinPush = new Push(this, this.events.join, joinParams, this.timeout)
    // Registered before any caller's callbacks, so the state is right when theirs run.
    this.joinPush
      .receive('ok', () => this.joinAccepted())
      .receive('error', (response) => this.joinRefused(response))
      .receive('timeout', () => this.joinTimedOut())
    this.rejoinTimer = new Timer(
      () => {
        if (this.socket.isConnected()) this.rejoin()
      },
      socket.rejoinAfterMs,
      socket.jitter,
    )
  }

  // -- public API

  /** Where the channel is in its life: see the diagram above. */
  get state(): ChannelState {
    return this.current
  }

  /** The position of the last broadcast delivered on this channel (what a rejoin resumes from). */
  get position(): string | undefined {
    return this.cursor.position
  }

  /**
   * After each rejoin that resumed from a position (a reconnect, an hb_error): `recovered` says
   * whether every message missed meanwhile was delivered (before the callback). When it is false,
   * something was lost for good (too old, history restarted or off): refetch the state.
   */
  onRecover(callback: (info: RecoverInfo) => void): this {
    this.recoverCallbacks.push(callback)
    return this
  }

  isClosed(): boolean {
    return this.current === 'closed'
  }

  isErrored(): boolean {
    return this.current === 'errored'
  }

  isJoined(): boolean {
    return this.current === 'joined'
  }

  isJoining(): boolean {
    return this.current === 'joining'
  }

  isLeaving(): boolean {
    return this.current === 'leaving'
  }

  /**
   * Joins the topic with the channel's params and returns the join push: chain
   * `.receive('ok' | 'error' | 'timeout', callback)`. The join is sent when the socket is open;
   * its timeout runs from now. A channel joins once; rejoins after failures are automatic.
   */
  join(timeout: number = this.timeout): Push<JoinReply<C>> {
    if (this.joinedOnce) {
      throw new Error(`tried to join "${this.topic}" twice: a channel joins once (create another with socket.channel())`)
    }
    this.joinedOnce = true
    this.timeout = timeout
    this.startJoin(timeout)
    return this.joinPush
  }

  /**
   * Sends `event` with `payload` and returns the push: chain `.receive(...)`. Before the channel
   * has joined (or while the socket is down) the push waits in a buffer, under its own timeout.
   * On a channel that left or was closed it fails at once with `error` `{reason: 'channel closed'}`.
   */
  push<E extends InEvent<C>>(event: E, ...args: PushArgs<InPayload<C, E>>): Push<InReply<C, E>>
  push(event: string, payload: any = {}, timeout: number = this.timeout): Push<any> {
    if (!this.joinedOnce) {
      throw new Error(`tried to push "${event}" to "${this.topic}" before joining: call channel.join() first`)
    }
    const push = new Push(this, event, payload, timeout)
    if (this.state === 'closed' || this.state === 'leaving') {
      push.trigger('error', CHANNEL_CLOSED)
    } else if (this.canPush()) {
      push.send()
    } else {
      push.startTimeout()
      this.pushBuffer.push(push)
    }
    return push
  }

  /**
   * Leaves the topic. The returned push ends `ok` when the server confirms (at once when the
   * socket is down); the channel is then closed and its onClose callbacks run. Buffered pushes
   * fail with `error` `{reason: 'channel closed'}`.
   */
  leave(timeout: number = this.timeout): Push {
    if (this.state === 'leaving' && this.leavePush) return this.leavePush
    const wasLive = (this.state === 'joined' || this.state === 'joining') && this.joinPush.ref !== null
    this.rejoinTimer.reset()
    this.joinPush.cancelTimeout()
    this.current = 'leaving'
    this.failBuffered()
    const leavePush = new Push(this, this.events.leave, {}, timeout)
    this.leavePush = leavePush
    const finish = () => this.closeChannel({ reason: 'leave' })
    leavePush.receive('ok', finish).receive('error', finish).receive('timeout', finish)
    if (wasLive && this.socket.isConnected()) leavePush.send()
    else leavePush.trigger('ok', {})
    return leavePush
  }

  /** Calls `callback(payload, ref, joinRef)` for each `event` the server sends. Returns a ref for off(). */
  on<E extends OutEvent<C> | ChannelEvent>(event: E, callback: BindingCallback<OutPayload<C, E>>): number {
    return this.bindings.on(event, callback)
  }

  /** Removes the callback `ref` of `event`, or all of the event's callbacks without a ref. */
  off(event: OutEvent<C> | ChannelEvent, ref?: number): void {
    this.bindings.off(event, ref)
  }

  /** Calls `callback(payload)` when the channel closes: left, or closed by the server. */
  onClose(callback: BindingCallback): number {
    return this.bindings.on(this.events.close, callback)
  }

  /** Calls `callback(reason)` when the channel breaks (the server's hb_error, or the socket closed); a rejoin follows. */
  onError(callback: BindingCallback): number {
    return this.bindings.on(this.events.error, callback)
  }

  /** The ref of the current join: frames of older joins carry another and are stale. */
  joinRef(): Ref {
    return this.joinPush.ref
  }

  /** True when a push would go out now (socket open, channel joined). */
  canPush(): boolean {
    return this.socket.isConnected() && this.state === 'joined'
  }

  /** Joins again now, with a fresh ref: for a join the server refused and might accept now. */
  rejoin(timeout: number = this.timeout): void {
    if (this.state === 'leaving' || this.state === 'closed') return
    this.rejoinTimer.clear()
    this.startJoin(timeout)
  }

  // -- the socket's side

  /** @internal A frame for this topic. */
  handleMessage(message: Message): void {
    const { event, payload, ref } = message
    if (this.isStale(message)) {
      this.socket.log('channel', `dropped stale ${event} on ${this.topic} (join_ref ${message.join_ref}, current ${this.joinRef()})`, payload)
      return
    }
    switch (event) {
      case this.events.reply: {
        const push = ref === null ? undefined : this.replies.get(ref)
        push?.trigger(payload?.status, payload?.response)
        return
      }
      case this.events.close:
        return this.closeChannel(payload)
      case this.events.error:
        return this.fail(payload)
      case HISTORY_EVENT: {
        const info = this.cursor.noticed(payload as HistoryNotice)
        if (info !== undefined) for (const callback of this.recoverCallbacks.slice()) callback(info)
        return this.trigger(event, payload, ref, message.join_ref)
      }
      default:
        // A broadcast carries its position: one the channel delivered already is a duplicate. A
        // binary one carries none: the cursor counts those (see HistoryCursor).
        if (!this.cursor.deliver(ref, message.join_ref === null && payload instanceof Uint8Array)) {
          this.socket.log('channel', `dropped duplicate ${event} on ${this.topic}${ref === null ? '' : ` at ${ref}`}`, payload)
          return
        }
        return this.trigger(event, payload, ref, message.join_ref)
    }
  }

  /** @internal The socket (re)opened. */
  onSocketOpen(): void {
    this.rejoinTimer.reset()
    if (this.state === 'errored') this.rejoin()
    else if (this.state === 'joining' && this.joinPush.ref === null) this.joinPush.send()
  }

  /** @internal The socket closed: the server has dropped this channel. */
  onSocketClose(): void {
    this.rejoinTimer.reset()
    if (this.state === 'joining' && this.joinPush.ref === null) return // still waiting for a socket
    this.fail({ reason: 'socket closed' })
  }

  /** @internal */
  makeRef(): string {
    return this.socket.makeRef()
  }

  /** @internal */
  sendFrame(message: Message): boolean {
    return this.socket.push(message)
  }

  /** @internal */
  awaitReply(ref: string, push: Push): void {
    this.replies.set(ref, push)
  }

  /** @internal */
  forget(push: Push): void {
    if (push.ref !== null && this.replies.get(push.ref) === push) this.replies.delete(push.ref)
    const i = this.pushBuffer.indexOf(push)
    if (i >= 0) this.pushBuffer.splice(i, 1)
  }

  // -- state machine

  /**
   * Lifecycle frames (a join's reply, hb_close, hb_error) of an earlier join are stale: after a
   * timed-out join the server replaces the old channel and says hb_close with the old join_ref,
   * which must not close the new one. Other events and push replies are not tied to a join.
   */
  private isStale({ join_ref, ref, event }: Message): boolean {
    if (join_ref === null || join_ref === this.joinRef()) return false
    return event === this.events.close || event === this.events.error || (event === this.events.reply && ref === join_ref)
  }

  private startJoin(timeout: number): void {
    this.socket.leaveOpenTopic(this.topic, this)
    this.current = 'joining'
    this.joinPush.reset()
    this.joinPush.timeout = timeout
    if (this.socket.isConnected()) this.joinPush.send()
    else this.joinPush.startTimeout() // the frame goes out when the socket opens
  }

  private joinAccepted(): void {
    if (this.state !== 'joining') return // left meanwhile
    this.current = 'joined'
    this.rejoinTimer.reset()
    const buffered = this.pushBuffer
    this.pushBuffer = []
    for (const push of buffered) push.send()
  }

  private joinRefused(response: unknown): void {
    if (this.state !== 'joining') return
    this.current = 'errored'
    this.socket.log('channel', `join refused: ${this.topic}`, response)
  }

  private joinTimedOut(): void {
    if (this.state !== 'joining') return
    this.socket.log('channel', `join timed out: ${this.topic}`)
    // The server may still finish that join: ask it to drop it, so no channel (nor presence) of
    // ours stays there that this client does not follow. Sent before the reset: old join_ref.
    if (this.joinPush.ref !== null && this.socket.isConnected()) {
      new Push(this, this.events.leave, {}, this.timeout).send()
    }
    this.current = 'errored'
    this.joinPush.reset()
    if (this.socket.isConnected()) this.rejoinTimer.scheduleTimeout()
  }

  /** The channel broke: the server's hb_error, or the socket closed. */
  private fail(reason: unknown): void {
    if (this.state === 'leaving') return void this.leavePush?.trigger('ok', {}) // gone on the server too
    if (this.state !== 'joined' && this.state !== 'joining') return
    if (this.state === 'joining') this.joinPush.reset()
    this.current = 'errored'
    this.socket.log('channel', `error: ${this.topic}`, reason)
    if (this.socket.isConnected()) this.rejoinTimer.scheduleTimeout()
    this.trigger(this.events.error, reason, null, this.joinRef())
  }

  private closeChannel(payload: unknown): void {
    if (this.state === 'closed') return
    this.rejoinTimer.reset()
    this.joinPush.cancelTimeout()
    this.current = 'closed'
    this.failBuffered()
    this.socket.remove(this)
    this.socket.log('channel', `close: ${this.topic}`, payload)
    this.trigger(this.events.close, payload, null, this.joinRef())
  }

  private failBuffered(): void {
    const buffered = this.pushBuffer
    this.pushBuffer = []
    for (const push of buffered) push.trigger('error', CHANNEL_CLOSED)
  }

  private trigger(event: string, payload: unknown, ref: Ref, joinRef: Ref): void {
    this.bindings.trigger(event, payload, ref, joinRef)
  }
}
