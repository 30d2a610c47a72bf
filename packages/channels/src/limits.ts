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

/** A token bucket refilled continuously: `rate` tokens a second, at most `rate` banked. */
class Bucket {
  tokens: number
  last: number
  constructor(readonly rate: number, now: number) {
    this.tokens = rate
    this.last = now
  }
  take(now: number): boolean {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) * this.rate) / 1000)
    this.last = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

interface ConnectionLimits {
  messages?: Bucket
  joins?: Bucket
  rejected: number
}

export interface LimitCounters {
  rateLimited: number
  slowConsumers: number
  droppedFrames: number
}

/** Enforces the per-socket limits. One instance per hub; per-socket state in a WeakMap. */
export class Limits {
  private readonly state = new WeakMap<Connection, ConnectionLimits>()

  constructor(
    readonly options: LimitOptions,
    private readonly counters: LimitCounters,
    private readonly logger: Logger,
  ) {}

  private of(conn: Connection): ConnectionLimits {
    let s = this.state.get(conn)
    if (s === undefined) {
      const now = Date.now()
      s = {
        messages: this.options.messagesPerSecond > 0 ? new Bucket(this.options.messagesPerSecond, now) : undefined,
        joins: this.options.joinsPerSecond > 0 ? new Bucket(this.options.joinsPerSecond, now) : undefined,
        rejected: 0,
      }
      this.state.set(conn, s)
    }
    return s
  }

  /** 'ok', 'reject' (answer with an error) or 'close' (sustained abuse). */
  admitMessage(conn: Connection): 'ok' | 'reject' | 'close' {
    const s = this.of(conn)
    if (s.messages === undefined || s.messages.take(conn.lastSeen)) {
      s.rejected = 0
      return 'ok'
    }
    this.counters.rateLimited++
    return ++s.rejected > this.options.maxRejectedMessages ? 'close' : 'reject'
  }

  /** A reason to refuse the join, or undefined. */
  admitJoin(conn: Connection, replacing: boolean): string | undefined {
    const s = this.of(conn)
    if (!replacing && conn.channels.size >= this.options.maxChannelsPerSocket) return 'too many channels'
    if (s.joins !== undefined && !s.joins.take(Date.now())) {
      this.counters.rateLimited++
      return 'rate limited'
    }
    return undefined
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
