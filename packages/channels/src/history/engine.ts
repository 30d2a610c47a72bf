/**
 * A history shared by every node of a cluster (`@hornbeam/redis` keeps one in Redis Streams), as
 * a pub/sub adapter offers it: positions are assigned in the shared store, so a client may resume
 * on any node, and every node delivers a topic's messages in the order the store gave them.
 *
 * A broadcast on a topic with history goes through `append`, which stores it, gives it its
 * position and publishes it on `topic:<topic>` in one step; every node subscribed to that channel
 * (the sender's included) then gets it from the adapter with its `position` and delivers it.
 */
import type { HistoryOptions, ResumeOutcome } from './types.js'
import type { Position } from './position.js'

/** A message as the shared history keeps it. */
export interface StoredMessage {
  /** `<epoch>:<offset>` */
  position: string
  event: string
  payload: unknown
  /** The connection a broadcastFrom left out. */
  exclude?: string
}

export interface SharedHistory {
  /** Stores, positions and publishes a broadcast; resolves with its position, rejects if it could not. */
  append(topic: string, message: { event: string; payload: unknown; exclude?: string }, options: HistoryOptions): Promise<string>
  /** What a client that last saw `since` missed (see ResumeOutcome); `previous` as in the memory engine. */
  resume(topic: string, since: Position, previous: string | undefined, options: HistoryOptions): Promise<ResumeOutcome<StoredMessage>>
  /** The last `count` messages and the topic's position. */
  recent(topic: string, count: number, options: HistoryOptions): Promise<{ position: string; messages: StoredMessage[] }>
  /** The messages after `since` in its epoch (to fill a gap in what a node received live), or undefined if they are gone. */
  after(topic: string, since: Position, options: HistoryOptions): Promise<StoredMessage[] | undefined>
}
