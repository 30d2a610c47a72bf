/**
 * The owner of topics: who is subscribed to what on this node, broadcast (local fan-out and the
 * cluster), and the delivery of broadcasts from other nodes. Fan-out is the hot path: a message
 * is serialized once per wire (OutboundMessage) and the same bytes go to every subscriber;
 * frames written to one socket within an event-loop turn leave in one write (corked per turn).
 */
import { CLUSTER_PROTOCOL, type BroadcastMessage } from './cluster.js'
import type { Ref, Wire } from './dialect.js'
import { OutboundMessage } from './message.js'
import type { PubSubAdapter } from './pubsub.js'

/** A socket's writing side, as fan-out sees it. */
export interface Outlet {
  readonly id: string
  readonly wire: Wire
  writeFrame(frame: Buffer): void
  writeParts(parts: readonly Buffer[]): void
  uncork(): void
}

/** A joined channel: one socket on one topic. */
export interface Subscriber {
  readonly topic: string
  readonly joinRef: Ref
  readonly conn: Outlet
  subscribed: boolean
}

/** What the registry needs of presence: a subscriber gets presence_state as it subscribes. */
export interface PresenceFeed {
  subscribed(topic: string): void
  unsubscribed(topic: string): void
  stateFrame(topic: string, joinRef: Ref, wire: Wire): Buffer[]
}

export class TopicRegistry {
  private readonly topics = new Map<string, Set<Subscriber>>()
  private readonly uncorkQueue: Outlet[] = []

  constructor(
    private readonly nodeId: string,
    private readonly adapter: PubSubAdapter,
    private readonly presence: PresenceFeed,
  ) {}

  has(topic: string): boolean {
    return this.topics.has(topic)
  }

  // -- broadcast

  /** Delivers to the local subscribers of `topic` (but `exclude`), then to the other nodes. */
  broadcast(topic: string, event: string, payload: unknown, exclude: string | undefined): void {
    if (typeof topic !== 'string' || topic.length === 0) throw new TypeError('topic must be a non-empty string')
    if (typeof event !== 'string' || event.length === 0) throw new TypeError('event must be a non-empty string')
    this.deliverLocal(topic, new OutboundMessage(topic, event, payload), exclude)
    const message: BroadcastMessage = { v: CLUSTER_PROTOCOL, kind: 'broadcast', node: this.nodeId, topic, event, payload }
    if (exclude !== undefined) message.exclude = exclude
    this.adapter.publish(`topic:${topic}`, message)
  }

  /** A broadcast from another node. */
  receive(message: BroadcastMessage): void {
    this.deliverLocal(message.topic, new OutboundMessage(message.topic, message.event, message.payload), message.exclude)
  }

  /** Writes one message to every local subscriber of `topic`: one serialization per wire. */
  deliverLocal(topic: string, message: OutboundMessage, exclude: string | undefined): void {
    const subscribers = this.topics.get(topic)
    if (subscribers === undefined) return
    for (const subscriber of subscribers) {
      const conn = subscriber.conn
      if (conn.id !== exclude) conn.writeFrame(message.frameFor(conn.wire))
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

  /** A channel joined: it gets the topic's broadcasts, starting with presence_state. */
  subscribe(subscriber: Subscriber): void {
    let set = this.topics.get(subscriber.topic)
    if (set === undefined) {
      this.topics.set(subscriber.topic, (set = new Set()))
      this.adapter.subscribe(`topic:${subscriber.topic}`)
    }
    set.add(subscriber)
    subscriber.subscribed = true
    // In the same step as the subscription, so no presence_diff falls between them.
    this.presence.subscribed(subscriber.topic)
    subscriber.conn.writeParts(this.presence.stateFrame(subscriber.topic, subscriber.joinRef, subscriber.conn.wire))
  }

  unsubscribe(subscriber: Subscriber): void {
    const set = this.topics.get(subscriber.topic)
    subscriber.subscribed = false
    if (set === undefined || !set.delete(subscriber) || set.size > 0) return
    this.topics.delete(subscriber.topic)
    this.adapter.unsubscribe(`topic:${subscriber.topic}`)
    this.presence.unsubscribed(subscriber.topic)
  }

  /** After the adapter reconnects: subscribe again to every topic served here. */
  resubscribe(): void {
    for (const topic of this.topics.keys()) this.adapter.subscribe(`topic:${topic}`)
  }

  /** Subscribers per topic, and in all. */
  counts(): { topics: Record<string, number>; channels: number } {
    const topics: Record<string, number> = {}
    let channels = 0
    for (const [topic, set] of this.topics) {
      topics[topic] = set.size
      channels += set.size
    }
    return { topics, channels }
  }
}
