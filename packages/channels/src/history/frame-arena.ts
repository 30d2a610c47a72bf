/**
 * Where the in-memory history keeps its frames: copied into large chunks, written in append
 * order, so that a kept message is a few numbers (chunk, start, length) and not an object. The
 * garbage collector then has nothing per message to promote, walk or sweep, and a chunk's bytes
 * are never walked at all.
 *
 * The hub-wide bound is over the chunks actually held, so it holds for real memory: when a new
 * frame would pass it, the oldest chunk goes, with whatever messages it still holds (the oldest
 * of every topic: append order is chunk order). A chunk whose messages are all gone earlier (by
 * their topic's size or age) is released at once. One released chunk is kept aside and reused
 * for the next (beyond the bound: one chunk, 1/16 of it at most): a busy history then writes into
 * memory it already has, instead of asking for a new megabyte (fresh pages, and external memory
 * that drives the garbage collector) every thousand messages. Nothing outside holds a view of a
 * chunk: replays copy their frames out (memory.ts).
 */

/** What the bound counts per kept message besides its frame: its index slots in its topic's log. */
export const SLOT_BYTES = 32

class Chunk {
  used = 0
  liveEntries = 0
  liveBytes = 0
  constructor(public buffer: Buffer | undefined) {}
}

export class FrameArena {
  /** chunks[i] has the id firstId + i; the last one is the one being written. */
  private chunks: Chunk[] = []
  private firstId = 0
  /** Bytes of the chunks held. */
  allocated = 0
  /** Frames kept, and their bytes plus SLOT_BYTES each. */
  liveEntries = 0
  liveBytes = 0
  /** Where the last `store` put its frame. */
  lastStart = 0
  private readonly chunkSize: number
  /** A released chunk's memory, for the next chunk. */
  private spare: Buffer | undefined

  constructor(readonly maxBytes: number) {
    // Small enough that the bound is not coarse (1/16 of it), large enough that a new chunk is
    // rare; a frame larger than a chunk gets one of its own size.
    this.chunkSize = Math.max(1, Math.min(1 << 20, Math.floor(maxBytes / 16)))
  }

  /**
   * Copies `frame` in, first letting the oldest chunks go while the bound would be passed.
   * Returns the chunk's id (the start is in lastStart), or -1 when the frame alone is past the
   * bound and cannot be kept.
   */
  store(frame: Buffer): number {
    const cost = frame.length + SLOT_BYTES
    let tail = this.chunks[this.chunks.length - 1]
    const fits = tail?.buffer !== undefined && tail.buffer.length - tail.used >= frame.length
    const growth = fits ? 0 : Math.max(this.chunkSize, frame.length)
    while (this.allocated + growth + (this.liveEntries + 1) * SLOT_BYTES > this.maxBytes && this.chunks.length > (fits ? 1 : 0)) {
      this.evictOldest()
    }
    if (this.allocated + growth + (this.liveEntries + 1) * SLOT_BYTES > this.maxBytes) return -1
    if (!fits) {
      const reuse = growth === this.chunkSize ? this.spare : undefined
      this.spare = undefined
      tail = new Chunk(reuse ?? Buffer.allocUnsafeSlow(growth))
      this.chunks.push(tail)
      this.allocated += growth
      this.releaseIfEmpty(this.chunks.length - 2)
    }
    const start = tail!.used
    tail!.buffer!.set(frame, start)
    tail!.used += frame.length
    tail!.liveEntries++
    tail!.liveBytes += cost
    this.liveEntries++
    this.liveBytes += cost
    this.lastStart = start
    return this.firstId + this.chunks.length - 1
  }

  /** The kept frame's bytes (a view: valid until the next store). Undefined when its chunk went. */
  view(id: number, start: number, length: number): Buffer | undefined {
    const buffer = this.chunks[id - this.firstId]?.buffer
    return id < this.firstId ? undefined : buffer?.subarray(start, start + length)
  }

  /** Whether the frames of chunk `id` are still kept. */
  holds(id: number): boolean {
    return id >= this.firstId && this.chunks[id - this.firstId]!.buffer !== undefined
  }

  /** A topic lets one of its frames go (by its size or age, or forgetting the topic). */
  drop(id: number, length: number): void {
    if (!this.holds(id)) return
    const index = id - this.firstId
    const chunk = this.chunks[index]!
    chunk.liveEntries--
    chunk.liveBytes -= length + SLOT_BYTES
    this.liveEntries--
    this.liveBytes -= length + SLOT_BYTES
    this.releaseIfEmpty(index)
  }

  /** The chunks held, those still being pointed at included (for stats and tests). */
  get chunkCount(): number {
    return this.chunks.length
  }

  /** Lets chunk `index` go if nothing in it is kept (the next frame then starts a new one). */
  private releaseIfEmpty(index: number): void {
    const chunk = this.chunks[index]
    if (chunk === undefined || chunk.liveEntries > 0 || chunk.buffer === undefined) return
    this.allocated -= chunk.buffer.length
    this.keepAside(chunk.buffer)
    chunk.buffer = undefined
    // Released chunks at the front leave the list; one in the middle waits there as an empty slot.
    while (this.chunks.length > 0 && this.chunks[0]!.buffer === undefined) {
      this.chunks.shift()
      this.firstId++
    }
  }

  private evictOldest(): void {
    const chunk = this.chunks.shift()!
    this.firstId++
    this.liveEntries -= chunk.liveEntries
    this.liveBytes -= chunk.liveBytes
    if (chunk.buffer !== undefined) {
      this.allocated -= chunk.buffer.length
      this.keepAside(chunk.buffer)
    }
    chunk.buffer = undefined
  }

  private keepAside(buffer: Buffer): void {
    if (buffer.length === this.chunkSize) this.spare ??= buffer
  }
}
