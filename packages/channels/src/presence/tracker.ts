import { HORNBEAM, JsonText, type Dialect, type Ref, type Wire } from '../dialect.js'
import type { Logger } from '../logger.js'
import { OutboundMessage } from '../message.js'
import type { ClusterMessage } from '../pubsub.js'
import { DiffBatcher, type Diff } from './diff-batch.js'
import { PresenceStateCache, presencesJson, renderMeta, renderPresences, type PresenceList } from './render.js'
import { PresenceState, refOf, type Change, type Delta, type Meta, type Partition, type PresenceEntry } from './state.js'

export interface PresenceOptions {
  /**
   * How long presence changes of a topic are gathered into one `presence_diff`. 0 sends them at
   * the end of the event-loop turn. A window turns a burst of N joins from O(N²) frames into
   * O(N) per window, at the price of that much latency: see the package README.
   */
  batchMs: number
  /** How often this node tells its peers it is alive (and its clock). */
  heartbeatMs: number
  /** A peer silent this long is down: its presences leave everywhere (until it returns). */
  downPeriodMs: number
  /** A peer down this long is forgotten. */
  permdownPeriodMs: number
}

export interface TrackerOptions extends PresenceOptions {
  /** The largest presence a socket may track: its key and meta as JSON, in bytes. */
  maxMetaBytes: number
}

export const defaultPresenceOptions: PresenceOptions = {
  batchMs: 50,
  heartbeatMs: 1000,
  downPeriodMs: 5000,
  permdownPeriodMs: 10 * 60 * 1000,
}

/** What the tracker needs from its hub. */
export interface TrackerHost {
  readonly nodeId: string
  readonly logger: Logger
  publish(channel: string, message: ClusterMessage): void
  hasSubscribers(topic: string): boolean
  deliverLocal(topic: string, message: OutboundMessage): void
}

interface Peer {
  lastSeen: number
  syncRequestedAt: number
}

/**
 * Presence for one node: the CRDT, the local index of who tracked what, the presence_diff
 * batching for local subscribers, and replication with the other nodes over the adapter.
 */
export class PresenceTracker {
  readonly state: PresenceState
  /** owner (connection id) → topic → key → entry: what local sockets tracked. */
  private readonly owned = new Map<string, Map<string, Map<string, PresenceEntry>>>()
  private readonly peers = new Map<string, Peer>()
  private readonly batcher: DiffBatcher
  private readonly stateCache: PresenceStateCache
  private deltaScheduled = false
  private heartbeat: NodeJS.Timeout | undefined
  private stopped = false

  constructor(private readonly host: TrackerHost, readonly options: TrackerOptions) {
    this.state = new PresenceState(host.nodeId)
    this.stateCache = new PresenceStateCache((topic) => this.state.entries(topic))
    this.batcher = new DiffBatcher(
      { hasSubscribers: (topic) => host.hasSubscribers(topic), deliver: (topic, diff) => this.deliverDiff(topic, diff), refOf },
      options.batchMs,
    )
  }

  start(): void {
    this.heartbeat = setInterval(() => this.tick(), this.options.heartbeatMs)
    this.heartbeat.unref()
    this.sendHeartbeat()
  }

  // -- local operations

  track(topic: string, owner: string, key: string, meta: Meta): string {
    const existing = this.owned.get(owner)?.get(topic)?.get(key)
    if (existing !== undefined) return this.update(topic, owner, key, meta)
    this.checkSize(key, meta)
    const entry = this.state.add(topic, key, owner, { ...meta })
    this.index(entry)
    this.localChange([{ type: 'join', entry }])
    return refOf(entry)
  }

  update(topic: string, owner: string, key: string, meta: Meta | ((prev: Meta) => Meta)): string {
    const old = this.owned.get(owner)?.get(topic)?.get(key)
    if (old === undefined) {
      if (typeof meta === 'function') throw new Error(`presence "${key}" on "${topic}" is not tracked by this socket`)
      return this.track(topic, owner, key, meta)
    }
    const next = typeof meta === 'function' ? meta(old.meta) : meta
    this.checkSize(key, next)
    this.state.remove(old)
    const entry = this.state.add(topic, key, owner, { ...next }, refOf(old))
    this.index(entry)
    this.localChange([{ type: 'leave', entry: old }, { type: 'join', entry }])
    return refOf(entry)
  }

