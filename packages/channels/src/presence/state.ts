/**
 * The presence CRDT: an observed-remove set without tombstones (ORSWOT), split by topic.
 *
 * Every entry carries a dot `(replica, clock)`. Only the replica that owns a dot adds or
 * removes it (presences belong to local sockets), and every local operation takes the next
 * clock, so the causal context is a version vector: replica → highest clock seen, with no gaps.
 * A removed entry leaves no tombstone; the context remembers that its dot was seen.
 *
 * Replicas exchange deltas `(replica, from, to, adds, removes)` covering the clocks
 * `(from, to]`. A delta that starts past what we have is a gap: the caller asks that replica for
 * its partition (`partition()` / `joinPartition()`), whose join is the ORSWOT join:
 * an entry survives if the other side has it or has not seen its dot.
 *
 * Entries of a replica marked down are hidden (they leave), and shown again if it comes back.
 * One version vector serves all topics of a node, as in Phoenix.Tracker: per-topic clocks could
 * never be forgotten once a topic empties, this way a topic costs nothing once it is empty.
 */

export type PresenceMeta = Record<string, unknown>

export interface PresenceEntry {
  readonly replica: string
  readonly clock: number
  readonly topic: string
  readonly key: string
  /** The connection that tracked it. */
  readonly owner: string
  readonly meta: PresenceMeta
  /** The ref of the entry this one replaced through `update`. */
  readonly prevRef?: string
}

export interface Delta {
  replica: string
  from: number
  to: number
  adds: PresenceEntry[]
  removes: number[]
}

export interface Partition {
  replica: string
  clock: number
  entries: PresenceEntry[]
}

export interface Change {
  type: 'join' | 'leave'
  entry: PresenceEntry
}

export function refOf(entry: PresenceEntry): string {
  return `${entry.replica}.${entry.clock}`
}

export class PresenceSet {
  /** This replica's own clock. */
  clock = 0
  /** replica → highest clock seen (contiguous). */
  private readonly context = new Map<string, number>()
  /** replica → clock → entry. */
  private readonly partitions = new Map<string, Map<number, PresenceEntry>>()
  /** topic → ref → entry, visible or not. */
  private readonly topics = new Map<string, Map<string, PresenceEntry>>()
  /** topic → key → entries, visible or not, in insertion order: get() without a scan of the topic. */
  private readonly keys = new Map<string, Map<string, PresenceEntry[]>>()
  private readonly down = new Set<string>()
  private pending: Delta | undefined

  constructor(readonly replica: string) {}

  // -- local operations (own partition only)

  add(topic: string, key: string, owner: string, meta: PresenceMeta, prevRef?: string): PresenceEntry {
    const clock = ++this.clock
    const entry: PresenceEntry = prevRef === undefined
      ? { replica: this.replica, clock, topic, key, owner, meta }
      : { replica: this.replica, clock, topic, key, owner, meta, prevRef }
    this.insert(entry)
    this.context.set(this.replica, clock)
    this.pendingDelta(clock).adds.push(entry)
    return entry
  }

  remove(entry: PresenceEntry): void {
    if (entry.replica !== this.replica || !this.delete(entry)) return
    const clock = ++this.clock
    this.context.set(this.replica, clock)
    const delta = this.pendingDelta(clock)
    const i = delta.adds.indexOf(entry)
    // Added and removed within one delta: peers need only the clock range.
    if (i >= 0) delta.adds.splice(i, 1)
    else delta.removes.push(entry.clock)
  }

  private pendingDelta(clock: number): Delta {
    if (this.pending === undefined) {
      this.pending = { replica: this.replica, from: clock - 1, to: clock, adds: [], removes: [] }
    }
    this.pending.to = clock
    return this.pending
  }

  /** The local operations since the last call, as one delta (undefined if none). */
  takeDelta(): Delta | undefined {
    const delta = this.pending
    this.pending = undefined
    return delta
  }

  // -- remote operations

  /** Applies a peer's delta. 'gap' means we missed an earlier one: ask for its partition. */
  applyDelta(delta: Delta, changes: Change[]): 'ok' | 'gap' | 'duplicate' {
    if (delta.replica === this.replica) return 'duplicate'
    const have = this.context.get(delta.replica) ?? 0
    if (delta.to <= have) return 'duplicate'
    if (delta.from > have) return 'gap'
    const visible = !this.down.has(delta.replica)
    const part = this.partitions.get(delta.replica)
    for (const clock of delta.removes) {
      const entry = part?.get(clock)
      if (entry !== undefined && this.delete(entry) && visible) changes.push({ type: 'leave', entry })
    }
    for (const entry of delta.adds) {
      if (entry.clock > have && entry.replica === delta.replica) {
        this.insert(entry)
        if (visible) changes.push({ type: 'join', entry })
      }
    }
    this.context.set(delta.replica, delta.to)
    return 'ok'
  }

