/**
 * A channel's place in its topic's history: the position of the last broadcast it delivered
 * (`<epoch>:<offset>`, from the frame's ref slot), so that it can ask for what it missed when it
 * rejoins, and drop what it already has.
 *
 * Binary broadcasts (phoenix v2 wire) have no ref slot, so no position: the cursor counts those
 * delivered since its position instead. A resume replays, in order, everything after that
 * position (but what this client sent with broadcastFrom, which it never received either), so
 * the first that many broadcasts of bytes in the replay are the ones delivered already, and are
 * dropped, whether the replay sends them as binary frames or in their JSON form with their
 * positions. The count ends at the join's `hb_history` (a failed resume replays nothing, and
 * what follows is live) and at the next positioned broadcast.
 */

/** What `channel.onRecover` callbacks get after a rejoin that asked to resume. */
export interface RecoverInfo {
  /** Every message missed while away was delivered (before this callback). */
  recovered: boolean
  /** Why not, when not: 'unknown epoch', 'messages expired', 'too many missed', 'history off', ... */
  reason?: string
  /** Messages delivered from the history for this rejoin. */
  replayed: number
  /** The topic's position now. */
  position: string | null
}

/** The server's `hb_history` notice, sent after every join of a topic. */
export interface HistoryNotice {
  position: string | null
  resumed: boolean
  recovered?: boolean
  reason?: string
  replayed: number
  connection?: string
}

/** The reserved join params the server reads (and takes out before the join handler). */
export const HISTORY_PARAMS = { position: 'hb_position', previous: 'hb_previous', recent: 'hb_recent' } as const

export class HistoryCursor {
  private epoch: string | undefined
  private offset = 0
  private connection: string | undefined
  /** Binary broadcasts delivered since the position. */
  private binarySince = 0
  /** Binary broadcasts still to drop at the start of this join's replay. */
  private binaryToSkip = 0

  /** The last position delivered, or undefined before any. */
  get position(): string | undefined {
    return this.epoch === undefined ? undefined : `${this.epoch}:${this.offset}`
  }

  /**
   * A broadcast at `ref`: false when it was delivered already (a replay overlapping what came
   * live); else the cursor moves to it. Refs that are not positions are not ours to judge.
   */
  accept(ref: string): boolean {
    const colon = ref.lastIndexOf(':')
    const offset = colon > 0 ? Number(ref.slice(colon + 1)) : NaN
    if (!Number.isSafeInteger(offset)) return true
    const epoch = ref.slice(0, colon)
    if (epoch === this.epoch && offset <= this.offset) return false
    this.epoch = epoch
    this.offset = offset
    this.binarySince = this.binaryToSkip = 0
    return true
  }

  /**
   * A broadcast at `ref` (null: none, as for a binary broadcast) whose payload is bytes or not:
   * false when the channel delivered it already (see the class comment and accept()).
   */
  deliver(ref: string | null, bytes: boolean): boolean {
    if (bytes && this.binaryToSkip > 0) {
      this.binaryToSkip--
      if (ref !== null) this.moveTo(ref)
      return false
    }
    if (ref !== null) return this.accept(ref)
    if (bytes) this.binarySince++
    return true
  }

  private moveTo(ref: string): void {
    const colon = ref.lastIndexOf(':')
    const offset = colon > 0 ? Number(ref.slice(colon + 1)) : NaN
    if (!Number.isSafeInteger(offset)) return
    this.epoch = ref.slice(0, colon)
    this.offset = offset
  }

  /** The params that make the next join a resume (none before the first position is known). */
  joinParams(): Record<string, string> {
    const params: Record<string, string> = {}
    const position = this.position
    if (position !== undefined) {
      params[HISTORY_PARAMS.position] = position
      // This join is a resume: its replay starts with the binary broadcasts delivered since.
      this.binaryToSkip = this.binarySince
    }
    if (this.connection !== undefined) params[HISTORY_PARAMS.previous] = this.connection
    return params
  }

  /** A join's `hb_history`: the topic's position from now on, and for a resume, how it went. */
  noticed(notice: HistoryNotice): RecoverInfo | undefined {
    // The replay (if any) is over: the position below is where counting starts again.
    this.binarySince = this.binaryToSkip = 0
    if (typeof notice?.connection === 'string') this.connection = notice.connection
    if (typeof notice?.position === 'string') {
      const colon = notice.position.lastIndexOf(':')
      this.epoch = notice.position.slice(0, colon)
      this.offset = Number(notice.position.slice(colon + 1))
    } else if (notice?.position === null) {
      this.epoch = undefined // history off: nothing to resume from
    }
    if (notice?.resumed !== true) return undefined
    const info: RecoverInfo = { recovered: notice.recovered === true, replayed: notice.replayed ?? 0, position: notice.position ?? null }
    if (notice.reason !== undefined) info.reason = notice.reason
    return info
  }
}
