/**
 * The long-poll sessions this node holds. No timer per session: waiting polls are kept in the
 * order they started, and since every poll waits the same time that is the order of their
 * deadlines, so one timer, set for the oldest, answers them with 204 in turn; sessions whose
 * client stopped polling are closed by the endpoint's sweep (`sweep`); messages queued for
 * waiting polls are sent at the end of the turn, one response per session for any number of
 * frames (as frames to a WebSocket are corked per turn).
 */
import type { LongPollSession, SessionHost } from './session.js'

export interface RegistryOptions {
  pollTimeoutMs: number
  sessionTimeoutMs: number
}

export class SessionRegistry implements SessionHost {
  private readonly sessions = new Map<string, LongPollSession>()
  /** Waiting polls, oldest first, with their deadlines. */
  private readonly parked = new Map<LongPollSession, number>()
  private timer: NodeJS.Timeout | undefined
  private readonly flushQueue: LongPollSession[] = []

  constructor(
    private readonly options: RegistryOptions,
    /** Counts the sessions held here (hub.stats().longPollSessions). */
    private readonly counters: { longPollSessions: number },
  ) {}

  get size(): number {
    return this.sessions.size
  }

  add(session: LongPollSession): void {
    this.sessions.set(session.id, session)
    this.counters.longPollSessions = this.sessions.size
  }

  get(id: string): LongPollSession | undefined {
    return this.sessions.get(id)
  }

  remove(session: LongPollSession): void {
    if (this.sessions.get(session.id) !== session) return
    this.sessions.delete(session.id)
    this.parked.delete(session)
    this.counters.longPollSessions = this.sessions.size
  }

  // -- waiting polls

  park(session: LongPollSession): void {
    this.parked.delete(session)
    this.parked.set(session, Date.now() + this.options.pollTimeoutMs)
    this.arm()
  }

  unpark(session: LongPollSession): void {
    this.parked.delete(session)
  }

  private arm(): void {
    if (this.timer !== undefined) return
    const first = this.parked.values().next()
    if (first.done === true) return
    this.timer = setTimeout(() => this.expire(), Math.max(0, first.value - Date.now()))
    this.timer.unref()
  }

  /** Answers with 204 every poll past its deadline; sets the timer for the next one. */
  private expire(): void {
    this.timer = undefined
    const now = Date.now()
    for (const [session, deadline] of this.parked) {
      if (deadline > now) break
      this.parked.delete(session)
      session.expirePoll()
    }
    this.arm()
  }

  scheduleFlush(session: LongPollSession): void {
    if (this.flushQueue.push(session) === 1) setImmediate(() => this.flushAll())
  }

  private flushAll(): void {
    const queue = this.flushQueue.splice(0)
    for (const session of queue) session.flush()
  }

  // -- expiry

  /**
   * Called by the endpoint's sweep: a session with no poll waiting and no request for
   * sessionTimeoutMs is closed (its client stopped polling); its channels leave, as a closed
   * socket's do. A closed session still holding frames nobody came for goes after as long.
   */
  sweep(now: number): void {
    const before = now - this.options.sessionTimeoutMs
    for (const session of this.sessions.values()) {
      if (session.polling || session.lastActive >= before) continue
      if (session.closed) this.remove(session)
      else session.close(1001, 'long-poll session timeout')
    }
  }

  /** On shutdown: stops the poll timer (the sessions were closed with the connections). */
  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    for (const session of [...this.sessions.values()]) session.terminate()
  }
}
