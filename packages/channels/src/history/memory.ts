/**
 * The in-memory history engine (the default): per topic, the last `size` broadcasts for `ttlMs`,
 * each with its position, plus a hub-wide bound on the bytes kept (the oldest entries go first,
 * whatever their topic). Positions are this process's: an epoch per topic log, made when the log
 * is, so a restart (or a log forgotten when idle) is a new epoch and a resume across it is
 * honestly `recovered: false`.
 *
 * Everything here is synchronous: a broadcast is appended and delivered in one step, and a
 * resume reads and subscribes in one step, so no broadcast can fall between replay and live.
 */
import { envelopeAround, JsonText, WIRES, type Wire } from '../dialect.js'
import { OutboundMessage } from '../message.js'
import { formatPosition, newEpoch, type Position } from './position.js'
import type { HistoryOptions, ResumeOutcome } from './types.js'

/** A kept message, as replays use it. */
export interface KeptFrame {
  frameFor(wire: Wire): Buffer
}

const EMPTY = Buffer.alloc(0)
/**
 * What an entry counts besides its frame: about what the entry and the Buffer's own object take
 * on the heap (bench/lib/history-memory.mjs measures about 230 bytes). At the cap a node holds
 * more than it counts: dropped entries wait in the FIFO until it is compacted.
 */
const ENTRY_OVERHEAD = 230

/**
 * One kept broadcast: only its frame in the array encoding (the one the hornbeam and phoenix
 * vsn 2 wires share), a Buffer whose bytes the garbage collector never walks. Keeping the
 * message object would keep the application's payload graph alive for minutes, which costs
 * every major GC a visit per object; a phoenix vsn 1 (object encoding) replay rebuilds its
 * frame from these bytes instead.
 */
class Entry implements KeptFrame {
  gone = false

  constructor(
    readonly offset: number,
    /** EMPTY once the entry is dropped, so a dropped entry still in the FIFO holds nothing. */
    public frame: Buffer,
    /** The connection a broadcastFrom left out. */
    readonly exclude: string | undefined,
    readonly at: number,
    readonly bytes: number,
    readonly log: TopicLog,
    readonly event: string,
  ) {}

  frameFor(wire: Wire): Buffer {
    if (wire.encoding === 'array') return this.frame
    const ref = formatPosition(this.log.epoch, this.offset)
    const [head, tail] = envelopeAround('array', null, ref, this.log.topic, this.event)
    const text = this.frame.toString('utf8', this.frame.length - this.textLength())
    const payload = new JsonText(text.slice(head.length, text.length - tail.length))
    const message = new OutboundMessage(this.log.topic, this.event, payload)
    message.ref = ref
    return message.frameFor(wire)
  }

  /** The frame's UTF-8 text length, from its WebSocket header (server frames are unmasked). */
  private textLength(): number {
    const short = this.frame[1]! & 0x7f
    return short < 126 ? short : short === 126 ? this.frame.readUInt16BE(2) : Number(this.frame.readBigUInt64BE(2))
  }
}

class TopicLog {
  readonly epoch = newEpoch()
  /** The offset of the last message appended (0: none yet). */
  top = 0
  lastUsed: number
  /**
   * The entries kept are `list[head..]`: the front advances by an index, because shift() on a
   * long-lived array moves every slot (it was the most expensive line of append); the dead
   * front is cut off once it is half the list.
   */
  private list: Array<Entry | undefined> = []
  private head = 0

  constructor(
    readonly topic: string,
    public options: HistoryOptions,
    now: number,
  ) {
    this.lastUsed = now
  }

  get size(): number {
    return this.list.length - this.head
  }

  first(): Entry | undefined {
    return this.list[this.head]
  }

  push(entry: Entry): void {
    this.list.push(entry)
  }

  /** Removes the oldest entry and returns it. */
  shift(): Entry | undefined {
    const entry = this.list[this.head]
    if (entry === undefined) return undefined
    this.list[this.head++] = undefined
    if (this.head >= 32 && this.head * 2 >= this.list.length) {
      this.list = this.list.slice(this.head)
      this.head = 0
    }
    return entry
  }

  /** The entries kept, oldest first (a copy). */
  kept(): Entry[] {
    return this.list.slice(this.head) as Entry[]
  }

  /** Drops entries from the front that are gone (evicted elsewhere) or past their age. */
  trim(now: number, owner: { drop(entry: Entry): void }): void {
    const oldest = now - this.options.ttlMs
    for (let first = this.first(); first !== undefined && (first.gone || first.at < oldest); first = this.first()) owner.drop(this.shift()!)
  }
}

export interface HistoryStats {
  topics: number
  entries: number
  bytes: number
}

export class MemoryHistory {
  private readonly logs = new Map<string, TopicLog>()
  /** Every entry in append order across topics, for the hub-wide bound (lazily compacted). */
  private fifo: Entry[] = []
  private fifoHead = 0
  private bytes = 0
  private entries = 0

