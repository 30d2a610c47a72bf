import type { ClusterMessage, PresenceMessage } from '../cluster.js'
import { HORNBEAM, JsonText, type Dialect, type Ref, type Wire } from '../dialect.js'
import type { Logger } from '../logger.js'
import { OutboundMessage } from '../message.js'
import { DiffBatcher, type Diff } from './diff-batch.js'
import { PresenceModes, type ModeSubscriber } from './modes.js'
import { PresenceStateCache, presencesJson, renderMeta, renderPresences, type PresenceList } from './render.js'
import { Replication } from './replication.js'
import { PresenceSet, refOf, type Change, type PresenceEntry, type PresenceMeta } from './state.js'

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
  subscriberCount(topic: string): number
  subscribers(topic: string): Iterable<ModeSubscriber>
  deliverLocal(topic: string, message: OutboundMessage): void
}

/**
 * Presence for one node, in layers: the CRDT (state.ts), the index of what local sockets
 * tracked (here), presence_diff batching (diff-batch.ts), rendering for the wire (render.ts), what
 * channels with a presence mode other than 'full' are sent (modes.ts) and replication with the
 * other nodes (replication.ts).
 */
export class PresenceTracker {
  readonly state: PresenceSet
  /** owner (connection id) → topic → key → entry: what local sockets tracked. */
  private readonly owned = new Map<string, Map<string, Map<string, PresenceEntry>>>()
  private readonly batcher: DiffBatcher
  private readonly stateCache: PresenceStateCache
  /** Topics whose channels' presence mode is 'counts' or 'self' (modes.ts). */
  private readonly modes: PresenceModes
  private readonly replication: Replication

  constructor(private readonly host: TrackerHost, readonly options: TrackerOptions) {
    this.state = new PresenceSet(host.nodeId)
    this.stateCache = new PresenceStateCache({
      entries: (topic) => this.state.entries(topic),
      size: (topic) => this.state.topicSize(topic),
      rendered: (topic) => this.batcher.rendered(topic),
    })
    this.batcher = new DiffBatcher(
      {
        subscriberCount: (topic) => host.subscriberCount(topic),
        deliver: (topic, diff) => this.modes.diff(topic, diff) || this.deliverDiff(topic, diff),
        closed: (topic) => {
          this.stateCache.invalidate(topic)
          this.modes.closed(topic)
        },
        refOf,
      },
      options.batchMs,
    )
    this.modes = new PresenceModes({
      entries: (topic) => this.state.entries(topic),
      entriesOf: (topic, key) => this.state.entriesOf(topic, key),
      size: (topic) => this.state.topicSize(topic),
      ownKeys: (owner, topic) => this.owned.get(owner)?.get(topic),
      subscribers: (topic) => host.subscribers(topic),
      deliver: (topic, message) => host.deliverLocal(topic, message),
      rendered: (topic) => this.batcher.rendered(topic),
    })
    this.replication = new Replication(
      { nodeId: host.nodeId, logger: host.logger, publish: (channel, message) => host.publish(channel, message), changed: (changes) => this.queueDiffs(changes) },
      this.state,
      options,
    )
  }

  start(): void {
    this.replication.start()
  }

  // -- local operations

  track(topic: string, owner: string, key: string, meta: PresenceMeta): string {
    const existing = this.owned.get(owner)?.get(topic)?.get(key)
    if (existing !== undefined) return this.update(topic, owner, key, meta)
    this.checkSize(key, meta)
    const entry = this.state.add(topic, key, owner, { ...meta })
    this.index(entry)
    this.localChange([{ type: 'join', entry }])
    return refOf(entry)
  }

  update(topic: string, owner: string, key: string, meta: PresenceMeta | ((prev: PresenceMeta) => PresenceMeta)): string {
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
  private checkSize(key: string, meta: PresenceMeta): void {
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
    this.replication.localChanged()
  }

  // -- reads

  list(topic: string, dialect: Dialect = HORNBEAM): PresenceList {
    return renderPresences(this.state.entries(topic), dialect)
  }

  /** One key's metas on a topic, or undefined. */
  get(topic: string, key: string, dialect: Dialect = HORNBEAM): { metas: PresenceMeta[] } | undefined {
    const entries = this.state.entriesOf(topic, key)
    return entries.length === 0 ? undefined : { metas: entries.map((entry) => renderMeta(entry, dialect)) }
  }

  /** The presence_state frame for one joining socket (with its join_ref), in parts. */
  stateFrame(topic: string, joinRef: Ref, wire: Wire): Buffer[] {
    return this.stateCache.frame(topic, joinRef, wire)
  }

  /** A joining socket's first presence frame, by its channel's mode: presence_state, or presence_count. */
  joinFrame(subscriber: ModeSubscriber): Buffer[] {
    if (subscriber.presence === 'full') return this.stateCache.frame(subscriber.topic, subscriber.joinRef, subscriber.conn.wire)
    return this.modes.joinFrame(subscriber)
  }

  // -- presence_diff batching

  /**
   * Every change passes here: subscribers get a diff, and the shared presence_state is stale (kept
   * until the diff goes in big rooms, see PresenceStateCache; dropped when nobody will get a diff).
   */
  private queueDiffs(changes: Change[]): void {
    for (const { entry } of changes) {
      if (this.host.subscriberCount(entry.topic) > 0) this.stateCache.changed(entry.topic)
      else this.stateCache.invalidate(entry.topic)
    }
    this.modes.changed(changes)
    this.batcher.queue(changes)
  }

  /** The last local subscriber of `topic` left: its rendered presence_state goes. */
  unsubscribed(topic: string): void {
    this.stateCache.invalidate(topic)
    this.modes.unsubscribed(topic)
  }

  /** Sends the topic's pending diff now. */
  flush(topic: string): void {
    this.batcher.flush(topic)
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

  /** A presence message from a peer. */
  receive(message: PresenceMessage): void {
    this.replication.receive(message)
  }

  /** Asks every known peer for its state (after the adapter reconnects). */
  resync(): void {
    this.replication.resync()
  }

  /** Sends what is pending (diffs, the last delta) and says goodbye to the peers. */
  stop(): void {
    this.batcher.flushAll()
    this.replication.stop()
    this.batcher.stop()
  }

  /** Whether another node is alive, as its heartbeats say (see Replication.peerState). */
  peerState(node: string): 'up' | 'down' | 'unknown' {
    return this.replication.peerState(node)
  }

  stats(): { entries: number; topics: number; peers: number; downPeers: number; stateRenders: number; countRenders: number } {
    const renders = { stateRenders: this.stateCache.renders, countRenders: this.modes.countRenders }
    return { entries: this.state.size(), topics: this.state.topicCount(), ...this.replication.stats(), ...renders }
  }
}
