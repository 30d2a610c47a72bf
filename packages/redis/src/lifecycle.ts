/**
 * The adapter's life as the hub sees it. `start()` waits until both connections are usable, and
 * fails on a timeout or on something no retry will mend; then the adapter is up. A connection
 * lost after that starts an outage, logged once; its end is logged with what was dropped
 * meanwhile and told to the `onReconnect` listeners, once per outage.
 */
import type { Logger } from '@hornbeam/channels'
import type { ThrottledWarning } from './throttle.js'

interface Waiter {
  resolve: () => void
  reject: (err: Error) => void
  timer?: NodeJS.Timeout
}

export interface LifecycleHooks {
  logger: Logger
  /** The adapter's drop counter: an outage's count is logged at its end. */
  drops: ThrottledWarning
  /** The connections are usable again: their error warnings start afresh. */
  fresh(): void
  /** start() failed: let go of everything. */
  giveUp(): void
}

export class Lifecycle {
  /** start() resolved: from now on a lost connection is an outage. */
  private up = false
  /** A connection was lost after start and the listeners have not been told of its return yet. */
  private outage = false
  private waiter: Waiter | undefined
  private readonly listeners: Array<() => void> = []
  /** Outages ended. */
  reconnects = 0

  constructor(private readonly hooks: LifecycleHooks) {}

  /** Up, and not in an outage. */
  get connected(): boolean {
    return this.up && !this.outage
  }

  /** What start() returns: resolves when `usable()` is first called, rejects after `timeoutMs` (0: never). */
  begin(timeoutMs: number, timeoutMessage: () => string): Promise<void> {
    const started = new Promise<void>((resolve, reject) => (this.waiter = { resolve, reject }))
    if (timeoutMs > 0) this.waiter!.timer = setTimeout(() => this.timedOut(timeoutMessage()), timeoutMs)
    return started
  }

  /** Both connections usable: finish start(), or end an outage and tell the listeners. */
  usable(): void {
    if (!this.up) {
      this.up = true
      const waiter = this.settle()
      this.hooks.fresh()
      waiter?.resolve()
      return
    }
    if (!this.outage) return
    this.outage = false
    this.reconnects++
    const { drops, logger } = this.hooks
    logger.warn({ droppedDuringOutage: drops.reset(), droppedTotal: drops.total }, 'redis adapter: reconnected to Redis; resyncing')
    this.hooks.fresh()
    for (const listener of this.listeners) {
      try {
        listener()
      } catch (err) {
        logger.error({ err }, 'redis adapter: reconnect listener failed')
      }
    }
  }

  /** A connection closed: after start, an outage begins (logged once). */
  lost(which: 'publisher' | 'subscriber'): void {
    if (!this.up || this.outage) return
    this.outage = true
    this.hooks.drops.reset()
    this.hooks.logger.warn({ connection: which }, 'redis adapter: lost Redis; reconnecting. Local delivery goes on; cluster messages are dropped until then')
  }

  /** Something no retry will mend (a server too old, not a cluster): fail start(), or log once up. */
  fatal(err: Error): void {
    this.hooks.logger.error({ err }, err.message)
    const waiter = this.settle()
    if (waiter === undefined) return
    waiter.reject(err)
    this.hooks.giveUp()
  }

  onReconnect(listener: () => void): void {
    this.listeners.push(listener)
  }

  /** The adapter closes: a pending start() fails, the listeners go. */
  close(): void {
    this.listeners.length = 0
    this.settle()?.reject(new Error('redis adapter: closed before Redis was ready'))
  }

  private timedOut(message: string): void {
    const waiter = this.settle()
    if (waiter === undefined) return
    const err = new Error(message)
    this.hooks.logger.error({ err }, 'redis adapter: giving up connecting')
    waiter.reject(err)
    this.hooks.giveUp()
  }

  /** The pending start(), taken (its timer stopped); undefined when there is none. */
  private settle(): Waiter | undefined {
    const waiter = this.waiter
    this.waiter = undefined
    if (waiter?.timer) clearTimeout(waiter.timer)
    return waiter
  }
}