  untrack(topic: string, owner: string, key: string): void {
    const byKey = this.owned.get(owner)?.get(topic)
    const entry = byKey?.get(key)
    if (entry !== undefined) this.removeOwned([entry])
  }

  /** Everything `owner` tracked on `topic` leaves (the channel ended). */
  untrackChannel(owner: string, topic: string): void {
    const byKey = this.owned.get(owner)?.get(topic)
    if (byKey !== undefined) this.removeOwned([...byKey.values()])
  }

  /** Everything `owner` tracked leaves (the socket closed). */
  untrackOwner(owner: string): void {
    const byTopic = this.owned.get(owner)
    if (byTopic === undefined) return
    const entries: PresenceEntry[] = []
    for (const byKey of byTopic.values()) entries.push(...byKey.values())
    this.removeOwned(entries)
  }

  /** A presence is rendered into every joiner's presence_state: its size is bounded. */
  private checkSize(key: string, meta: Meta): void {
    const bytes = Buffer.byteLength(key) + Buffer.byteLength(JSON.stringify(meta) ?? '')
    if (bytes > this.options.maxMetaBytes) {
      throw new RangeError(`presence "${key.slice(0, 64)}" is ${bytes} bytes (key and meta as JSON), over the limit (maxPresenceMetaBytes: ${this.options.maxMetaBytes})`)
    }
  }

  private removeOwned(entries: PresenceEntry[]): void {
    const changes: Change[] = []
    for (const entry of entries) {
      this.unindex(entry)
      this.state.remove(entry)
      changes.push({ type: 'leave', entry })
    }
    this.localChange(changes)
  }

  private index(entry: PresenceEntry): void {
    let byTopic = this.owned.get(entry.owner)
    if (byTopic === undefined) this.owned.set(entry.owner, (byTopic = new Map()))
    let byKey = byTopic.get(entry.topic)
    if (byKey === undefined) byTopic.set(entry.topic, (byKey = new Map()))
    byKey.set(entry.key, entry)
  }

  private unindex(entry: PresenceEntry): void {
    const byTopic = this.owned.get(entry.owner)
    const byKey = byTopic?.get(entry.topic)
    if (byKey?.get(entry.key) !== entry) return
    byKey.delete(entry.key)
    if (byKey.size === 0) byTopic!.delete(entry.topic)
    if (byTopic!.size === 0) this.owned.delete(entry.owner)
  }

  private localChange(changes: Change[]): void {
    if (changes.length === 0) return
    this.queueDiffs(changes)
    if (!this.deltaScheduled && !this.stopped) {
      this.deltaScheduled = true
      setImmediate(() => this.sendDelta())
    }
  }

  private sendDelta(): void {
    this.deltaScheduled = false
    const delta = this.state.takeDelta()
    if (delta !== undefined) this.host.publish('control', { k: 'delta', n: this.host.nodeId, d: delta })
  }

  // -- reads

  list(topic: string, dialect: Dialect = HORNBEAM): PresenceList {
    return renderPresences(this.state.entries(topic), dialect)
  }

  /** One key's metas on a topic, or undefined. */
  get(topic: string, key: string, dialect: Dialect = HORNBEAM): { metas: Meta[] } | undefined {
    const entries: PresenceEntry[] = []
    for (const entry of this.state.entries(topic)) if (entry.key === key) entries.push(entry)
    return entries.length === 0 ? undefined : { metas: entries.map((entry) => renderMeta(entry, dialect)) }
  }

  /** The presence_state frame for one joining socket (with its join_ref), in parts. */
  stateFrame(topic: string, joinRef: Ref, wire: Wire): Buffer[] {
    return this.stateCache.frame(topic, joinRef, wire)
  }

  // -- presence_diff batching

  /** Every change passes here: the shared presence_state is stale, subscribers get a diff. */
  private queueDiffs(changes: Change[]): void {
    for (const change of changes) this.stateCache.invalidate(change.entry.topic)
    this.batcher.queue(changes)
  }

  /** A socket subscribed to `topic` and got presence_state. */
  subscribed(topic: string): void {
    this.batcher.subscribed(topic)
  }

