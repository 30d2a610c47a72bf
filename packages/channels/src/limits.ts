import type { Connection } from './connection.js'
import type { Logger } from './logger.js'

export interface LimitOptions {
  /** Largest frame a client may send, in bytes; a larger one closes the socket with 1009. */
  maxPayload: number
  /** Channels one socket may have joined at once; past it a join gets "too many channels". */
  maxChannelsPerSocket: number
  /** Messages per second per socket (token bucket, burst of the same size); 0 turns it off. */
  messagesPerSecond: number
  /** Joins per second per socket; 0 turns it off. */
  joinsPerSecond: number
  /** Rejected messages in a row after which the socket is closed with 1008. */
  maxRejectedMessages: number
  /** Sockets one hub accepts; past it an upgrade is refused with 503. 0 means no limit. */
  maxConnections: number
  /** Bytes buffered for one socket before it is treated as a slow consumer. */
  maxBufferedBytes: number
  /** What happens to a slow consumer: closed with 1013, or its frames are dropped. */
  slowConsumer: 'close' | 'drop'
}

export const defaultLimits: LimitOptions = {
  maxPayload: 1024 * 1024,
  maxChannelsPerSocket: 100,
  messagesPerSecond: 100,
  joinsPerSecond: 20,
  maxRejectedMessages: 50,
  maxConnections: 0,
  maxBufferedBytes: 16 * 1024 * 1024,
  slowConsumer: 'close',
}

/** Per-socket limit state, kept as plain fields on the connection (no object per socket). */
export interface RateState {
  messageTokens: number
  messageAt: number
  joinTokens: number
  joinAt: number
  rejected: number
}

/** A token bucket refilled continuously: `rate` tokens a second, at most `rate` banked. */
function take(tokens: number, at: number, now: number, rate: number): number {
  return Math.min(rate, tokens + ((now - at) * rate) / 1000)
}

export interface LimitCounters {
  rateLimited: number
  slowConsumers: number
  droppedFrames: number
}

/** Enforces the per-socket limits. One instance per hub; per-socket state on the connection. */
export class Limits {
  constructor(
    readonly options: LimitOptions,
    private readonly counters: LimitCounters,
    private readonly logger: Logger,
  ) {}

  /** 'ok', 'reject' (answer with an error) or 'close' (sustained abuse). */
  admitMessage(conn: Connection): 'ok' | 'reject' | 'close' {
    const rate = this.options.messagesPerSecond
    if (rate <= 0) return 'ok'
    const now = conn.lastSeen
    const tokens = take(conn.messageTokens, conn.messageAt, now, rate)
    conn.messageAt = now
    if (tokens >= 1) {
      conn.messageTokens = tokens - 1
      conn.rejected = 0
      return 'ok'
    }
    conn.messageTokens = tokens
    this.counters.rateLimited++
    return ++conn.rejected > this.options.maxRejectedMessages ? 'close' : 'reject'
  }

  /** A reason to refuse the join, or undefined. */
  admitJoin(conn: Connection, replacing: boolean): string | undefined {
    if (!replacing && conn.channels.size >= this.options.maxChannelsPerSocket) return 'too many channels'
    const rate = this.options.joinsPerSecond
    if (rate <= 0) return undefined
    const now = Date.now()
    const tokens = take(conn.joinTokens, conn.joinAt, now, rate)
    conn.joinAt = now
    if (tokens >= 1) {
      conn.joinTokens = tokens - 1
      return undefined
    }
    conn.joinTokens = tokens
    this.counters.rateLimited++
    return 'rate limited'
  }

  /**
   * A socket's buffer passed maxBufferedBytes. Returns true when the frame must not be written:
   * dropped ('drop') or the socket is being closed with 1013 ('close').
   */
  overflow(conn: Connection): boolean {
    if (this.options.slowConsumer === 'drop') {
      this.counters.droppedFrames++
      return true
    }
    this.counters.slowConsumers++
    this.logger.warn({ connection: conn.id }, 'slow consumer closed')
    void conn.close(1013, 'slow consumer')
    return true
  }
}
