/**
 * History as the topic registry uses it: which topics keep one (their channel pattern's
 * setting), appending broadcasts, and what a joining socket is sent: the messages it missed (or
 * asked for with `hb_recent`), then `hb_history` with the topic's position and, for a resume,
 * whether it was complete.
 */
import type { FramePolicy } from '../backpressure.js'
import type { Ref, Wire } from '../dialect.js'
import type { OutboundMessage } from '../message.js'
import type { KeptFrame, MemoryHistory } from './memory.js'
import { parsePosition } from './position.js'
import type { HistoryOptions, HistoryRequest, ResumeOutcome } from './types.js'

/** The event that closes a join's history part, on the joined topic, with the join's join_ref. */
export const HISTORY_EVENT = 'hb_history'

/** What `hb_history` carries. */
export interface HistoryNotice {
  /** The topic's position once the client has what was sent: the next resume starts there. */
  position: string | null
  /** Whether the join asked to resume from a position. */
  resumed: boolean
  /** For a resume: whether every missed message was replayed. */
  recovered?: boolean
  /** Why not, when it was not. */
  reason?: string
  /** Messages sent before this notice (replayed or recent). */
  replayed: number
  /** This connection's id, for the client's next resume (`hb_previous`). */
  connection: string
}

/** The joining socket, as far as history is concerned. */
export interface HistoryJoiner {
  readonly topic: string
  readonly joinRef: Ref
  readonly historyRequest?: HistoryRequest | undefined
  readonly conn: {
    readonly id: string
    readonly wire: Wire
    writeFrame(frame: Buffer, policy?: FramePolicy, topic?: string): void
    send(joinRef: Ref, ref: Ref, topic: string, event: string, payload: unknown): void
  }
}

export interface HistoryCounters {
  /** Broadcasts a shared history could not take (never delivered). */
  broadcastsFailed: number
  replayed: number
  resumesRecovered: number
  resumesNotRecovered: number
}

export class TopicHistory {
  constructor(
    readonly engine: MemoryHistory,
    /** The history setting of the channel pattern a topic matches (false: off, or no channel). */
    readonly policyFor: (topic: string) => HistoryOptions | false,
    readonly counters: HistoryCounters,
  ) {}

  append(topic: string, options: HistoryOptions, message: OutboundMessage, exclude: string | undefined): void {
    this.engine.append(topic, options, message, exclude)
  }

  /** Right after a join's presence_state: what it missed, then `hb_history`. */
  joined(joiner: HistoryJoiner, options: HistoryOptions | false): void {
    const request = joiner.historyRequest
    const resumed = request?.position !== undefined
    if (options === false) {
      if (resumed) {
        this.counters.resumesNotRecovered++
        this.notify(joiner, { position: null, resumed, recovered: false, reason: 'history off', replayed: 0 })
      }
      return
    }
    let outcome: ResumeOutcome<KeptFrame>
    if (resumed) {
      const since = parsePosition(request!.position)
      outcome = since === undefined
        ? { ...this.engine.recent(joiner.topic, options, 0), recovered: false, reason: 'malformed position' }
        : this.engine.resume(joiner.topic, options, since, request!.previous)
    } else {
      outcome = { ...this.engine.recent(joiner.topic, options, request?.recent ?? 0), recovered: true }
    }
    const conn = joiner.conn
    for (const message of outcome.messages) conn.writeFrame(message.frameFor(conn.wire))
    this.counters.replayed += outcome.messages.length
    const notice: Omit<HistoryNotice, 'connection'> = { position: outcome.position, resumed, replayed: outcome.messages.length }
    if (resumed) {
      notice.recovered = outcome.recovered
      if (outcome.recovered) this.counters.resumesRecovered++
      else this.counters.resumesNotRecovered++
      if (outcome.reason !== undefined) notice.reason = outcome.reason
    }
    this.notify(joiner, notice)
  }

  private notify(joiner: HistoryJoiner, notice: Omit<HistoryNotice, 'connection'>): void {
    joiner.conn.send(joiner.joinRef, null, joiner.topic, HISTORY_EVENT, { ...notice, connection: joiner.conn.id })
  }
}
