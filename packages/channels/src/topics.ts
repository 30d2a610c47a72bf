/**
 * The owner of topics: who is subscribed to what on this node, broadcast (local fan-out and the
 * cluster), and the delivery of broadcasts from other nodes. Fan-out is the hot path: a message
 * is serialized once per wire (OutboundMessage) and the same bytes go to every subscriber;
 * frames written to one socket within an event-loop turn leave in one write (corked per turn).
 */
import type { Backpressure, FramePolicy } from './backpressure.js'
import { CLUSTER_PROTOCOL, type BroadcastMessage } from './cluster.js'
import type { Ref, Wire } from './dialect.js'
import { SharedDelivery } from './history/shared-delivery.js'
import type { TopicHistory } from './history/topic-history.js'
import type { Logger } from './logger.js'
import type { HistoryOptions, HistoryRequest } from './history/types.js'
import type { HubStats } from './stats.js'
import { OutboundMessage } from './message.js'
import { PresenceFanout } from './presence-fanout.js'
import type { PresenceMode } from './presence/modes.js'
import { binaryPayloadOf } from './binary-payload.js'
import type { PubSubAdapter } from './pubsub.js'

/** A socket's writing side, as fan-out sees it. */
export interface Outlet {
  readonly id: string
  readonly wire: Wire
  /** A frame; past the socket's bound `policy` applies (backpressure.ts; default: the hub's slowConsumer). */
  writeFrame(frame: Buffer, policy?: FramePolicy, topic?: string): void
  /** A presence_state in parts. */
  writeParts(parts: readonly Buffer[]): void
  send(joinRef: Ref, ref: Ref, topic: string, event: string, payload: unknown): void
  uncork(): void
}

/** A joined channel: one socket on one topic. */
export interface Subscriber {
  readonly topic: string
  readonly joinRef: Ref
  readonly conn: Outlet
  /** What its channel pattern's broadcasts do for a socket over its bound. */
  readonly backpressure: Backpressure
  /** What its channel pattern's members are sent of the topic's presence (presence/modes.ts). */
  readonly presence: PresenceMode
  /** What the join asked of the topic's history (`hb_position`, `hb_recent`). */
  readonly historyRequest?: HistoryRequest | undefined
  subscribed: boolean
  /** While its join reads a shared history: the live messages that wait (see SharedDelivery). */
  pending: OutboundMessage[] | undefined
}

/** What a broadcast comes to: its position in the topic's history (null: none kept), or why it failed. */
export type BroadcastResult = { ok: true; position: string | null } | { ok: false; reason: string }

/** A topic with local subscribers. */
interface TopicEntry {
  readonly subscribers: Set<Subscriber>
  /** Its channel pattern's history setting, looked up once. */
  readonly history: HistoryOptions | false
  /** Its channel pattern's backpressure, for its broadcasts. */
  readonly backpressure: Backpressure
}

/** What the registry needs of presence: a subscriber gets presence_state (or presence_count) as it subscribes. */
export interface PresenceFeed {
  unsubscribed(topic: string): void
  joinFrame(subscriber: Subscriber): Buffer[]
}

export class TopicRegistry {
  private readonly topics = new Map<string, TopicEntry>()
  /**
   * Topics with history that lost their last subscriber, and until when this node stays
   * subscribed to them on the adapter: other nodes' broadcasts keep reaching its history, so a
   * client that comes back within the history's age can resume here.
   */
  private readonly lingering = new Map<string, number>()
  private readonly uncorkQueue: Outlet[] = []
  private readonly presenceFanout = new PresenceFanout()
  private readonly sweeper: NodeJS.Timeout
  /** Set when the adapter offers a history shared by the cluster (Redis): positions come from it. */
  private readonly shared: SharedDelivery | undefined

  constructor(
    private readonly nodeId: string,
    private readonly adapter: PubSubAdapter,
    private readonly presence: PresenceFeed,
    private readonly history: TopicHistory,
    sweepMs: number,
    private readonly logger: Logger,
  ) {
    this.sweeper = setInterval(() => this.sweep(), sweepMs)
    this.sweeper.unref()
    if (adapter.history !== undefined) {
      this.shared = new SharedDelivery(adapter.history, {
        logger,
        counters: history.counters,
        write: (topic, message, exclude) => this.deliverLocal(topic, message, exclude),
        lost: (topic, notice) => {
          for (const subscriber of this.topics.get(topic)?.subscribers ?? []) {
            subscriber.conn.send(subscriber.joinRef, null, topic, 'hb_history', { ...notice, connection: subscriber.conn.id })
          }
        },
        subscribed: (topic) => adapter.whenSubscribed?.(`topic:${topic}`) ?? Promise.resolve(),
      })
    }
  }

