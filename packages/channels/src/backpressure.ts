/**
 * What happens to a frame bound for a socket that is over its buffer bound (maxBufferedBytes).
 * The bound is one per socket; each frame brings its own policy:
 *
 * - a broadcast, its channel pattern's `backpressure` (the hub's `slowConsumer` when unset):
 *   `close` the socket with 1013, `drop` the frame (counted), or keep it as the `latest` of its
 *   topic (conflation: a newer one replaces it, counted, until the socket drains);
 * - a reply: never dropped, queued past the bound by up to an eighth of it, else 1013;
 * - a presence frame: never dropped nor conflated (a client's presence list would go wrong): 1013;
 * - anything else (pushes, lifecycle events, history replays): the hub's `slowConsumer`.
 *
 * A socket's pending bytes are its transport's buffer plus the frames kept for it. While frames
 * are kept, every write comes here first: the kept frames go out (in the order their newest
 * messages came) as soon as they fit, before anything written after them. Nothing here is
 * allocated for a socket that never lags: the Backlog is created on its first kept frame, and
 * goes when the socket drains ('drain' of its TCP socket or long-poll session).
 */
import type { Counters } from './stats.js'
import type { Logger } from './logger.js'

/** What a channel pattern's broadcasts do for a socket over its bound. */
export type Backpressure = 'close' | 'drop' | 'latest'

/** How a frame is treated past its socket's bound (see the module comment). */
export type FramePolicy = Backpressure | 'reply' | 'presence'

export const BACKPRESSURE_POLICIES: readonly Backpressure[] = ['close', 'drop', 'latest']

/** What may be queued past the bound for a reply, as a fraction of it. */
const REPLY_ALLOWANCE = 1 / 8

/** Where the socket's 'drain' comes from: its TCP socket, or its long-poll session. */
export interface DrainSource {
  on(event: 'drain', listener: () => void): unknown
  removeListener(event: 'drain', listener: () => void): unknown
}

/** What this module needs of a connection. */
export interface Lagging {
  readonly id: string
  readonly host: { readonly options: { readonly maxBufferedBytes: number }; readonly counters: Counters; readonly logger: Logger }
  /** The frames kept for it while it lags; undefined while it does not. */
  lag: Backlog | undefined
  /** Bytes its transport has queued. */
  buffered(): number
  /** Writes a frame now, counted, whatever the bound. */
  put(frame: Buffer): void
  drainSource(): DrainSource
  close(code: number, reason: string): Promise<void>
}

/** The newest pending broadcast per `latest` topic, for one lagging socket. */
export class Backlog {
  readonly kept = new Map<string, Buffer>()
  bytes = 0
  readonly onDrain: () => void
  readonly source: DrainSource

  constructor(conn: Lagging) {
    this.onDrain = () => void flush(conn)
    this.source = conn.drainSource()
    this.source.on('drain', this.onDrain)
  }
}

/**
 * Called when the frame would carry the socket past its bound, or frames are kept for it: true
 * when it may be written now (kept frames that fit went first), false when it was dropped, kept
 * or the socket is being closed.
 */
export function admit(conn: Lagging, frame: Buffer | undefined, length: number, policy: FramePolicy, topic: string): boolean {
  const max = conn.host.options.maxBufferedBytes
  if (conn.lag !== undefined) flush(conn)
  const pending = conn.buffered() + (conn.lag?.bytes ?? 0)
  if (pending + length <= max) return true
  const counters = conn.host.counters
  // A `latest` frame over the bound by itself could never be written: it is dropped.
  if (policy === 'latest' && frame !== undefined && length <= max) return keep(conn, topic, frame)
  if (policy === 'latest' || policy === 'drop') {
    counters.droppedFrames++
    return false
  }
  // A reply goes ahead of kept frames, if any: it is small, and the client waits for it.
  if (policy === 'reply' && pending + length <= max * (1 + REPLY_ALLOWANCE)) return true
  counters.slowConsumers++
  conn.host.logger.warn({ connection: conn.id }, 'slow consumer closed')
  void conn.close(1013, 'slow consumer')
  return false
}

function keep(conn: Lagging, topic: string, frame: Buffer): false {
  const lag = (conn.lag ??= new Backlog(conn))
  const older = lag.kept.get(topic)
  if (older !== undefined) {
    conn.host.counters.conflatedFrames++
    lag.bytes -= older.length
    // Kept frames go out in the order their newest messages came.
    lag.kept.delete(topic)
  }
  lag.kept.set(topic, frame)
  lag.bytes += frame.length
  return false
}

/** Writes the kept frames that fit, in order; the backlog goes once they all have. */
export function flush(conn: Lagging): void {
  const lag = conn.lag
  if (lag === undefined) return
  const max = conn.host.options.maxBufferedBytes
  for (const [topic, frame] of lag.kept) {
    if (conn.buffered() + frame.length > max) return
    lag.kept.delete(topic)
    lag.bytes -= frame.length
    conn.put(frame)
  }
  release(conn)
}

/** The topic's kept frame goes (its channel ended): nothing of it may follow a rejoin's replay. */
export function forget(conn: Lagging, topic: string): void {
  const lag = conn.lag
  const frame = lag?.kept.get(topic)
  if (frame === undefined) return
  lag!.kept.delete(topic)
  lag!.bytes -= frame.length
  if (lag!.kept.size === 0) release(conn)
}

/** The socket no longer lags (or is closing): its backlog and drain listener go. */
export function release(conn: Lagging): void {
  const lag = conn.lag
  if (lag === undefined) return
  conn.lag = undefined
  lag.source.removeListener('drain', lag.onDrain)
}
