/**
 * The in-memory history engine (the default): per topic, the last `size` broadcasts for `ttlMs`,
 * each with its position, plus a hub-wide bound on the bytes kept (the oldest messages go first,
 * whatever their topic; see FrameArena). Positions are this process's: an epoch per topic log, made when the log
 * is, so a restart (or a log forgotten when idle) is a new epoch and a resume across it is
 * honestly `recovered: false`.
 *
 * Everything here is synchronous: a broadcast is appended and delivered in one step, and a
 * resume reads and subscribes in one step, so no broadcast can fall between replay and live.
 */
import { envelopeAround, JsonText, WIRES, type Wire } from '../dialect.js'
import { framePayload } from '../frame.js'
import { binaryFrameFromJsonFrame, OutboundMessage } from '../message.js'
import { FrameArena, SLOT_BYTES } from './frame-arena.js'
import { formatPosition, newEpoch, type Position } from './position.js'
import type { HistoryOptions, ResumeOutcome } from './types.js'

/** A kept message, as replays use it. */
export interface KeptFrame {
  frameFor(wire: Wire): Buffer
}

/**
 * A kept broadcast on its way to a replay: its frame in the array encoding (the one the hornbeam
 * and phoenix vsn 2 wires share, bytes in their `{hb_binary}` form), as kept. A phoenix vsn 1 (object encoding) replay rebuilds its
 * frame from those bytes: the message object itself is never kept, so the application's payload
 * graph is not held for minutes.
 */
class ReplayedFrame implements KeptFrame {
  constructor(
    private readonly frame: Buffer,
    private readonly topic: string,
    private readonly ref: string,
  ) {}

  frameFor(wire: Wire): Buffer {
    // Bytes go to a phoenix v2 socket as the binary frame live delivery sent it (no position).
    if (wire.binary) return binaryFrameFromJsonFrame(this.frame) ?? this.frame
    if (wire.encoding === 'array') return this.frame
    const text = framePayload(this.frame).toString('utf8')
    const event = (JSON.parse(text) as unknown[])[3] as string
    const [head, tail] = envelopeAround('array', null, this.ref, this.topic, event)
    const message = new OutboundMessage(this.topic, event, new JsonText(text.slice(head.length, text.length - tail.length)))
    message.ref = this.ref
    return message.frameFor(wire)
  }
}

/** Per kept message, in its topic's ring of slots: where its frame is, and when it was kept. */
const CHUNK = 0
const START = 1
const LENGTH = 2
const AT = 3
const SLOT = 4

/**
 * A topic's kept messages: their offsets are consecutive, `top - count + 1` to `top`, because
 * messages only ever leave from the front (by size, age or the arena's bound, which takes the
 * oldest of every topic). Each is one slot of four numbers in a ring that grows as needed.
 */
class TopicLog {
  readonly epoch = newEpoch()
  /** The offset of the last message appended (0: none yet). */
  top = 0
  count = 0
  lastUsed: number
  private slots = new Float64Array(4 * SLOT)
  private head = 0
  /** The connection each broadcastFrom left out, by slot; made on the first one. */
  private excluded: Array<string | undefined> | undefined

  constructor(
    readonly topic: string,
    public options: HistoryOptions,
    now: number,
  ) {
    this.lastUsed = now
  }

  /** The offset of the oldest message kept (top + 1 when none is). */
  get firstOffset(): number {
    return this.top - this.count + 1
  }

  push(chunk: number, start: number, length: number, at: number, exclude: string | undefined): void {
    const capacity = this.slots.length / SLOT
    if (this.count === capacity) this.grow()
    const slot = (this.head + this.count) % (this.slots.length / SLOT)
    const i = slot * SLOT
    this.slots[i + CHUNK] = chunk
    this.slots[i + START] = start
    this.slots[i + LENGTH] = length
    this.slots[i + AT] = at
    if (exclude !== undefined) (this.excluded ??= [])[slot] = exclude
    else if (this.excluded !== undefined) this.excluded[slot] = undefined
    this.count++
  }

  /** Lets the oldest message go. */
  shift(arena: FrameArena): void {
    const i = this.head * SLOT
    arena.drop(this.slots[i + CHUNK]!, this.slots[i + LENGTH]!)
    this.head = (this.head + 1) % (this.slots.length / SLOT)
    this.count--
  }

  /** Drops from the front what is past its age or what the arena let go. */
  trim(now: number, arena: FrameArena): void {
    const oldest = now - this.options.ttlMs
    while (this.count > 0) {
      const i = this.head * SLOT
      if (this.slots[i + AT]! >= oldest && arena.holds(this.slots[i + CHUNK]!)) return
      this.shift(arena)
    }
  }

  /** The kept messages from `offset` on, oldest first, but those `previous` broadcast. */
  from(offset: number, arena: FrameArena, previous: string | undefined): KeptFrame[] {
    const out: KeptFrame[] = []
    const capacity = this.slots.length / SLOT
    for (let k = Math.max(0, offset - this.firstOffset); k < this.count; k++) {
      const slot = (this.head + k) % capacity
      if (previous !== undefined && this.excluded?.[slot] === previous) continue
      const i = slot * SLOT
      // A copy: the arena reuses its chunks, and a replayed frame may wait in a socket's queue.
      const frame = Buffer.from(arena.view(this.slots[i + CHUNK]!, this.slots[i + START]!, this.slots[i + LENGTH]!)!)
      out.push(new ReplayedFrame(frame, this.topic, formatPosition(this.epoch, this.firstOffset + k)))
    }
    return out
  }

