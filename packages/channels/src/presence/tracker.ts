import { JsonText, type Dialect, type Ref } from '../dialect.js'
import { HORNBEAM } from '../dialect.js'
import type { Logger } from '../logger.js'
import { OutboundMessage } from '../message.js'
import type { ClusterMessage } from '../pubsub.js'
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

export type PresenceList = Record<string, { metas: Meta[] }>

interface PendingDiff {
  /** ref → entry, and the epoch it joined in. */
  joins: Map<string, { entry: PresenceEntry; epoch: number }>
  leaves: Map<string, PresenceEntry>
  /** Bumped when a socket subscribes while the diff is pending (see `subscribed`). */
  epoch: number
}

interface Peer {
  lastSeen: number
  syncRequestedAt: number
}

/**
 * Each entry's meta serialized once per dialect: entries never change, and a join into a room of
 * N pushes a presence_state of N metas, so re-serializing them would make a filling room O(N²)
 * in JSON work. Weak, so an entry that leaves takes its text with it.
 */
const metaTexts = new WeakMap<PresenceEntry, { hornbeam?: string; phoenix?: string }>()

function metaText(entry: PresenceEntry, dialect: Dialect): string {
  let texts = metaTexts.get(entry)
  if (texts === undefined) metaTexts.set(entry, (texts = {}))
  return (texts[dialect.name] ??= JSON.stringify(renderMeta(entry, dialect)))
}

function renderMeta(entry: PresenceEntry, dialect: Dialect): Meta {
  // Object.assign is ~8× faster than a spread here, but would run the __proto__ setter for a
  // meta that has that key (from JSON): such metas take the spread.
  const meta: Meta = Object.hasOwn(entry.meta, '__proto__') ? { ...entry.meta } : Object.assign({}, entry.meta)
  meta[dialect.refKey] = refOf(entry)
  if (entry.prevRef !== undefined && dialect.prevRefKey !== undefined) meta[dialect.prevRefKey] = entry.prevRef
  return meta
}

/** The same as JSON.stringify(renderPresences(entries, dialect)), from the cached meta texts. */
export function presencesJson(entries: Iterable<PresenceEntry>, dialect: Dialect): string {
  const byKey = new Map<string, string[]>()
  for (const entry of entries) {
    const metas = byKey.get(entry.key)
    if (metas === undefined) byKey.set(entry.key, [metaText(entry, dialect)])
    else metas.push(metaText(entry, dialect))
  }
  let out = ''
  for (const [key, metas] of byKey) out += `${out === '' ? '' : ','}${JSON.stringify(key)}:{"metas":[${metas.join(',')}]}`
  return `{${out}}`
}

/** Renders entries as `{ key: { metas: [...] } }` with the dialect's ref keys. */
export function renderPresences(entries: Iterable<PresenceEntry>, dialect: Dialect): PresenceList {
  const out: PresenceList = {}
  for (const entry of entries) {
    const meta = renderMeta(entry, dialect)
    let slot = Object.hasOwn(out, entry.key) ? out[entry.key] : undefined
    if (slot === undefined) {
      slot = { metas: [] }
      // A key named "__proto__" must stay a plain key: `out[key] =` would set the prototype.
      if (entry.key === '__proto__') Object.defineProperty(out, entry.key, { value: slot, enumerable: true, writable: true, configurable: true })
      else out[entry.key] = slot
    }
    slot.metas.push(meta)
  }
  return out
}

/**
 * Presence for one node: the CRDT, the local index of who tracked what, the presence_diff
 * batching for local subscribers, and replication with the other nodes over the adapter.
 */
export class PresenceTracker {
  readonly state: PresenceState
  /** owner (connection id) → topic → key → entry: what local sockets tracked. */
  private readonly owned = new Map<string, Map<string, Map<string, PresenceEntry>>>()
  private readonly pending = new Map<string, PendingDiff>()
  private readonly peers = new Map<string, Peer>()
  private flushTimer: NodeJS.Timeout | NodeJS.Immediate | undefined
  private deltaScheduled = false
  private heartbeat: NodeJS.Timeout | undefined
  private stopped = false

  constructor(private readonly host: TrackerHost, readonly options: PresenceOptions) {
    this.state = new PresenceState(host.nodeId)
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

  /** A presence_state message for one joining socket (with its join_ref), rendered for its dialect. */
  stateMessage(topic: string, joinRef: Ref): OutboundMessage {
    return new OutboundMessage(topic, 'presence_state', (dialect: Dialect) => new JsonText(presencesJson(this.state.entries(topic), dialect)), true, joinRef)
  }

  // -- presence_diff batching

  private queueDiffs(changes: Change[]): void {
    for (const { type, entry } of changes) {
      if (!this.host.hasSubscribers(entry.topic)) continue
      let diff = this.pending.get(entry.topic)
      if (diff === undefined) this.pending.set(entry.topic, (diff = { joins: new Map(), leaves: new Map(), epoch: 0 }))
      const ref = refOf(entry)
      if (type === 'join') {
        diff.joins.set(ref, { entry, epoch: diff.epoch })
        continue
      }
      // Joined and left within one window: nobody needs to hear of it, unless a socket
      // subscribed in between and saw the join in its presence_state.
      const joined = diff.joins.get(ref)
      if (joined !== undefined && joined.epoch === diff.epoch) diff.joins.delete(ref)
      else diff.leaves.set(ref, entry)
    }
    if (this.pending.size > 0 && this.flushTimer === undefined) {
      const flush = () => {
        this.flushTimer = undefined
        this.flushAll()
      }
      this.flushTimer = this.options.batchMs > 0 ? setTimeout(flush, this.options.batchMs) : setImmediate(flush)
    }
  }

  /**
   * A socket subscribed and got presence_state, which already holds the pending changes. It
   * will get the pending diff too (joins it has are idempotent by ref, leaves of metas it never
   * saw are no-ops); what it must not miss is a leave of a pending join, so such a pair is no
   * longer cancelled out.
   */
  subscribed(topic: string): void {
    const diff = this.pending.get(topic)
    if (diff !== undefined) diff.epoch++
  }

  /** Sends the topic's pending diff now. */
  flush(topic: string): void {
    const diff = this.pending.get(topic)
    if (diff === undefined) return
    this.pending.delete(topic)
    if (diff.joins.size === 0 && diff.leaves.size === 0) return
    const joins = [...diff.joins.values()].map((j) => j.entry)
    const leaves = [...diff.leaves.values()]
    this.host.deliverLocal(
      topic,
      OutboundMessage.perDialect(
        topic,
        'presence_diff',
        (dialect) => new JsonText(`{"joins":${presencesJson(joins, dialect)},"leaves":${presencesJson(leaves, dialect)}}`),
      ),
    )
  }

  flushAll(): void {
    for (const topic of [...this.pending.keys()]) this.flush(topic)
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
    if (this.flushTimer) {
      clearTimeout(this.flushTimer as NodeJS.Timeout)
      clearImmediate(this.flushTimer as NodeJS.Immediate)
    }
  }

  stats(): { entries: number; topics: number; peers: number; downPeers: number } {
    let down = 0
    for (const replica of this.peers.keys()) if (this.state.isDown(replica)) down++
    return { entries: this.state.size(), topics: this.state.topicCount(), peers: this.peers.size, downPeers: down }
  }
}