  /** Local subscribers of `topic`. */
  subscriberCount(topic: string): number {
    return this.topics.get(topic)?.subscribers.size ?? 0
  }

  /** The local subscribers of `topic`. */
  subscribersOf(topic: string): Iterable<Subscriber> {
    return this.topics.get(topic)?.subscribers ?? []
  }

  has(topic: string): boolean {
    return this.topics.has(topic)
  }

  // -- broadcast

  /** Delivers to the local subscribers of `topic` (but `exclude`), then to the other nodes. */
  /**
   * Returns the message's position in the topic's history, or null when the topic keeps none;
   * with a shared history, the promise of it (the store assigns it, and publishes the message).
   */
  broadcast(topic: string, event: string, payload: unknown, exclude: string | undefined): BroadcastResult | Promise<BroadcastResult> {
    if (typeof topic !== 'string' || topic.length === 0) throw new TypeError('topic must be a non-empty string')
    if (typeof event !== 'string' || event.length === 0) throw new TypeError('event must be a non-empty string')
    // Bytes are copied (they may be framed after this returns) and travel as a BinaryPayload,
    // which is its `{hb_binary}` form to JSON: for other nodes and a shared history alike.
    payload = binaryPayloadOf(payload, true) ?? payload
    if (this.shared !== undefined) {
      const history = this.topics.get(topic)?.history ?? this.history.policyFor(topic)
      // Delivered here (and everywhere) once the store has given it its position, never without.
      if (history !== false) {
        const appended = this.shared.engine.append(topic, exclude === undefined ? { event, payload } : { event, payload, exclude }, history)
        return appended.then((position) => ({ ok: true, position }), (err) => this.failed(topic, err))
      }
    }
    const position = this.take(topic, new OutboundMessage(topic, event, payload), exclude)
    const message: BroadcastMessage = { v: CLUSTER_PROTOCOL, kind: 'broadcast', node: this.nodeId, topic, event, payload }
    if (exclude !== undefined) message.exclude = exclude
    this.adapter.publish(`topic:${topic}`, message)
    return { ok: true, position }
  }

  private failedSince = 0
  private failedLogged = 0

  /** A broadcast the shared history could not take: counted, logged (at most every 10 s), reported. */
  private failed(topic: string, err: unknown): BroadcastResult {
    this.history.counters.broadcastsFailed++
    const now = Date.now()
    if (now - this.failedLogged > 10_000) {
      this.logger.warn({ err, topic, failedSinceLastLog: this.history.counters.broadcastsFailed - this.failedSince }, 'broadcast failed: the shared history could not give it a position; it was not delivered')
      this.failedLogged = now
      this.failedSince = this.history.counters.broadcastsFailed
    }
    return { ok: false, reason: err instanceof Error ? err.message : String(err) }
  }

  /** A broadcast from another node (or, with a shared history, from the store, this node's own too). */
  receive(message: BroadcastMessage): void {
    if (message.position !== undefined && this.shared !== undefined) {
      const history = this.topics.get(message.topic)?.history ?? this.history.policyFor(message.topic)
      if (history !== false) return this.shared.receive(message as BroadcastMessage & { position: string }, history)
    }
    this.take(message.topic, new OutboundMessage(message.topic, message.event, message.payload), message.exclude)
  }

  /** Into the topic's history (it gets its position there), then to the local subscribers. */
  private take(topic: string, message: OutboundMessage, exclude: string | undefined): Ref {
    const entry = this.topics.get(topic)
    const history = entry !== undefined ? entry.history : this.history.policyFor(topic)
    if (history !== false) this.history.append(topic, history, message, exclude)
    if (entry !== undefined) this.write(entry.subscribers, message, exclude, entry.backpressure)
    return message.ref
  }

  /** Writes one message to every local subscriber of `topic`: one serialization per wire. */
  deliverLocal(topic: string, message: OutboundMessage, exclude: string | undefined): void {
    const entry = this.topics.get(topic)
    if (entry !== undefined) this.write(entry.subscribers, message, exclude, entry.backpressure)
  }

