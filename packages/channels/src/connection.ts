import type { Socket as NetSocket } from 'node:net'
import type { RawData } from 'ws'
import { admit, forget, release, type Backlog, type DrainSource, type FramePolicy, type Lagging } from './backpressure.js'
import { ChannelInstance } from './channel-instance.js'
import type { LeaveReason } from './channel.js'
import type { ChannelConnection, ConnectionHost, TransportSocket } from './host.js'
import type { Encoding, InboundFrame, Ref, Wire } from './dialect.js'
import { framePayload, isBinaryFrame } from './frame.js'
import { decodeMessage, IGNORED } from './inbound.js'
import { frameForSocket, replyFrame } from './message.js'
import type { RateState } from './limits.js'
import type { Socket } from './socket.js'
import { fastPath, type ReceiverInternals, type WsInternals } from './ws-internals.js'

const CONNECTION = Symbol('hornbeam.connection')
type Owned = TransportSocket & { [CONNECTION]: Connection }

function onMessage(this: Owned, data: RawData, isBinary: boolean): void {
  this[CONNECTION].onMessage(data, isBinary)
}
function onClose(this: Owned): void {
  void this[CONNECTION].teardown()
}
function onError(this: Owned, err: Error): void {
  this[CONNECTION].host.logger.debug({ err, connection: this[CONNECTION].id }, 'socket error')
}

/**
 * One client WebSocket: decodes its frames, routes them to its channels, and writes frames to
 * it. Frames written in one event-loop turn are corked and leave in one write.
 */
export class Connection implements RateState, ChannelConnection, Lagging {
  readonly channels = new Map<string, ChannelInstance>()
  /** Per-connection state, shared by all channels of this connection (the seed's assigns). */
  assigns: Record<string, unknown>
  /** The name the `id` hook gave this connection, for `disconnect(id)`. */
  socketId: string | undefined
  /** The adapter that accepted it, when several share a hub (see Endpoint.closeOwned). */
  owner: object | undefined
  lastSeen = Date.now()
  /** Since when the connection has had no channel (Infinity while it has one), for unjoinedTimeoutMs. */
  unjoinedSince = this.lastSeen
  /** When the idle sweep first saw an incomplete frame pending (0: none), for frameTimeoutMs. */
  partialSince = 0
  closed = false
  // Rate limits (see Limits): plain fields, one set per socket.
  messageTokens: number
  messageAt: number
  joinTokens: number
  joinAt: number
  abuse = 0
  abuseAt = 0
  /** The last rejected message was answered: later ones are only counted until one is admitted. */
  rejectionAnswered = false
  private corked = false
  /** The broadcasts kept for it while it lags (backpressure.ts); undefined while it does not. */
  lag: Backlog | undefined = undefined
  /** Set when frames can bypass ws's sender; undefined means "use ws.send". */
  private readonly raw: NetSocket | undefined
  private readonly sender: { _state?: number } | undefined
  private readonly receiver: ReceiverInternals | undefined

  constructor(
    readonly host: ConnectionHost,
    readonly ws: TransportSocket,
    readonly wire: Wire,
    readonly id: string,
    assigns: Record<string, unknown>,
  ) {
    this.assigns = assigns
    // Full buckets to start with.
    this.messageTokens = host.options.messagesPerSecond
    this.joinTokens = host.options.joinsPerSecond
    this.messageAt = this.joinAt = this.lastSeen
    const fast = fastPath(ws)
    this.raw = fast?._socket
    this.sender = fast?._sender
    this.receiver = (ws as WsInternals)._receiver
    // Shared listeners (no closures per socket): ws calls them with itself as `this`.
    ;(ws as unknown as { [CONNECTION]: Connection })[CONNECTION] = this
    const owned = ws as unknown as { on(event: string, fn: (this: Owned, ...args: any[]) => void): void }
    owned.on('message', onMessage)
    owned.on('close', onClose)
    owned.on('error', onError)
  }

  // -- inbound

