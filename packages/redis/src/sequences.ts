/**
 * Counting what pub/sub lost. Redis pub/sub is at most once: a message published while a node's
 * subscription is not in place (its subscriber reconnecting, or a failed master's replica taking
 * over before the nodes' SSUBSCRIBEs reach it) is delivered to nobody, and nobody is told. So
 * every node numbers its broadcasts per topic (`seq` in the message, one counter per topic
 * channel), and a receiving node that sees a sender's numbers jump counts the messages between
 * as lost. Broadcasts positioned by the shared history carry no `seq`: the history fills their
 * gaps itself.
 *
 * The sender's counters are forgotten once a topic has been quiet for a generation (one to two
 * minutes); a sender's numbers that go back (a forgotten counter) start afresh at the receiver,
 * counting nothing. What a node misses after a sender's last message is noticed with the next one.
 */

/** The sender's side: the next number per channel, for the channels broadcast to lately. */
export class OutboundSequences {
  private current = new Map<string, number>()
  private previous = new Map<string, number>()
  private rotated: number

  constructor(
    private readonly generationMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {
    this.rotated = now()
  }

  /** The next number for `channel` (from 1). */
  next(channel: string): number {
    let n = this.current.get(channel)
    if (n === undefined) {
      if (this.now() - this.rotated >= this.generationMs) this.rotate()
      n = this.previous.get(channel) ?? 0
    }
    this.current.set(channel, ++n)
    return n
  }

  /** Channels with a counter (for tests). */
  get size(): number {
    return new Set([...this.current.keys(), ...this.previous.keys()]).size
  }

  private rotate(): void {
    this.previous = this.current
    this.current = new Map()
    this.rotated = this.now()
  }
}

/** The receiver's side: per subscribed channel, the last number seen from each sender. */
export class InboundGaps {
  private readonly seen = new Map<string, Map<string, number>>()
  /** Messages known missed: numbers skipped by a sender on a channel this node stayed subscribed to. */
  lost = 0

  /** Notes message `seq` from `sender` on `channel`; returns how many were skipped before it. */
  note(channel: string, sender: string, seq: number): number {
    let senders = this.seen.get(channel)
    if (senders === undefined) this.seen.set(channel, (senders = new Map()))
    const last = senders.get(sender)
    senders.set(sender, seq)
    if (last === undefined || seq <= last) return 0
    const skipped = seq - last - 1
    this.lost += skipped
    return skipped
  }

  /** The node left `channel`: what it did not hear meanwhile is not a loss. */
  forget(channel: string): void {
    this.seen.delete(channel)
  }
}
