/**
 * presence_diff batching: the changes of one batching window, reduced per ref to what each
 * subscriber must hear.
 *
 * Clients apply a diff's joins first, then its leaves (phoenix.js and @hornbeam/client alike), so a
 * ref in both would vanish. A window therefore sends at most one operation per ref, chosen so that
 * every subscriber ends up with the ref's visibility at the end of the window:
 *
 * - a subscriber holds, for each ref, what it saw at its sync point: the window's start for those
 *   subscribed before it, its own presence_state for those who subscribed during it;
 * - at the end, a visible ref is sent as a join (idempotent by ref for whoever has it), a hidden
 *   one as a leave (a no-op for whoever lacks it), and nothing at all when no sync point saw it
 *   otherwise (joined and left unseen, or a leave and a re-join of the same ref that nobody
 *   witnessed in between: a presence peer marked down and back within one window).
 */
import type { Change, PresenceEntry } from './state.js'

interface RefChange {
  entry: PresenceEntry
  /** Visible now (the last operation was a join). */
  visible: boolean
  /** Some subscriber's sync point saw the ref visible / hidden. */
  seenVisible: boolean
  seenHidden: boolean
  /** The subscription epoch of the last operation. */
  epoch: number
}

export interface Diff {
  joins: PresenceEntry[]
  leaves: PresenceEntry[]
}

/** One topic's pending window. */
export class PendingDiff {
  private readonly refs = new Map<string, RefChange>()
  private epoch = 0

  /** Records one change; `ref` is the entry's ref. */
  record(type: Change['type'], entry: PresenceEntry, ref: string): void {
    const visible = type === 'join'
    const change = this.refs.get(ref)
    if (change === undefined) {
      // Before its first operation in this window every sync point saw the opposite.
      this.refs.set(ref, { entry, visible, seenVisible: !visible, seenHidden: visible, epoch: this.epoch })
      return
    }
    // A socket subscribed since this ref's last operation: it saw the state before this one.
    if (change.epoch !== this.epoch) {
      if (change.visible) change.seenVisible = true
      else change.seenHidden = true
      change.epoch = this.epoch
    }
    change.visible = visible
    change.entry = entry
  }

  /** A socket subscribed (and got presence_state) during the window. */
  subscribed(): void {
    this.epoch++
  }

  /** The window's diff: no ref in both joins and leaves. Empty when nobody needs to hear anything. */
  take(): Diff {
    const joins: PresenceEntry[] = []
    const leaves: PresenceEntry[] = []
    for (const change of this.refs.values()) {
      if (change.visible && change.seenHidden) joins.push(change.entry)
      else if (!change.visible && change.seenVisible) leaves.push(change.entry)
    }
    this.refs.clear()
    return { joins, leaves }
  }
}

export interface BatcherHost {
  hasSubscribers(topic: string): boolean
  deliver(topic: string, diff: Diff): void
  refOf(entry: PresenceEntry): string
}

/**
 * The windows of every topic, flushed together `batchMs` after the first change (0: at the end
 * of the event-loop turn). A window turns a burst of N joins from O(N²) frames into O(N).
 */
export class DiffBatcher {
  private readonly pending = new Map<string, PendingDiff>()
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined

  constructor(private readonly host: BatcherHost, private readonly batchMs: number) {}

  queue(changes: readonly Change[]): void {
    for (const { type, entry } of changes) {
      if (!this.host.hasSubscribers(entry.topic)) continue
      let diff = this.pending.get(entry.topic)
      if (diff === undefined) this.pending.set(entry.topic, (diff = new PendingDiff()))
      diff.record(type, entry, this.host.refOf(entry))
    }
    if (this.pending.size > 0 && this.timer === undefined) {
      const flush = () => {
        this.timer = undefined
        this.flushAll()
      }
      this.timer = this.batchMs > 0 ? setTimeout(flush, this.batchMs) : setImmediate(flush)
    }
  }

  /** A socket subscribed to `topic` and got presence_state, which holds the pending changes. */
  subscribed(topic: string): void {
    this.pending.get(topic)?.subscribed()
  }

  flush(topic: string): void {
    const pending = this.pending.get(topic)
    if (pending === undefined) return
    this.pending.delete(topic)
    const diff = pending.take()
    if (diff.joins.length > 0 || diff.leaves.length > 0) this.host.deliver(topic, diff)
  }

  flushAll(): void {
    for (const topic of [...this.pending.keys()]) this.flush(topic)
  }

  stop(): void {
    if (this.timer === undefined) return
    clearTimeout(this.timer as NodeJS.Timeout)
    clearImmediate(this.timer as NodeJS.Immediate)
    this.timer = undefined
  }
}
