/**
 * The pub/sub adapter: how hubs on several nodes reach each other. Small on purpose, so Redis,
 * NATS or another engine fits behind it. The hub names three kinds of channel:
 * `topic:<topic>` (broadcasts, subscribed only while the node has subscribers on the topic),
 * `control` (presence deltas and heartbeats, disconnects) and `node:<id>` (messages for one
 * node, such as a presence state transfer). Delivery is at most once, in order per channel.
 */
import type { ClusterMessage } from './cluster.js'
import type { SharedHistory } from './history/engine.js'

export type { ClusterMessage } from './cluster.js'

export type DeliverFn = (channel: string, message: ClusterMessage) => void

export interface PubSubAdapter {
  /** Called once by the hub, with its node id (unique per boot) and where to deliver. */
  start(nodeId: string, deliver: DeliverFn): void | Promise<void>
  publish(channel: string, message: ClusterMessage): void
  subscribe(channel: string): void
  unsubscribe(channel: string): void
  close(): void | Promise<void>
  /**
   * Optional: the hub calls this after the adapter recovers from an outage (for example a
   * Redis reconnect), so presence can ask its peers for their full state.
   */
  onReconnect?(listener: () => void): void
  /**
   * Optional: a history all nodes share. With it, topics with history take their positions from
   * it and a client may resume on any node; without it, each node keeps its own in memory.
   */
  history?: SharedHistory
  /** Optional: resolves once messages on `channel` reach this node (the subscription is in place). */
  whenSubscribed?(channel: string): Promise<void>
}

/** An in-process message bus; hubs whose memory adapters share one form a cluster. */
export class MemoryBus {
  /** @internal */ readonly subscribers = new Map<string, Set<MemoryAdapter>>()
}

export class MemoryAdapter implements PubSubAdapter {
  private deliver: DeliverFn | undefined
  private readonly channels = new Set<string>()
  private severed = false

  constructor(readonly bus: MemoryBus = new MemoryBus()) {}

  start(_nodeId: string, deliver: DeliverFn): void {
    this.deliver = deliver
  }

  publish(channel: string, message: ClusterMessage): void {
    if (this.severed) return
    const subs = this.bus.subscribers.get(channel)
    if (subs === undefined) return
    for (const sub of subs) {
      // Asynchronous, like a network, and in order per channel (microtasks run FIFO).
      if (sub !== this) queueMicrotask(() => sub.receive(channel, message))
    }
  }

  private receive(channel: string, message: ClusterMessage): void {
    if (!this.severed && this.channels.has(channel)) this.deliver?.(channel, message)
  }

  subscribe(channel: string): void {
    if (this.channels.has(channel)) return
    this.channels.add(channel)
    if (!this.severed) this.join(channel)
  }

  unsubscribe(channel: string): void {
    if (this.channels.delete(channel)) this.part(channel)
  }

  private join(channel: string): void {
    let subs = this.bus.subscribers.get(channel)
    if (subs === undefined) this.bus.subscribers.set(channel, (subs = new Set()))
    subs.add(this)
  }

  private part(channel: string): void {
    const subs = this.bus.subscribers.get(channel)
    subs?.delete(this)
    if (subs?.size === 0) this.bus.subscribers.delete(channel)
  }

  /** The channels this adapter is subscribed to (for tests and stats). */
  subscriptions(): string[] {
    return [...this.channels]
  }

  /** Cuts this node off the bus without a goodbye, as a crash or a partition would. */
  sever(): void {
    this.severed = true
    for (const channel of this.channels) this.part(channel)
  }

  /** Ends a `sever()`: the node is back on the bus, as after a healed partition. */
  heal(): void {
    if (!this.severed) return
    this.severed = false
    for (const channel of this.channels) this.join(channel)
    for (const listener of this.reconnectListeners) listener()
  }

  private readonly reconnectListeners: Array<() => void> = []

  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener)
  }

  close(): void {
    for (const channel of this.channels) this.part(channel)
    this.channels.clear()
    this.deliver = undefined
  }
}

/** The default adapter: in-memory. Pass a shared `bus` to cluster hubs in one process. */
export function memoryAdapter(options: { bus?: MemoryBus } = {}): MemoryAdapter {
  return new MemoryAdapter(options.bus)
}