  /** @internal */
  onMessage(data: RawData, isBinary: boolean): void {
    const host = this.host
    this.lastSeen = Date.now()
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength
    host.counters.framesIn++
    host.counters.bytesIn += size
    if (this.closed) return
    // ws enforces maxPayload on our own server; a framework's ws server may allow more.
    if (size > host.options.maxPayload) {
      void this.close(1009, 'message too big')
      return
    }
    // Binary messages count against the rate and the abuse score like text ones.
    const limited = host.limits.admitMessage(this)
    if (limited === 'close') {
      void this.close(1008, 'message rate limit exceeded')
      return
    }
    if (limited === 'drop') return
    const decoded = decodeMessage(data, isBinary, this.wire)
    if (decoded === IGNORED) return void host.counters.binaryIgnored++
    if (!decoded.ok) {
      host.counters.malformed++
      host.logger.debug({ connection: this.id, reason: decoded.reason }, 'malformed frame')
      if (decoded.ref !== undefined && decoded.topic !== undefined) {
        this.replyError(decoded.joinRef ?? null, decoded.ref, decoded.topic, decoded.reason)
      }
      return
    }
    const frame = decoded.frame
    if (limited === 'reject') return this.replyError(frame.joinRef, frame.ref, frame.topic, 'rate limited', frame.encoding)
    // Before any routing or allocation: a long name would be kept for as long as it is joined.
    const tooLong = host.limits.checkNames(frame.topic, frame.event)
    if (tooLong !== undefined) {
      host.counters.malformed++
      return this.replyError(frame.joinRef, frame.ref, frame.topic, tooLong, frame.encoding)
    }
    this.dispatch(frame)
  }

  private dispatch(frame: InboundFrame): void {
    const dialect = this.wire.dialect
    if (frame.event === dialect.join) return this.join(frame)
    if (frame.event === 'heartbeat' && frame.topic === dialect.heartbeatTopic) {
      return this.writeFrame(frameForSocket(this.wire, frame.encoding, null, frame.ref, frame.topic, dialect.reply, { status: 'ok', response: {} }), 'reply')
    }
    const channel = this.channels.get(frame.topic)
    if (channel === undefined || (frame.joinRef !== null && frame.joinRef !== channel.joinRef)) {
      return this.replyError(frame.joinRef, frame.ref, frame.topic, 'unmatched topic', frame.encoding)
    }
    if (frame.event === dialect.leave) return channel.leave(frame)
    channel.handleEvent(frame)
  }

  private join(frame: InboundFrame): void {
    const route = this.host.route(frame.topic)
    if (route === undefined) return this.replyError(frame.joinRef, frame.ref, frame.topic, 'unmatched topic', frame.encoding)
    const previous = this.channels.get(frame.topic)
    const refusal = this.host.limits.admitJoin(this, previous !== undefined)
    if (refusal !== undefined) return this.replyError(frame.joinRef, frame.ref, frame.topic, refusal, frame.encoding)
    const joinRef = frame.joinRef ?? frame.ref
    // A second join replaces the first: its teardown (leave hook, untrack) runs before the join.
    const after = previous?.shutdown('rejoin', true)
    const channel = new ChannelInstance(this, frame.topic, joinRef, route.value, route.params)
    this.channels.set(frame.topic, channel)
    this.unjoinedSince = Infinity
    channel.join(frame, after)
  }

  /** A channel ended: it is no longer in the table. */
  channelRemoved(channel: ChannelInstance): void {
    if (this.channels.get(channel.topic) !== channel) return
    this.channels.delete(channel.topic)
    if (this.lag !== undefined) forget(this, channel.topic)
    if (this.channels.size === 0) this.unjoinedSince = Date.now()
  }

  /**
   * Since when (as first seen by the idle sweep) an incomplete frame has been pending, or
   * Infinity when none is: a frame trickled in slowly holds up to maxPayload for its whole life.
   */
  partialFrameSince(now: number): number {
    const r = this.receiver
    if (r === undefined || !((r._bufferedBytes ?? 0) > 0 || (r._totalPayloadLength ?? 0) > 0)) {
      this.partialSince = 0
      return Infinity
    }
    // First seen now, or a message completed since: a new frame started.
    if (this.partialSince === 0 || this.lastSeen > this.partialSince) this.partialSince = now
    return this.partialSince
  }

  /** Keeps the assigns of a socket a handler returned. */
  adopt(socket: Socket<any>): void {
    if (socket.id === this.id) this.assigns = socket.assigns as Record<string, unknown>
  }

  // -- outbound

  replyError(joinRef: Ref, ref: Ref, topic: string, reason: string, encoding: Encoding = this.wire.encoding): void {
    if (ref === null) return
    this.writeFrame(frameForSocket(this.wire, encoding, joinRef, ref, topic, this.wire.dialect.reply, { status: 'error', response: { reason } }), 'reply')
  }

