/**
 * In Node, lets the process exit while only this timer is pending. For timers that are no
 * reason to stay alive on their own (a push's timeout after the socket is gone); no-op in browsers.
 */
export function unref<T>(handle: T): T {
  ;(handle as { unref?: () => void }).unref?.()
  return handle
}

/** Backoff: the delay before the n-th try (1-based), in milliseconds. */
export type Backoff = (tries: number) => number

/**
 * Spreads a delay over `[base × (1 − jitter), base]`. Clients that lost the same server at the
 * same moment then come back spread out instead of all in the same millisecond.
 */
export function jittered(baseMs: number, jitter: number, random: () => number = Math.random): number {
  const spread = Math.min(1, Math.max(0, jitter))
  const delay = baseMs * (1 - spread * random())
  return Math.max(0, delay)
}

/**
 * Calls `callback` after a backoff delay that grows with each try, until reset(). Used for the
 * socket's reconnects and each channel's rejoins.
 */
export class Timer {
  /** Tries made since the last reset(). */
  tries = 0
  private handle: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly callback: () => void,
    private readonly backoff: Backoff,
    private readonly jitter = 0,
    private readonly random: () => number = () => Math.random(),
  ) {}

  /** Schedules the next try, replacing a pending one. Returns the delay chosen. */
  scheduleTimeout(): number {
    return this.scheduleIn(jittered(this.backoff(this.tries + 1), this.jitter, this.random))
  }

  /** Schedules the next try in `delay` ms, replacing a pending one (it still counts as a try). */
  scheduleIn(delay: number): number {
    this.clear()
    this.handle = setTimeout(() => {
      this.handle = undefined
      this.tries += 1
      this.callback()
    }, delay)
    return delay
  }

  /** True while a try is scheduled. */
  get pending(): boolean {
    return this.handle !== undefined
  }

  /** Cancels a scheduled try but keeps the count, so the next delay still backs off. */
  clear(): void {
    if (this.handle !== undefined) clearTimeout(this.handle)
    this.handle = undefined
  }

  /** Cancels a scheduled try and starts the backoff over. */
  reset(): void {
    this.tries = 0
    this.clear()
  }
}
