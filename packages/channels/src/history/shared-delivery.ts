/**
 * Delivery on a node when the history is shared (Redis): broadcasts on topics with history reach
 * this node only from the adapter, with the position the store gave them, and are delivered in
 * that order. Per topic the node keeps the position it delivered last: a message at or before it
 * is a duplicate; one past the next is a gap, filled from the store before anything later goes
 * out (or, if the store no longer has it, the subscribers are told they missed something). A
 * joining socket first reads what it missed from the store (after this node's subscription to
 * the topic is in place), while live messages for it wait; then the replay, `hb_history`, and
 * what waited, without what the replay already held.
 */
import type { Backpressure } from '../backpressure.js'
import type { BroadcastMessage } from '../cluster.js'
import type { Logger } from '../logger.js'
import { OutboundMessage } from '../message.js'
import type { SharedHistory, StoredMessage } from './engine.js'
import { formatPosition, parsePosition, type Position } from './position.js'
import type { HistoryCounters, HistoryJoiner, HistoryNotice } from './topic-history.js'
import type { HistoryOptions, ResumeOutcome } from './types.js'

/** A subscriber while its join reads the store: live messages wait in `pending`. */
export interface SharedJoiner extends HistoryJoiner {
  pending: OutboundMessage[] | undefined
  readonly subscribed: boolean
  readonly backpressure: Backpressure
}

export interface SharedDeliveryHost {
  readonly logger: Logger
  readonly counters: HistoryCounters
  /** Writes to the topic's local subscribers (those still reading the store get it in `pending`). */
  write(topic: string, message: OutboundMessage, exclude: string | undefined): void
  /** Tells every local subscriber of `topic` it missed messages for good. */
  lost(topic: string, notice: Omit<HistoryNotice, 'connection'>): void
  /** Resolves once this node receives the topic's broadcasts (the adapter's subscription is in place). */
  subscribed(topic: string): Promise<void>
}

interface Cursor {
  epoch: string
  offset: number
  /** Live messages held while a gap before them is filled from the store. */
  held: StoredMessage[] | undefined
}

export class SharedDelivery {
  private readonly cursors = new Map<string, Cursor>()

  constructor(
    readonly engine: SharedHistory,
    private readonly host: SharedDeliveryHost,
  ) {}

  /** A broadcast with its position, from the adapter. */
  receive(message: BroadcastMessage & { position: string }, options: HistoryOptions): void {
    const position = parsePosition(message.position)
    if (position === undefined) return
    const stored: StoredMessage = { position: message.position, event: message.event, payload: message.payload }
    if (message.exclude !== undefined) stored.exclude = message.exclude
    const topic = message.topic
    let cursor = this.cursors.get(topic)
    if (cursor === undefined) this.cursors.set(topic, (cursor = { epoch: position.epoch, offset: position.offset - 1, held: undefined }))
    if (cursor.held !== undefined) return void cursor.held.push(stored)
    if (position.epoch !== cursor.epoch) {
      // The store's history restarted (Redis lost it, or a failover): what came before is gone.
      // The notice's position is just before this message, which comes next.
      this.host.lost(topic, { position: formatPosition(position.epoch, position.offset - 1), resumed: true, recovered: false, reason: 'unknown epoch', replayed: 0 })
      cursor.epoch = position.epoch
      cursor.offset = position.offset - 1
    }
    if (position.offset <= cursor.offset) return
    if (position.offset > cursor.offset + 1) return this.fill(topic, cursor, stored, options)
    this.deliver(topic, cursor, stored)
  }

  private deliver(topic: string, cursor: Cursor, stored: StoredMessage): void {
    const position = parsePosition(stored.position)!
    if (position.epoch !== cursor.epoch || position.offset <= cursor.offset) return
    cursor.offset = position.offset
    this.host.write(topic, toOutbound(topic, stored), stored.exclude)
  }

