/**
 * What a connection and its channels need from the hub, as small interfaces: they never see the
 * Hub itself. The hub builds one ConnectionHost and hands it to every connection it accepts.
 */
import type { ChannelDefinition } from './channel.js'
import type { Encoding, Ref } from './dialect.js'
import type { Limits } from './limits.js'
import type { Logger } from './logger.js'
import type { ResolvedOptions } from './options.js'
import type { RouteMatch } from './router.js'
import type { Socket } from './socket.js'
import type { Counters } from './stats.js'
import type { Outlet, Subscriber } from './topics.js'

/** What a channel needs: topics, broadcast, presence cleanup, logs and counters. */
export interface ChannelHost {
  readonly options: ResolvedOptions
  readonly logger: Logger
  readonly counters: Counters
  subscribe(subscriber: Subscriber): void
  unsubscribe(subscriber: Subscriber): void
  broadcast(topic: string, event: string, payload: unknown, exclude: string | undefined): void
  /** Everything `owner` tracked on `topic` leaves. */
  untrackChannel(owner: string, topic: string): void
}

/** What a connection needs, beyond what its channels do. */
export interface ConnectionHost extends ChannelHost {
  readonly limits: Limits
  route(topic: string): RouteMatch<ChannelDefinition<any>> | undefined
  scheduleUncork(conn: Outlet): void
  /** The connection is gone: it leaves the hub's table at once. */
  removeConnection(conn: Outlet): void
  /** Everything `owner` tracked leaves (after its channels' leave hooks ran). */
  untrackOwner(owner: string): void
}

/** A channel's view of its connection. */
export interface ChannelConnection extends Outlet {
  readonly host: ChannelHost
  readonly assigns: Record<string, unknown>
  send(joinRef: Ref, ref: Ref, topic: string, event: string, payload: unknown, encoding?: Encoding): void
  /** A reply `{status, response}` to `ref`; a binary reply on a binary wire when the response is bytes. */
  reply(joinRef: Ref, ref: string, topic: string, status: string, response: unknown, encoding?: Encoding): void
  /** Keeps the assigns of a socket a handler returned. */
  adopt(socket: Socket<any>): void
  /** The channel ended: it leaves the connection's table. */
  channelRemoved(channel: { readonly topic: string }): void
}

/**
 * What a connection uses of its socket: ws's WebSocket, or a long-poll session presenting the
 * same small surface (longpoll/session.ts). A session has none of ws's internals, so the
 * connection's raw-socket fast path is not taken: frames to it go through `send`.
 */
export interface TransportSocket {
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: Buffer, options: { binary: boolean }): void
  close(code: number, reason: string): void
  terminate(): void
  on(event: 'message' | 'close' | 'error', listener: (...args: any[]) => void): unknown
}