  /** A presence_diff to every local subscriber of `topic`: never dropped nor conflated; big rooms in chunks. */
  deliverPresence(topic: string, message: OutboundMessage): void {
    const entry = this.topics.get(topic)
    if (entry !== undefined) this.presenceFanout.deliver(topic, entry.subscribers, message)
  }

  private write(subscribers: Set<Subscriber>, message: OutboundMessage, exclude: string | undefined, policy: FramePolicy): void {
    const topic = message.topic
    for (const subscriber of subscribers) {
      const conn = subscriber.conn
      if (conn.id === exclude) continue
      if (subscriber.pending === undefined) conn.writeFrame(message.frameFor(conn.wire), policy, topic)
      else subscriber.pending.push(message)
    }
  }

  /** Frames written this turn leave in one write per socket, after the turn. */
  scheduleUncork(conn: Outlet): void {
    if (this.uncorkQueue.push(conn) === 1) setImmediate(() => this.uncorkAll())
  }

  uncorkAll(): void {
    const queue = this.uncorkQueue
    for (let i = 0; i < queue.length; i++) queue[i]!.uncork()
    queue.length = 0
  }

  // -- subscriptions

  /**
   * A channel joined: it gets the topic's broadcasts, starting with presence_state, then what it
   * missed (or asked for) from the history and `hb_history`. All in one step: no broadcast or
   * presence_diff can fall between them.
   */
  subscribe(subscriber: Subscriber): void {
    const topic = subscriber.topic
    let entry = this.topics.get(topic)
    if (entry === undefined) {
      this.topics.set(topic, (entry = { subscribers: new Set(), history: this.history.policyFor(topic), backpressure: subscriber.backpressure }))
      if (!this.lingering.delete(topic)) this.adapter.subscribe(`topic:${topic}`)
    }
    const shared = this.shared !== undefined && entry.history !== false
    // With a shared history the join reads the store first; live messages wait for it.
    if (shared) subscriber.pending = []
    entry.subscribers.add(subscriber)
    subscriber.subscribed = true
    subscriber.conn.writeParts(this.presence.joinFrame(subscriber))
    if (shared) void this.shared!.joined(subscriber, entry.history as HistoryOptions)
    else this.history.joined(subscriber, entry.history)
  }

  unsubscribe(subscriber: Subscriber): void {
    const topic = subscriber.topic
    const entry = this.topics.get(topic)
    subscriber.subscribed = false
    if (entry === undefined || !entry.subscribers.delete(subscriber) || entry.subscribers.size > 0) return
    this.topics.delete(topic)
    this.presence.unsubscribed(topic)
    // A node-local history must keep hearing the topic to stay whole; a shared one need not.
    if (entry.history !== false && this.shared === undefined) return void this.lingering.set(topic, Date.now() + entry.history.ttlMs)
    this.adapter.unsubscribe(`topic:${topic}`)
    this.shared?.forget(topic)
  }

  /** After the adapter reconnects: subscribe again to every topic served here. */
  resubscribe(): void {
    for (const topic of this.topics.keys()) this.adapter.subscribe(`topic:${topic}`)
    for (const topic of this.lingering.keys()) this.adapter.subscribe(`topic:${topic}`)
  }

  /**
   * Expired history goes; a topic that lingered its history's age leaves the adapter, and its
   * history is forgotten (it stopped hearing other nodes' broadcasts: a new epoch next time).
   */
  private sweep(): void {
    const now = Date.now()
    for (const [topic, until] of this.lingering) {
      if (until > now) continue
      this.lingering.delete(topic)
      this.adapter.unsubscribe(`topic:${topic}`)
      this.history.engine.forget(topic)
    }
    this.history.engine.sweep((topic) => this.topics.has(topic) || this.lingering.has(topic))
  }

  stop(): void {
    clearInterval(this.sweeper)
  }

  historyStats(): HubStats['history'] {
    return { ...this.history.engine.stats(), topicBytes: this.history.engine.bytesByTopic() }
  }

  /** Subscribers per topic, and in all. */
  counts(): { topics: Record<string, number>; channels: number } {
    const topics: Record<string, number> = {}
    let channels = 0
    for (const [topic, entry] of this.topics) {
      topics[topic] = entry.subscribers.size
      channels += entry.subscribers.size
    }
    return { topics, channels }
  }
}
