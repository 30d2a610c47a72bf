/**
 * Cluster mode's check for half-open connections. A Cluster keeps the connection it subscribes on
 * to itself, so it cannot be PINGed as health.ts does on one Redis; instead the node publishes a
 * token on its own channel (`node:<id>`) every `intervalMs`, and expects it back through the
 * subscriber before the next one:
 *
 * - the PUBLISH not answered by then: the publisher is stuck, and is reconnected (even if the
 *   token came back: a connection may still carry what it is given and no longer hear answers);
 * - answered, but the token not heard: the subscriber is deaf, and is reconnected.
 *
 * Each round also proves the whole path (publisher, the cluster bus, subscriber) that presence,
 * heartbeats and long-poll relays travel.
 */

/** Tokens are not JSON objects, so the adapter tells them from cluster messages by their start. */
export const ECHO_PREFIX = 'hb-echo:'

export interface EchoHooks {
  intervalMs: number
  /** Both connections ready and subscribed: a round can prove something. */
  ready(): boolean
  /** Publishes `token` on this node's own channel; resolves when Redis answered. */
  publish(token: string): Promise<unknown>
  publisherStuck(): void
  subscriberDeaf(): void
}

interface Round {
  token: string
  /** Redis answered the PUBLISH. */
  answered: boolean
  /** The token came back through the subscriber. */
  heard: boolean
  /** The PUBLISH was refused (the connection closed meanwhile): the round proves nothing. */
  refused: boolean
}

export class EchoWatch {
  private rounds = 0
  private inFlight: Round | undefined
  private readonly timer: NodeJS.Timeout | undefined

  constructor(private readonly hooks: EchoHooks) {
    if (hooks.intervalMs > 0) {
      this.timer = setInterval(() => this.tick(), hooks.intervalMs)
      this.timer.unref()
    }
  }

  /** A token came back through the subscriber. */
  heard(token: string): void {
    if (this.inFlight?.token === token) this.inFlight.heard = true
  }

  stop(): void {
    clearInterval(this.timer)
  }

  private tick(): void {
    const last = this.inFlight
    this.inFlight = undefined
    if (!this.hooks.ready()) return
    if (last !== undefined && !last.refused) {
      // Both must hold: a PUBLISH that reached Redis may come back even if its answer does not.
      if (!last.answered) return this.hooks.publisherStuck()
      if (!last.heard) return this.hooks.subscriberDeaf()
    }
    const round: Round = { token: `${ECHO_PREFIX}${++this.rounds}`, answered: false, heard: false, refused: false }
    this.inFlight = round
    this.hooks.publish(round.token).then(
      () => void (round.answered = true),
      () => void (round.refused = true),
    )
  }
}