  /** The last local subscriber of `topic` left: its rendered presence_state goes. */
  unsubscribed(topic: string): void {
    this.stateCache.invalidate(topic)
  }

  /** Sends the topic's pending diff now. */
  flush(topic: string): void {
    this.batcher.flush(topic)
  }

  flushAll(): void {
    this.batcher.flushAll()
  }

  private deliverDiff(topic: string, { joins, leaves }: Diff): void {
    this.host.deliverLocal(
      topic,
      OutboundMessage.perDialect(
        topic,
        'presence_diff',
        (dialect) => new JsonText(`{"joins":${presencesJson(joins, dialect)},"leaves":${presencesJson(leaves, dialect)}}`),
      ),
    )
  }

  // -- replication

  /** A message on `control` or on this node's own channel. */
  receive(message: ClusterMessage): void {
    const from = message.n
    if (typeof from !== 'string' || from === this.host.nodeId || this.stopped) return
    const changes: Change[] = []
    if (message.k === 'bye') {
      this.peers.delete(from)
      this.state.purge(from, changes)
      return this.queueDiffs(changes)
    }
    this.touch(from, changes)
    switch (message.k) {
      case 'delta':
        if (this.state.applyDelta(message.d as Delta, changes) === 'gap') this.requestSync(from, true)
        break
      case 'hb':
        if (typeof message.c === 'number' && message.c > this.state.contextOf(from)) this.requestSync(from, false)
        break
      case 'sync':
        this.host.publish(`node:${from}`, { k: 'state', n: this.host.nodeId, p: this.state.partition() })
        break
      case 'state':
        this.state.joinPartition(message.p as Partition, changes)
        break
    }
    this.queueDiffs(changes)
  }

  /** Notes that `replica` is alive: a new peer is asked for its state, a down one comes back. */
  private touch(replica: string, changes: Change[]): void {
    const now = Date.now()
    const peer = this.peers.get(replica)
    if (peer === undefined) {
      this.peers.set(replica, { lastSeen: now, syncRequestedAt: 0 })
      this.requestSync(replica, true)
      return
    }
    peer.lastSeen = now
    if (this.state.isDown(replica)) {
      this.host.logger.info({ replica }, 'presence peer is back')
      this.state.setDown(replica, false, changes)
      this.requestSync(replica, true)
    }
  }

  private requestSync(replica: string, force: boolean): void {
    const peer = this.peers.get(replica)
    const now = Date.now()
    // One outstanding request per heartbeat period is enough; a heartbeat will tell if it got lost.
    if (peer !== undefined && !force && now - peer.syncRequestedAt < this.options.heartbeatMs) return
    if (peer !== undefined) peer.syncRequestedAt = now
    this.host.publish(`node:${replica}`, { k: 'sync', n: this.host.nodeId })
  }

  /** Asks every known peer for its state (after the adapter reconnects). */
  resync(): void {
    this.sendHeartbeat()
    for (const replica of this.peers.keys()) this.requestSync(replica, true)
  }

  private sendHeartbeat(): void {
    this.host.publish('control', { k: 'hb', n: this.host.nodeId, c: this.state.clock })
  }

  private tick(): void {
    this.sendHeartbeat()
    const now = Date.now()
    const changes: Change[] = []
    for (const [replica, peer] of this.peers) {
      const silent = now - peer.lastSeen
      if (silent > this.options.permdownPeriodMs) {
        this.peers.delete(replica)
        this.state.purge(replica, changes)
      } else if (silent > this.options.downPeriodMs && !this.state.isDown(replica)) {
        this.host.logger.warn({ replica, silentMs: silent }, 'presence peer is down')
        this.state.setDown(replica, true, changes)
      }
    }
    this.queueDiffs(changes)
  }

  /** Flushes the last delta and says goodbye, so peers drop our presences at once. */
  stop(): void {
    if (this.stopped) return
    this.sendDelta()
    this.flushAll()
    this.host.publish('control', { k: 'bye', n: this.host.nodeId })
    this.stopped = true
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.batcher.stop()
  }

  stats(): { entries: number; topics: number; peers: number; downPeers: number } {
    let down = 0
    for (const replica of this.peers.keys()) if (this.state.isDown(replica)) down++
    return { entries: this.state.size(), topics: this.state.topicCount(), peers: this.peers.size, downPeers: down }
  }
}
