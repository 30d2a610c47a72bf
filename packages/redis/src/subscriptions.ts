import type { Logger } from '@hornbeam/channels'
import type { Cluster, Redis } from 'ioredis'

/**
 * The Redis channels a node wants (`desired`) against those Redis has been told about
 * (`applied`). `add`/`delete` only change the wish; `sync()` sends the difference as at most one
 * UNSUBSCRIBE and one SUBSCRIBE, so a burst of joins in one turn costs two commands, and a topic
 * joined and left within the turn costs none. A lost connection forgets everything (`reset()`):
 * the next `sync()` subscribes exactly the desired set, which is what a node resubscribes after
 * an outage: the live topics, `control` and its own node channel, nothing stale.
 */
export class SubscriptionSet {
  private readonly desired = new Set<string>()
  private readonly applied = new Set<string>()
  /** Channels whose wish changed since the last sync. */
  private readonly dirty = new Set<string>()
  private scheduled = false
  /** Subscriptions Redis confirmed on the current connection, and who waits for one. */
  private readonly confirmed = new Set<string>()
  private readonly waiters = new Map<string, Array<() => void>>()

  constructor(
    private readonly connection: () => Redis | Cluster | undefined,
    private readonly logger: Logger,
  ) {}

  has(channel: string): boolean {
    return this.desired.has(channel)
  }

  get size(): number {
    return this.desired.size
  }

  channels(): string[] {
    return [...this.desired]
  }

  add(channel: string): void {
    if (this.desired.has(channel)) return
    this.desired.add(channel)
    this.touch(channel)
  }

  delete(channel: string): void {
    if (this.desired.delete(channel)) this.touch(channel)
  }

  clear(): void {
    for (const channel of this.desired) this.dirty.add(channel)
    this.desired.clear()
  }

  /** The connection closed: Redis dropped our subscriptions with it. */
  reset(): void {
    this.applied.clear()
    this.dirty.clear()
    this.confirmed.clear()
  }

  /** Resolves once Redis confirmed the subscription to `channel`; rejects after `timeoutMs`. */
  acknowledged(channel: string, timeoutMs: number): Promise<void> {
    if (this.confirmed.has(channel)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const list = this.waiters.get(channel)
        const i = list?.indexOf(done) ?? -1
        if (i >= 0) list!.splice(i, 1)
        reject(new Error(`redis adapter: no subscription to ${channel} within ${timeoutMs} ms`))
      }, timeoutMs)
      timer.unref()
      const done = () => {
        clearTimeout(timer)
        resolve()
      }
      const list = this.waiters.get(channel)
      if (list === undefined) this.waiters.set(channel, [done])
      else list.push(done)
    })
  }

  private confirm(channels: string[]): void {
    for (const channel of channels) {
      if (!this.applied.has(channel)) continue
      this.confirmed.add(channel)
      const list = this.waiters.get(channel)
      if (list === undefined) continue
      this.waiters.delete(channel)
      for (const done of list) done()
    }
  }

  private touch(channel: string): void {
    this.dirty.add(channel)
    if (this.scheduled) return
    this.scheduled = true
    queueMicrotask(() => {
      this.scheduled = false
      void this.sync()
    })
  }

  /**
   * Sends what changed (everything desired, after a reset). Resolves once Redis acknowledged,
   * to true if the connection was ready and every command succeeded. Never rejects.
   */
  async sync(): Promise<boolean> {
    const conn = this.connection()
    if (conn === undefined || conn.status !== 'ready') return false
    const subscribe: string[] = []
    const unsubscribe: string[] = []
    const candidates = this.applied.size === 0 ? new Set([...this.desired, ...this.dirty]) : this.dirty
    for (const channel of candidates) {
      const want = this.desired.has(channel)
      if (want && !this.applied.has(channel)) subscribe.push(channel)
      else if (!want && this.applied.has(channel)) unsubscribe.push(channel)
    }
    this.dirty.clear()
    for (const channel of subscribe) this.applied.add(channel)
    for (const channel of unsubscribe) this.applied.delete(channel)
    const sent: Array<Promise<boolean>> = []
    if (unsubscribe.length > 0) sent.push(this.send(conn, 'unsubscribe', unsubscribe))
    if (subscribe.length > 0) sent.push(this.send(conn, 'subscribe', subscribe))
    const results = await Promise.all(sent)
    return results.every(Boolean)
  }

  private async send(conn: Redis | Cluster, command: 'subscribe' | 'unsubscribe', channels: string[]): Promise<boolean> {
    try {
      await (conn as Redis)[command](...channels)
      if (command === 'subscribe') this.confirm(channels)
      else for (const channel of channels) this.confirmed.delete(channel)
      return true
    } catch (err) {
      // Most likely the connection died under the command: reset() follows and the next ready
      // resubscribes. Otherwise, mark them for another try with the next change.
      if (conn.status === 'ready') {
        this.logger.error({ err, command, channels: channels.length }, 'redis adapter: subscription command failed')
        for (const channel of channels) {
          if (command === 'subscribe') this.applied.delete(channel)
          else this.applied.add(channel)
          this.dirty.add(channel)
        }
      } else {
        this.logger.debug({ err, command }, 'redis adapter: subscription command lost with its connection')
      }
      return false
    }
  }
}