  /** Holds live messages, reads what came between from the store, then delivers all in order. */
  private fill(topic: string, cursor: Cursor, next: StoredMessage, options: HistoryOptions): void {
    cursor.held = [next]
    const since: Position = { epoch: cursor.epoch, offset: cursor.offset }
    const release = (missed: StoredMessage[] | undefined) => {
      const held = cursor.held ?? []
      cursor.held = undefined
      if (missed === undefined) {
        const first = parsePosition(held[0]!.position)!
        this.host.lost(topic, { position: formatPosition(first.epoch, first.offset - 1), resumed: true, recovered: false, reason: 'messages expired', replayed: 0 })
        cursor.offset = first.offset - 1
      }
      for (const stored of missed ?? []) this.deliver(topic, cursor, stored)
      for (const stored of held) this.deliver(topic, cursor, stored)
    }
    this.engine.after(topic, since, options).then(release, (err) => {
      this.host.logger.warn({ err, topic }, 'history: a gap in the live stream could not be filled')
      release(undefined)
    })
  }

  /** The topic has no subscriber here any more: its cursor goes (the next one starts afresh). */
  forget(topic: string): void {
    this.cursors.delete(topic)
  }

  /**
   * A join on a topic with shared history: live messages wait while the store is read (after this
   * node's subscription is in place, so nothing falls between), then the replay, `hb_history`
   * and what waited, less what the replay held.
   */
  async joined(joiner: SharedJoiner, options: HistoryOptions): Promise<void> {
    const topic = joiner.topic
    const request = joiner.historyRequest
    const resumed = request?.position !== undefined
    let outcome: ResumeOutcome<StoredMessage>
    try {
      await this.host.subscribed(topic)
      if (resumed) {
        const since = parsePosition(request!.position)
        outcome = since === undefined
          ? { ...(await this.engine.recent(topic, 0, options)), recovered: false, reason: 'malformed position' }
          : await this.engine.resume(topic, since, request!.previous, options)
      } else {
        outcome = { ...(await this.engine.recent(topic, request?.recent ?? 0, options)), recovered: true }
      }
    } catch (err) {
      this.host.logger.warn({ err, topic }, 'history: a join could not read the store')
      outcome = { position: '', recovered: false, reason: 'history unavailable', messages: [] }
    }
    const pending = joiner.pending ?? []
    joiner.pending = undefined
    if (!joiner.subscribed) return
    const conn = joiner.conn
    for (const stored of outcome.messages) conn.writeFrame(toOutbound(topic, stored).frameFor(conn.wire))
    this.host.counters.replayed += outcome.messages.length
    const notice: Omit<HistoryNotice, 'connection'> = { position: outcome.position || null, resumed, replayed: outcome.messages.length }
    if (resumed) {
      notice.recovered = outcome.recovered
      if (outcome.recovered) this.host.counters.resumesRecovered++
      else this.host.counters.resumesNotRecovered++
      if (outcome.reason !== undefined) notice.reason = outcome.reason
    }
    conn.send(joiner.joinRef, null, topic, 'hb_history', { ...notice, connection: conn.id })
    const top = parsePosition(outcome.position)
    const cursor = this.cursors.get(topic)
    if (cursor === undefined && top !== undefined) this.cursors.set(topic, { epoch: top.epoch, offset: top.offset, held: undefined })
    for (const message of pending) {
      const at = parsePosition(message.ref)
      if (top !== undefined && at !== undefined && at.epoch === top.epoch && at.offset <= top.offset) continue
      // Presence diffs waited too: they have no position, and are never dropped.
      conn.writeFrame(message.frameFor(conn.wire), message.ref === null ? 'presence' : joiner.backpressure, topic)
    }
  }
}

function toOutbound(topic: string, stored: StoredMessage): OutboundMessage {
  const message = new OutboundMessage(topic, stored.event, stored.payload)
  message.ref = stored.position
  return message
}
