/**
 * One long-poll session, presented to a Connection as the small part of a WebSocket it uses:
 * `send`, `close(code, reason)`, `terminate`, `bufferedAmount`, `readyState` and the `message`
 * and `close` events (and `drain` once a poll took what was queued). Connection finds none of ws's internals on it, so it writes through
 * `send`, and the frames it sends wait here for the client's next poll. What the client POSTs
 * comes in as `message` events, one per frame, exactly as WebSocket frames do: the connection's
 * limits, decoding and channels are the same for both transports.
 */
import { EventEmitter } from 'node:events'

/** How a poll is answered: 200 with messages, 204 (nothing came in time), or 410 (session gone). */
export type PollAnswer = (status: 200 | 204 | 410, messages: string[]) => void

/** What a session needs from its registry. */
export interface SessionHost {
  /** A poll waits: it is answered with 204 after the poll timeout unless messages come first. */
  park(session: LongPollSession): void
  unpark(session: LongPollSession): void
  /** Messages were queued for a waiting poll: answer it at the end of this turn, with any others. */
  scheduleFlush(session: LongPollSession): void
  /** The session is done with: it leaves the registry. */
  remove(session: LongPollSession): void
}

/** One entry of a POSTed batch: a text frame, or the bytes of a base64 line (a binary frame). */
export interface BatchEntry {
  data: Buffer
  binary: boolean
}

const OPEN = 1 as const
const CLOSED = 3 as const

export class LongPollSession extends EventEmitter {
  /** ws's readyState numbers: 1 while open, 3 once closed. */
  readyState: number = OPEN
  /** Bytes queued for the client (the slow-consumer bound reads it, as it reads ws's). */
  bufferedAmount = 0
  /** When a request for this session last came in or a poll was last answered. */
  lastActive = Date.now()
  /** The connection's clock of activity (its idle sweep): a poll counts, as a heartbeat does. */
  conn: { lastSeen: number } | undefined
  private outbox: Buffer[] = []
  private waiting: PollAnswer | undefined

  constructor(
    readonly id: string,
    readonly token: string,
    private readonly host: SessionHost,
  ) {
    super()
  }

  get polling(): boolean {
    return this.waiting !== undefined
  }

  get closed(): boolean {
    return this.readyState === CLOSED
  }

  // -- the WebSocket surface Connection uses

  /**
   * Queues one text frame for the next poll. No binary frame comes here: a session's wire gives
   * bytes their JSON form (transport.ts), since phoenix.js parses every polled message as JSON.
   */
  send(data: Buffer | string | ArrayBuffer | ArrayBufferView, options?: { binary?: boolean } | ((err?: Error) => void), cb?: (err?: Error) => void): void {
    const done = typeof options === 'function' ? options : cb
    if (this.readyState !== OPEN) return done?.(new Error('long-poll session closed'))
    const frame = toBuffer(data)
    this.outbox.push(frame)
    this.bufferedAmount += frame.length
    if (this.waiting !== undefined) this.host.scheduleFlush(this)
    done?.()
  }

  /**
   * Ends the session: a waiting poll gets what is queued (200), or 410 when nothing is, so the
   * client opens a new session; a later poll picks up what is left, then gets 410. `close` is
   * emitted after this call returns, as ws emits it after its closing handshake.
   */
  close(code = 1000, reason = ''): void {
    if (this.readyState === CLOSED) return
    this.readyState = CLOSED
    this.touch()
    if (this.waiting !== undefined) this.answer(this.outbox.length > 0 ? 200 : 410)
    if (this.outbox.length === 0) this.host.remove(this)
    process.nextTick(() => this.emit('close', code, Buffer.from(reason)))
  }

  /** Ends the session and drops what is queued. */
  terminate(): void {
    this.outbox = []
    this.bufferedAmount = 0
    if (this.readyState !== CLOSED) this.close(1006, '')
    else if (this.waiting !== undefined) this.answer(410)
    this.host.remove(this)
  }

  // -- the client's requests

  /** A GET: answered now with what is queued, or parked until something is (or the poll timeout). */
  poll(answer: PollAnswer): void {
    this.touch()
    // A newer poll replaces a waiting one (its client gave up on it): that one ends empty.
    if (this.waiting !== undefined) this.answer(204)
    if (this.outbox.length > 0) {
      const messages = this.drain()
      if (this.readyState === CLOSED) this.host.remove(this)
      return answer(200, messages)
    }
    if (this.readyState === CLOSED) {
      this.host.remove(this)
      return answer(410, [])
    }
    this.waiting = answer
    this.host.park(this)
  }

  /** The client went away while its poll waited (or the poll's request was answered elsewhere). */
  cancelPoll(answer: PollAnswer): void {
    if (this.waiting !== answer) return
    this.waiting = undefined
    this.host.unpark(this)
    this.touch()
  }

  /** The poll timeout passed with nothing to send: 204, and the client polls again. */
  expirePoll(): void {
    if (this.waiting !== undefined) this.answer(204)
  }

  /** Answers a waiting poll with what is queued (end of the turn in which it was queued). */
  flush(): void {
    if (this.waiting !== undefined && this.outbox.length > 0) this.answer(200)
  }

  /**
   * A POSTed batch: each entry reaches the connection as a WebSocket frame would. A binary entry
   * (a base64 line, decoded by the batch parser) is handed over as a binary frame: the hook
   * through which a phoenix v2 binary codec on the connection will receive binary pushes sent
   * over long-poll, unchanged. Returns false when the session was closed (before or meanwhile).
   */
  receiveBatch(entries: readonly BatchEntry[]): boolean {
    this.touch()
    for (const entry of entries) {
      if (this.readyState !== OPEN) return false
      this.emit('message', entry.data, entry.binary)
    }
    return this.readyState === OPEN
  }

  /** Marks activity now: for the session timeout, and for the connection's idle sweep. */
  touch(): void {
    this.lastActive = Date.now()
    if (this.conn !== undefined) this.conn.lastSeen = this.lastActive
  }

  private answer(status: 200 | 204 | 410): void {
    const answer = this.waiting!
    this.waiting = undefined
    this.host.unpark(this)
    this.touch()
    const messages = status === 200 ? this.drain() : []
    if (this.readyState === CLOSED && this.outbox.length === 0) this.host.remove(this)
    answer(status, messages)
  }

  private drain(): string[] {
    const messages = this.outbox.map((frame) => frame.toString('utf8'))
    this.outbox = []
    this.bufferedAmount = 0
    // As a TCP socket's: a connection keeping broadcasts for this client (backpressure.ts) queues them now.
    this.emit('drain')
    return messages
  }
}

function toBuffer(data: Buffer | string | ArrayBuffer | ArrayBufferView): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  return Buffer.from(data)
}