  /** This replica's own entries and clock, for a state transfer. */
  partition(): Partition {
    return { replica: this.replica, clock: this.clock, entries: [...(this.partitions.get(this.replica)?.values() ?? [])] }
  }

  /** The ORSWOT join of a peer's partition into ours. */
  joinPartition(remote: Partition, changes: Change[]): void {
    if (remote.replica === this.replica) return
    const have = this.context.get(remote.replica) ?? 0
    const visible = !this.down.has(remote.replica)
    const local = this.partitions.get(remote.replica)
    const remoteClocks = new Set<number>()
    for (const entry of remote.entries) remoteClocks.add(entry.clock)
    if (local !== undefined) {
      for (const entry of [...local.values()]) {
        if (!remoteClocks.has(entry.clock) && entry.clock <= remote.clock) {
          this.delete(entry)
          if (visible) changes.push({ type: 'leave', entry })
        }
      }
    }
    for (const entry of remote.entries) {
      if (entry.replica !== remote.replica || entry.clock <= have) continue
      if (this.partitions.get(remote.replica)?.has(entry.clock)) continue
      this.insert(entry)
      if (visible) changes.push({ type: 'join', entry })
    }
    this.context.set(remote.replica, Math.max(have, remote.clock))
  }

  // -- replicas going down and coming back

  isDown(replica: string): boolean {
    return this.down.has(replica)
  }

  /** Hides (down) or shows again (up) a replica's entries. */
  setDown(replica: string, down: boolean, changes: Change[]): void {
    if (replica === this.replica || this.down.has(replica) === down) return
    if (down) this.down.add(replica)
    else this.down.delete(replica)
    for (const entry of this.partitions.get(replica)?.values() ?? []) {
      changes.push({ type: down ? 'leave' : 'join', entry })
    }
  }

  /** Forgets a replica for good (it is down past the permdown period). */
  purge(replica: string, changes: Change[]): void {
    if (replica === this.replica) return
    const part = this.partitions.get(replica)
    const visible = !this.down.has(replica)
    for (const entry of [...(part?.values() ?? [])]) {
      this.delete(entry)
      if (visible) changes.push({ type: 'leave', entry })
    }
    this.partitions.delete(replica)
    this.context.delete(replica)
    this.down.delete(replica)
  }

  contextOf(replica: string): number {
    return this.context.get(replica) ?? 0
  }

  replicas(): string[] {
    return [...this.context.keys()]
  }

  // -- reads

  /** Visible entries of a topic, in insertion order. */
  *entries(topic: string): IterableIterator<PresenceEntry> {
    const byRef = this.topics.get(topic)
    if (byRef === undefined) return
    for (const entry of byRef.values()) if (!this.down.has(entry.replica)) yield entry
  }

  /** Visible entries of a topic under one key, in insertion order. */
  entriesOf(topic: string, key: string): PresenceEntry[] {
    const entries = this.keys.get(topic)?.get(key)
    if (entries === undefined) return []
    return this.down.size === 0 ? entries.slice() : entries.filter((entry) => !this.down.has(entry.replica))
  }

  topicCount(): number {
    return this.topics.size
  }

  /** A topic's entries, visible or not. */
  topicSize(topic: string): number {
    return this.topics.get(topic)?.size ?? 0
  }

  size(): number {
    let n = 0
    for (const part of this.partitions.values()) n += part.size
    return n
  }

  // -- storage

  private insert(entry: PresenceEntry): void {
    let part = this.partitions.get(entry.replica)
    if (part === undefined) this.partitions.set(entry.replica, (part = new Map()))
    part.set(entry.clock, entry)
    let byRef = this.topics.get(entry.topic)
    if (byRef === undefined) this.topics.set(entry.topic, (byRef = new Map()))
    byRef.set(refOf(entry), entry)
    let byKey = this.keys.get(entry.topic)
    if (byKey === undefined) this.keys.set(entry.topic, (byKey = new Map()))
    const entries = byKey.get(entry.key)
    if (entries === undefined) byKey.set(entry.key, [entry])
    else entries.push(entry)
  }

  private delete(entry: PresenceEntry): boolean {
    const part = this.partitions.get(entry.replica)
    if (part === undefined || !part.delete(entry.clock)) return false
    const byRef = this.topics.get(entry.topic)
    if (byRef !== undefined) {
      byRef.delete(refOf(entry))
      if (byRef.size === 0) this.topics.delete(entry.topic)
    }
    const byKey = this.keys.get(entry.topic)
    const entries = byKey?.get(entry.key)
    if (entries !== undefined) {
      const at = entries.indexOf(entry)
      if (at >= 0) entries.splice(at, 1)
      if (entries.length === 0) byKey!.delete(entry.key)
      if (byKey!.size === 0) this.keys.delete(entry.topic)
    }
    return true
  }
}