  send(joinRef: Ref, ref: Ref, topic: string, event: string, payload: unknown, encoding: Encoding = this.wire.encoding): void {
    this.writeFrame(frameForSocket(this.wire, encoding, joinRef, ref, topic, event, payload))
  }

  /** Answers a push or join: `{status, response}`, or a binary reply when the response is bytes. */
  reply(joinRef: Ref, ref: string, topic: string, status: string, response: unknown, encoding: Encoding = this.wire.encoding): void {
    this.writeFrame(replyFrame(this.wire, encoding, joinRef, ref, topic, status, response), 'reply')
  }

  /**
   * Writes a frame built by textFrame or binaryFrame; past the socket's bound, `policy` says what
   * happens to it (backpressure.ts), and a `latest` one is kept as its topic's. The fan-out hot
   * path: keep it lean (one test while under the bound and not lagging).
   */
  writeFrame(frame: Buffer, policy: FramePolicy = this.host.options.slowConsumer, topic = ''): void {
    if (this.closed || this.ws.readyState !== 1) return
    const raw = this.raw
    const buffered = raw !== undefined ? raw.writableLength : this.ws.bufferedAmount
    // The frame about to be queued counts: one large frame must not carry a socket past the bound.
    if ((buffered + frame.length > this.host.options.maxBufferedBytes || this.lag !== undefined) && !admit(this, frame, frame.length, policy, topic)) return
    this.put(frame)
  }

  /** Writes one frame given in parts (a presence_state): shared parts are written, not copied. */
  writeParts(parts: readonly Buffer[]): void {
    if (this.closed || this.ws.readyState !== 1) return
    const raw = this.raw
    let length = 0
    for (const part of parts) length += part.length
    if ((this.buffered() + length > this.host.options.maxBufferedBytes || this.lag !== undefined) && !admit(this, undefined, length, 'presence', '')) return
    this.host.counters.framesOut++
    this.host.counters.bytesOut += length
    if (raw !== undefined && this.sender!._state === 0) {
      this.corkOnce(raw)
      for (const part of parts) raw.write(part)
    } else {
      this.ws.send(framePayload(Buffer.concat(parts as Buffer[], length)), { binary: false })
    }
  }

  /** Writes a frame now, counted, whatever the bound (backpressure.ts). */
  put(frame: Buffer): void {
    const stats = this.host.counters
    stats.framesOut++
    stats.bytesOut += frame.length
    const raw = this.raw
    // ws's sender is idle (no compression or blob in progress): the socket is ours to write.
    if (raw !== undefined && this.sender!._state === 0) {
      this.corkOnce(raw)
      raw.write(frame)
    } else {
      this.ws.send(framePayload(frame), { binary: isBinaryFrame(frame) })
    }
  }

  /** Bytes queued for the client. */
  buffered(): number {
    return this.raw !== undefined ? this.raw.writableLength : this.ws.bufferedAmount
  }

  /** What emits 'drain' once the queued bytes are gone: the TCP socket, or the session. */
  drainSource(): DrainSource {
    return (this.ws as unknown as WsInternals)._socket ?? (this.ws as unknown as DrainSource)
  }

  private corkOnce(raw: NetSocket): void {
    if (this.corked) return
    this.corked = true
    raw.cork()
    this.host.scheduleUncork(this)
  }

  uncork(): void {
    if (!this.corked) return
    this.corked = false
    this.raw!.uncork()
  }

  // -- closing

  /** Closes the WebSocket with `code` and ends every channel (leave hooks, untrack) now. */
  close(code: number, reason: string, leaveReason: LeaveReason = 'closed'): Promise<void> {
    if (this.ws.readyState === 0 || this.ws.readyState === 1) {
      this.uncork()
      this.ws.close(code, reason)
      // A peer that never answers the close frame must not hold the socket for ws's 30 s.
      setTimeout(() => this.ws.terminate(), 2000).unref()
    }
    return this.teardown(leaveReason)
  }

  private teardownDone: Promise<void> | undefined

  /** Ends every channel and the connection's presences. Idempotent. */
  teardown(reason: LeaveReason = 'closed'): Promise<void> {
    if (this.teardownDone) return this.teardownDone
    this.closed = true
    this.corked = false
    release(this)
    this.host.removeConnection(this)
    const ends = [...this.channels.values()].map((channel) => channel.shutdown(reason, false))
    this.teardownDone = Promise.all(ends).then(() => this.host.untrackOwner(this.id))
    return this.teardownDone
  }
}
