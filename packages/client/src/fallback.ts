/**
 * The automatic fallback to long-poll (`longPollFallbackMs`), as phoenix.js does it: a WebSocket
 * attempt that fails before it opens falls back at once; one that neither fails nor opens within
 * the time falls back then; one that opens gets the same time again to answer a heartbeat (a
 * proxy may accept the upgrade and pass nothing). Once on long-poll, the socket stays there, and
 * unless a WebSocket ever worked for it the fallback is remembered in `sessionStorage`, so the
 * page's next sockets start on long-poll at once.
 */

/** The part of the Web Storage interface the fallback uses (`sessionStorage` has it). */
export interface SessionStore {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
}

/** Where the fallback is remembered. */
export const FALLBACK_KEY = 'hb:fallback:LongPoll'

export class LongPollFallback {
  private timer: ReturnType<typeof setTimeout> | undefined
  /** The current WebSocket attempt opened (it is now waiting for its heartbeat's answer). */
  private opened = false
  /** A WebSocket of this socket answered a heartbeat once: the network carries them. */
  private passed = false
  /** A WebSocket attempt of this socket failed: that is what the fallback remembers. */
  private failedOnce = false

  constructor(
    readonly ms: number,
    private readonly store: SessionStore | undefined,
    /** Switches the socket to long-poll; `reason` is for the log. */
    private readonly fallBack: (reason: string) => void,
  ) {}

  /** Whether an earlier socket of this page fell back (and no WebSocket ever worked). */
  get memorized(): boolean {
    try {
      return this.store?.getItem(FALLBACK_KEY) === 'true'
    } catch {
      return false
    }
  }

  /** A WebSocket attempt is under way and has not opened yet. */
  get pending(): boolean {
    return this.timer !== undefined && !this.opened
  }

  /** A WebSocket attempt starts: it has `ms` to open. */
  attempt(): void {
    this.clear()
    this.timer = setTimeout(() => this.expire('the WebSocket did not open in time'), this.ms)
  }

  /** It opened: `ping` sends a heartbeat; its answer within `ms` keeps the WebSocket. */
  open(ping: (answered: () => void) => void): void {
    this.clear()
    this.opened = true
    this.timer = setTimeout(() => this.expire('the WebSocket did not answer a heartbeat in time'), this.ms)
    ping(() => {
      this.passed = true
      this.clear()
    })
  }

  /** The attempt failed (an error, or a close) before it opened: fall back now. */
  failed(reason: string): void {
    if (!this.pending) return
    this.clear()
    this.failedOnce = true
    this.fallBack(reason)
  }

  /** Long-poll opened after a fallback: remember it, unless a WebSocket ever worked. */
  longPollOpened(): void {
    if (this.passed || !this.failedOnce) return
    try {
      this.store?.setItem(FALLBACK_KEY, 'true')
    } catch {
      // storage full or denied: the next page starts with a WebSocket attempt again
    }
  }

  clear(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.opened = false
  }

  private expire(reason: string): void {
    this.timer = undefined
    this.opened = false
    this.failedOnce = true
    this.fallBack(reason)
  }
}
