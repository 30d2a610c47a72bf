import type { Logger } from './logger.js'

export interface LimitOptions {
  /** Largest frame a client may send, in bytes; a larger one closes the socket with 1009. */
  maxPayload: number
  /** Longest topic name a client may send, in UTF-8 bytes; a longer one gets an error reply. */
  maxTopicLength: number
  /** Longest event name a client may send, in UTF-8 bytes; a longer one gets an error reply. */
  maxEventLength: number
  /** Channels one socket may have joined at once; past it a join gets "too many channels". */
  maxChannelsPerSocket: number
  /** Messages per second per socket (token bucket, burst of the same size); 0 turns it off. */
  messagesPerSecond: number
  /** Joins per second per socket; 0 turns it off. */
  joinsPerSecond: number
  /**
   * Rate-limited messages after which the socket is closed with 1008. Each rejected message adds
   * one to the socket's abuse score, which halves every 10 s: a flood passes it quickly, an
   * occasional burst over the rate never does.
   */
  maxRejectedMessages: number
  /** Sockets one hub accepts; past it an upgrade is refused with 503. 0 means no limit. */
  maxConnections: number
  /** Bytes buffered for one socket before it is treated as a slow consumer. */
  maxBufferedBytes: number
  /**
   * What happens to a frame for a slow consumer: it is closed with 1013, or the frame is dropped.
   * The default for the broadcasts of channels without `backpressure`, and for pushes; replies
   * and presence frames are never dropped (see backpressure.ts).
   */
  slowConsumer: 'close' | 'drop'
  /** The largest presence a socket may track: its key and meta as JSON, in bytes. */
  maxPresenceMetaBytes: number
}

export const defaultLimits: LimitOptions = {
  maxPayload: 64 * 1024,
  maxTopicLength: 255,
  maxEventLength: 255,
  maxChannelsPerSocket: 100,
  messagesPerSecond: 100,
  joinsPerSecond: 20,
  maxRejectedMessages: 50,
  maxConnections: 0,
  maxBufferedBytes: 4 * 1024 * 1024,
  slowConsumer: 'close',
  maxPresenceMetaBytes: 8 * 1024,
}

/** The abuse score halves in this time. */
const ABUSE_HALF_LIFE_MS = 10_000

/** Per-socket limit state, kept as plain fields on the connection (no object per socket). */
export interface RateState {
  /** Updated on every frame: the time the limits read. */
  lastSeen: number
  messageTokens: number
  messageAt: number
  joinTokens: number
  joinAt: number
  abuse: number
  abuseAt: number
  rejectionAnswered: boolean
  readonly channels: { readonly size: number }
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

/**
 * What to do with a message: handle it; answer it with "rate limited"; drop it unanswered (the
 * socket was already told, and is still over the rate); close the socket (sustained abuse).
 */
export type Admission = 'ok' | 'reject' | 'drop' | 'close'

/** Enforces the per-socket limits. One instance per hub; per-socket state on the connection. */
export class Limits {
  constructor(
    readonly options: LimitOptions,
    private readonly counters: LimitCounters,
    private readonly logger: Logger,
  ) {}

  admitMessage(conn: RateState): Admission {
    const rate = this.options.messagesPerSecond
    if (rate <= 0) return 'ok'
    const now = conn.lastSeen
    const tokens = take(conn.messageTokens, conn.messageAt, now, rate)
    conn.messageAt = now
    if (tokens >= 1) {
      conn.messageTokens = tokens - 1
      conn.rejectionAnswered = false
      return 'ok'
    }
    conn.messageTokens = tokens
    this.counters.rateLimited++
    // The score decays instead of resetting: admitted messages in between do not clear a flood.
    conn.abuse = conn.abuse * 2 ** (-(now - conn.abuseAt) / ABUSE_HALF_LIFE_MS) + 1
    conn.abuseAt = now
    if (conn.abuse > this.options.maxRejectedMessages) return 'close'
    if (conn.rejectionAnswered) return 'drop'
    conn.rejectionAnswered = true
    return 'reject'
  }

  /** An error reason when the topic or event name is too long, else undefined. */
  checkNames(topic: string, event: string): string | undefined {
    if (tooLong(topic, this.options.maxTopicLength)) return `topic too long (maxTopicLength is ${this.options.maxTopicLength} bytes)`
    if (tooLong(event, this.options.maxEventLength)) return `event too long (maxEventLength is ${this.options.maxEventLength} bytes)`
    return undefined
  }

  /** A reason to refuse the join, or undefined. */
  admitJoin(conn: RateState, replacing: boolean): string | undefined {
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
}

/** UTF-8 length over `max`, without encoding short ASCII-length names. */
function tooLong(name: string, max: number): boolean {
  if (name.length > max) return true
  return name.length * 3 > max && Buffer.byteLength(name) > max
}
