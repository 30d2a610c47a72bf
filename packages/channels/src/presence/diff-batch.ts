/**
 * presence_diff batching: the changes of one batching window, reduced per ref to what each
 * subscriber must hear.
 *
 * Clients apply a diff's joins first, then its leaves (phoenix.js and @hornbeam/client alike), so a
 * ref in both would vanish. A window therefore sends at most one operation per ref, chosen so that
 * every subscriber ends up with the ref's visibility at the end of the window:
 *
 * - a subscriber holds, for each ref, what it saw at its sync point: the window's start for those
 *   subscribed before it, the presence_state it got for those who subscribed during it (a
 *   rendering made during the window is a sync point; joiners may share an earlier one);
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

  /** `ticksLeft`: the batcher's ticks until the window closes. */
  constructor(public ticksLeft = 1) {}

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

  /** A presence_state was rendered during the window: a new sync point. */
  syncPoint(): void {
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
  subscriberCount(topic: string): number
  deliver(topic: string, diff: Diff): void
  /** The topic's window closed, whether or not it had anything to send. */
  closed(topic: string): void
  refOf(entry: PresenceEntry): string
}

/** A topic's window grows by one tick for every this many subscribers… */
const SUBSCRIBERS_PER_TICK = 1000
/** …up to this many ticks. */
const MAX_TICKS = 20

/**
 * The windows of every topic, on one clock that ticks every `batchMs` while a window is open (0:
 * at the end of the event-loop turn). A window opens with a topic's first change and closes at
 * the next tick, or in big rooms after one more tick per 1,000 subscribers, up to 20 ticks (a
 * second by default). A window turns a burst of N joins from O(N²) frames into O(N); the growth
 * keeps a room's diff frames per second (its subscribers over its window) near 20,000 at most
 * however big the room, for a little more latency.
 */
export class DiffBatcher {
  private readonly pending = new Map<string, PendingDiff>()
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined

  constructor(private readonly host: BatcherHost, private readonly batchMs: number) {}

  queue(changes: readonly Change[]): void {
    for (const { type, entry } of changes) {
      let diff = this.pending.get(entry.topic)
      if (diff === undefined) {
        const subscribers = this.host.subscriberCount(entry.topic)
        if (subscribers === 0) continue
        const ticks = Math.min(MAX_TICKS, Math.max(1, Math.ceil(subscribers / SUBSCRIBERS_PER_TICK)))
        this.pending.set(entry.topic, (diff = new PendingDiff(ticks)))
      }
      diff.record(type, entry, this.host.refOf(entry))
    }
    if (this.pending.size > 0) this.arm()
  }

  private arm(): void {
    if (this.timer !== undefined) return
    this.timer = this.batchMs > 0 ? setTimeout(() => this.tick(), this.batchMs) : setImmediate(() => this.tick())
  }

  /** Closes the windows whose last tick this is. */
  private tick(): void {
    this.timer = undefined
    for (const [topic, diff] of [...this.pending]) if (--diff.ticksLeft <= 0 || this.batchMs === 0) this.flush(topic)
    if (this.pending.size > 0) this.arm()
  }

  /** A presence_state of `topic` was rendered: a sync point of its pending window. */
  rendered(topic: string): void {
    this.pending.get(topic)?.syncPoint()
  }

  flush(topic: string): void {
    const pending = this.pending.get(topic)
    if (pending === undefined) return
    this.pending.delete(topic)
    const diff = pending.take()
    if (diff.joins.length > 0 || diff.leaves.length > 0) this.host.deliver(topic, diff)
    this.host.closed(topic)
  }

  flushAll(): void {
    for (const topic of [...this.pending.keys()]) this.flush(topic)
  }

  stop(): void {
    if (this.timer === undefined) return
    // Each clear for its own kind: clearImmediate on anything else miscounts Node's immediates.
    if (this.batchMs > 0) clearTimeout(this.timer as NodeJS.Timeout)
    else clearImmediate(this.timer as NodeJS.Immediate)
    this.timer = undefined
  }
}