  constructor(
    private readonly maxBytes: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The topic's log, made (with a new epoch) if there is none. */
  log(topic: string, options: HistoryOptions): TopicLog {
    let log = this.logs.get(topic)
    if (log === undefined) this.logs.set(topic, (log = new TopicLog(topic, options, this.now())))
    else log.options = options
    return log
  }

  /** Gives the message its position and keeps it. Returns the position. */
  append(topic: string, options: HistoryOptions, message: OutboundMessage, exclude: string | undefined): string {
    const now = this.now()
    const log = this.log(topic, options)
    const offset = ++log.top
    const position = formatPosition(log.epoch, offset)
    message.ref = position
    // What the entry costs is what it is kept as: its frame (built now, and shared with the
    // subscribers whose wire encodes arrays), plus the entry's own objects.
    const frame = message.frameFor(WIRES.hornbeam)
    const entry = new Entry(offset, frame, exclude, now, frame.length + ENTRY_OVERHEAD, log, message.event)
    log.push(entry)
    log.lastUsed = now
    this.fifo.push(entry)
    this.bytes += entry.bytes
    this.entries++
    if (log.size > options.size) this.drop(log.shift()!)
    log.trim(now, this)
    while (this.bytes > this.maxBytes && this.fifoHead < this.fifo.length) {
      const oldest = this.fifo[this.fifoHead++]!
      if (!oldest.gone) this.drop(oldest)
    }
    // Dropped entries leave the FIFO in bulk, both the evicted prefix before fifoHead and those
    // their topic dropped by size or age, so it holds at most about twice what is kept.
    const waiting = this.fifo.length - this.fifoHead
    if (this.fifoHead > waiting + 1024 || waiting > 2 * this.entries + 1024) {
      this.fifo = this.fifo.filter((e, i) => i >= this.fifoHead && !e.gone)
      this.fifoHead = 0
    }
    return position
  }

  /** @internal Lets an entry go (the topic's log calls it as it trims). */
  drop(entry: Entry): void {
    if (entry.gone) return
    entry.gone = true
    entry.frame = EMPTY
    this.bytes -= entry.bytes
    this.entries--
  }

  /**
   * What a client that last saw `since` missed: the entries to replay (in order), or why it
   * cannot be told everything. `previous` is the client's previous connection: what was
   * broadcast from it (and so never sent to it) is not replayed to it either.
   */
  resume(topic: string, options: HistoryOptions, since: Position, previous: string | undefined): ResumeOutcome<KeptFrame> {
    const log = this.log(topic, options)
    const now = this.now()
    log.trim(now, this)
    const top = formatPosition(log.epoch, log.top)
    if (since.epoch !== log.epoch) return { position: top, recovered: false, reason: 'unknown epoch', messages: [] }
    if (since.offset > log.top) return { position: top, recovered: false, reason: 'position from the future', messages: [] }
    const missed = log.top - since.offset
    if (missed === 0) return { position: top, recovered: true, messages: [] }
    const first = log.first()
    if (first === undefined || first.offset > since.offset + 1) return { position: top, recovered: false, reason: 'messages expired', messages: [] }
    if (missed > options.maxReplay) return { position: top, recovered: false, reason: 'too many missed', messages: [] }
    const messages: KeptFrame[] = []
    for (const entry of log.kept()) {
      if (entry.offset > since.offset && (previous === undefined || entry.exclude !== previous)) messages.push(entry)
    }
    return { position: top, recovered: true, messages }
  }

  /** The last `count` messages (what a first join asks for with `hb_recent`), and the top. */
  recent(topic: string, options: HistoryOptions, count: number): { position: string; messages: KeptFrame[] } {
    const log = this.log(topic, options)
    log.trim(this.now(), this)
    const kept = log.kept()
    const n = Math.max(0, Math.min(count, options.maxReplay, kept.length))
    return { position: formatPosition(log.epoch, log.top), messages: kept.slice(kept.length - n) }
  }

  /**
   * Drops expired entries, and forgets the logs that hold nothing and have been idle past their
   * age unless `inUse(topic)` (a subscriber still holds a position in it).
   */
  sweep(inUse: (topic: string) => boolean): void {
    const now = this.now()
    for (const [topic, log] of this.logs) {
      log.trim(now, this)
      if (log.size === 0 && now - log.lastUsed > log.options.ttlMs && !inUse(topic)) this.logs.delete(topic)
    }
  }

  /** Forgets a topic's log (its epoch ends): it can no longer tell what it missed. */
  forget(topic: string): void {
    const log = this.logs.get(topic)
    if (log === undefined) return
    for (const entry of log.kept()) this.drop(entry)
    this.logs.delete(topic)
  }

  stats(): HistoryStats {
    return { topics: this.logs.size, entries: this.entries, bytes: this.bytes }
  }

  /** Bytes kept per topic (for metrics). */
  bytesByTopic(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [topic, log] of this.logs) {
      let n = 0
      for (const entry of log.kept()) if (!entry.gone) n += entry.bytes
      if (n > 0) out[topic] = n
    }
    return out
  }
}
