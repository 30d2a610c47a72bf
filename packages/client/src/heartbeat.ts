/**
 * A socket's heartbeat: one goes out every `intervalMs` after the last was answered; one not
 * answered within the next interval means the connection is presumed dead. Also a one-off ping
 * outside the cycle (the long-poll fallback's check that an open WebSocket really passes frames).
 */
import { HEARTBEAT_EVENT } from './constants.js'
import type { Message } from './serializer.js'

/** What the heartbeat needs from its socket. */
export interface HeartbeatHost {
  /** The dialect's heartbeat topic (`phoenix`, or the hornbeam one). */
  readonly topic: string
  isConnected(): boolean
  makeRef(): string
  push(message: Message): boolean
  /** No answer within the interval. */
  timedOut(): void
}

export class Heartbeat {
  private timer: ReturnType<typeof setTimeout> | undefined
  private timeoutTimer: ReturnType<typeof setTimeout> | undefined
  private pendingRef: string | null = null
  private pingRef: string | null = null
  private pingAnswered: (() => void) | undefined

  constructor(
    private readonly host: HeartbeatHost,
    readonly intervalMs: number,
  ) {}

  /** Starts the cycle again from now (after open, and after each answer). */
  reset(): void {
    this.stop()
    if (this.intervalMs > 0) this.timer = setTimeout(() => this.send(), this.intervalMs)
  }

  stop(): void {
    clearTimeout(this.timer)
    clearTimeout(this.timeoutTimer)
    this.timer = this.timeoutTimer = undefined
    this.pendingRef = null
  }

  /** A heartbeat now, outside the cycle: `answered` runs when its reply comes. */
  ping(answered: () => void): void {
    this.pingRef = this.host.makeRef()
    this.pingAnswered = answered
    this.host.push({ join_ref: null, ref: this.pingRef, topic: this.host.topic, event: HEARTBEAT_EVENT, payload: {} })
  }

  /** Takes a received message if it answers one of ours (true), else leaves it to the channels. */
  answers(message: Message): boolean {
    const { topic, ref } = message
    if (topic !== this.host.topic || ref === null) return false
    if (ref === this.pingRef) {
      this.pingRef = null
      this.pingAnswered?.()
      return true
    }
    if (ref === this.pendingRef) {
      this.reset()
      return true
    }
    return false
  }

  private send(): void {
    if (!this.host.isConnected()) return
    this.pendingRef = this.host.makeRef()
    this.host.push({ join_ref: null, ref: this.pendingRef, topic: this.host.topic, event: HEARTBEAT_EVENT, payload: {} })
    this.timeoutTimer = setTimeout(() => this.host.timedOut(), this.intervalMs)
  }
}
