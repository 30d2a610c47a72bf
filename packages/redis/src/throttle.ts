import type { Logger } from '@hornbeam/channels'

/**
 * Counts a recurring problem (a dropped publish, a refused reconnect) and logs it at most once
 * per interval, with how many happened since the last line, so an outage cannot flood the log.
 */
export class ThrottledWarning {
  total = 0
  private sinceLog = 0
  private lastLog = -Infinity

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly intervalMs = 5000,
  ) {}

  hit(details: Record<string, unknown> = {}): void {
    this.total++
    this.sinceLog++
    const now = Date.now()
    if (now - this.lastLog < this.intervalMs) return
    this.logger.warn({ ...details, count: this.sinceLog, total: this.total }, this.message)
    this.sinceLog = 0
    this.lastLog = now
  }

  /** Starts a new episode: the next hit is logged at once. Returns how many were counted since the last line. */
  reset(): number {
    const unlogged = this.sinceLog
    this.sinceLog = 0
    this.lastLog = -Infinity
    return unlogged
  }
}