  /** Bytes kept (for metrics). */
  bytes(): number {
    let n = 0
    const capacity = this.slots.length / SLOT
    for (let k = 0; k < this.count; k++) n += this.slots[((this.head + k) % capacity) * SLOT + LENGTH]! + SLOT_BYTES
    return n
  }

  private grow(): void {
    const capacity = this.slots.length / SLOT
    const slots = new Float64Array(this.slots.length * 2)
    for (let k = 0; k < this.count; k++) slots.set(this.slots.subarray(((this.head + k) % capacity) * SLOT, ((this.head + k) % capacity) * SLOT + SLOT), k * SLOT)
    if (this.excluded !== undefined) this.excluded = Array.from({ length: this.count }, (_, k) => this.excluded![(this.head + k) % capacity])
    this.slots = slots
    this.head = 0
  }
}

export interface HistoryStats {
  topics: number
  /** Messages kept. */
  entries: number
  /** Their frames' bytes, plus the index slots they take. */
  bytes: number
  /** Bytes held for frames (chunks partly used included): what the hub-wide bound holds. */
  allocated: number
}

export class MemoryHistory {
  private readonly logs = new Map<string, TopicLog>()
  private readonly arena: FrameArena

  constructor(
    maxBytes: number,
    private readonly now: () => number = Date.now,
  ) {
    this.arena = new FrameArena(maxBytes)
  }

  /** The topic's log, made (with a new epoch) if there is none. */
  private log(topic: string, options: HistoryOptions): TopicLog {
    let log = this.logs.get(topic)
    if (log === undefined) this.logs.set(topic, (log = new TopicLog(topic, options, this.now())))
    else log.options = options
    return log
  }

  /** Gives the message its position and keeps it. Returns the position. */
  append(topic: string, options: HistoryOptions, message: OutboundMessage, exclude: string | undefined): string {
    const now = this.now()
    const log = this.log(topic, options)
    const position = formatPosition(log.epoch, ++log.top)
    message.ref = position
    log.lastUsed = now
    // Kept as its frame, built now and shared with the subscribers whose wire encodes arrays.
    const frame = message.frameFor(WIRES.hornbeam)
    const chunk = this.arena.store(frame)
    if (chunk < 0) {
      // Past the bound on its own: not kept, and nothing before it can be replayed past the gap.
      while (log.count > 0) log.shift(this.arena)
      return position
    }
    log.push(chunk, this.arena.lastStart, frame.length, now, exclude)
    if (log.count > options.size) log.shift(this.arena)
    log.trim(now, this.arena)
    return position
  }

  /**
   * What a client that last saw `since` missed: the messages to replay (in order), or why it
   * cannot be told everything. `previous` is the client's previous connection: what was
   * broadcast from it (and so never sent to it) is not replayed to it either.
   */
  resume(topic: string, options: HistoryOptions, since: Position, previous: string | undefined): ResumeOutcome<KeptFrame> {
    const log = this.log(topic, options)
    log.trim(this.now(), this.arena)
    const top = formatPosition(log.epoch, log.top)
    if (since.epoch !== log.epoch) return { position: top, recovered: false, reason: 'unknown epoch', messages: [] }
    if (since.offset > log.top) return { position: top, recovered: false, reason: 'position from the future', messages: [] }
    const missed = log.top - since.offset
    if (missed === 0) return { position: top, recovered: true, messages: [] }
    if (log.firstOffset > since.offset + 1) return { position: top, recovered: false, reason: 'messages expired', messages: [] }
    if (missed > options.maxReplay) return { position: top, recovered: false, reason: 'too many missed', messages: [] }
    return { position: top, recovered: true, messages: log.from(since.offset + 1, this.arena, previous) }
  }

  /** The last `count` messages (what a first join asks for with `hb_recent`), and the top. */
  recent(topic: string, options: HistoryOptions, count: number): { position: string; messages: KeptFrame[] } {
    const log = this.log(topic, options)
    log.trim(this.now(), this.arena)
    const n = Math.max(0, Math.min(count, options.maxReplay, log.count))
    return { position: formatPosition(log.epoch, log.top), messages: n === 0 ? [] : log.from(log.top - n + 1, this.arena, undefined) }
  }

  /**
   * Drops expired messages, and forgets the logs that hold nothing and have been idle past their
   * age unless `inUse(topic)` (a subscriber still holds a position in it).
   */
  sweep(inUse: (topic: string) => boolean): void {
    const now = this.now()
    for (const [topic, log] of this.logs) {
      log.trim(now, this.arena)
      if (log.count === 0 && now - log.lastUsed > log.options.ttlMs && !inUse(topic)) this.logs.delete(topic)
    }
  }

  /** Forgets a topic's log (its epoch ends): it can no longer tell what it missed. */
  forget(topic: string): void {
    const log = this.logs.get(topic)
    if (log === undefined) return
    while (log.count > 0) log.shift(this.arena)
    this.logs.delete(topic)
  }

  stats(): HistoryStats {
    // Messages in chunks the arena let go are still counted by their log until it trims them.
    for (const log of this.logs.values()) log.trim(this.now(), this.arena)
    return { topics: this.logs.size, entries: this.arena.liveEntries, bytes: this.arena.liveBytes, allocated: this.arena.allocated }
  }

  /** Bytes kept per topic (for metrics). */
  bytesByTopic(): Record<string, number> {
    const out: Record<string, number> = {}
    const now = this.now()
    for (const [topic, log] of this.logs) {
      log.trim(now, this.arena)
      if (log.count > 0) out[topic] = log.bytes()
    }
    return out
  }
}
