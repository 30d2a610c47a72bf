import type { IncomingMessage } from 'node:http'
import type { AllowedHosts, ConnectInfo, OriginCheck } from './auth.js'
import { defaultHistoryOptions, type HistoryOptions, type HistorySetting } from './history/types.js'
import { defaultLimits, type LimitOptions } from './limits.js'
import type { Logger } from './logger.js'
import type { PresenceOptions } from './presence/tracker.js'
import type { PubSubAdapter } from './pubsub.js'
import type { Assigns } from './results.js'
import type { Socket } from './socket.js'

/**
 * `connect(params, request, info)`: the assigns the connection starts with, or false to refuse
 * (403). `info.authToken` is the token a phoenix client sent in `Sec-WebSocket-Protocol`.
 */
export type ConnectHook<Req = IncomingMessage> = (
  params: Record<string, string>,
  request: Req,
  info: ConnectInfo,
) => Assigns | boolean | undefined | void | Promise<Assigns | boolean | undefined | void>

/** `id(socket)`: a name for the connection (a user id), so `disconnect(name)` can close it. */
export type IdHook = (socket: Socket<any>) => string | null | undefined

export interface HubOptions extends Partial<LimitOptions> {
  adapter?: PubSubAdapter
  connect?: ConnectHook<any>
  id?: IdHook
  logger?: Logger
  /** A socket that sends nothing (not even a heartbeat) this long is closed with 1001. Default 60 s. */
  idleTimeoutMs?: number
  /** A socket that has joined no channel this long is closed with 1008. Default 45 s. */
  unjoinedTimeoutMs?: number
  /** A frame whose first bytes arrived must be complete within this; else 1008. Default 10 s. */
  frameTimeoutMs?: number
  /** An upgrade must be accepted (app middleware, connect hook) within this; else 503. Default 10 s. */
  handshakeTimeoutMs?: number
  /**
   * How long an async schema (`channel(pattern, { join, events })`) may take over one join or
   * push; past it, the client gets an error reply and the channel moves on. Default 5 s.
   */
  validationTimeoutMs?: number
  /** Which browser origins may connect; default: the Origin must match the Host. */
  checkOrigin?: OriginCheck
  /** Which Host headers an upgrade may carry (DNS rebinding); see AllowedHosts. */
  allowedHosts?: AllowedHosts
  presence?: Partial<PresenceOptions>
  /**
   * The message history every channel pattern keeps unless its own `history` option says
   * otherwise: `false` turns it off by default; `maxBytes` bounds the bytes kept hub-wide (the
   * oldest messages go first). Defaults: 100 messages for 2 minutes per topic, 64 MiB in all.
   */
  history?: HistorySetting | (Partial<HistoryOptions> & { maxBytes?: number })
  /**
   * The long-poll transport at `<path>/longpoll` (the phoenix client's LongPoll and its
   * `longPollFallbackMs`, and `@hornbeam/client`'s): on by default; `false` turns it off.
   */
  longPoll?: LongPollOptions | false
}

export interface LongPollOptions {
  /**
   * The HMAC-SHA256 key session tokens are signed with; give every node of a cluster the same
   * one (a string of 32 random bytes or more, or a Buffer). Unset: a random key per process, so
   * a request that lands on another node than the session's is refused with 410.
   */
  secret?: string | Buffer
  /** How long a poll waits for messages before it is answered with 204. Default 10 s (Phoenix's window). */
  pollTimeoutMs?: number
  /** A session whose client has not polled (nor sent) for this long is closed. Default 15 s. */
  sessionTimeoutMs?: number
  /** The largest POST body, in bytes; a larger one gets 413. Default 1 MiB. */
  maxBodyBytes?: number
  /** How long a request relayed to the node holding its session waits for the answer (a poll: plus pollTimeoutMs). Default 5 s. */
  relayTimeoutMs?: number
}

/** The long-poll options with their defaults. */
export interface ResolvedLongPoll {
  secret: string | Buffer | undefined
  pollTimeoutMs: number
  sessionTimeoutMs: number
  maxBodyBytes: number
  relayTimeoutMs: number
}

export const defaultLongPoll: Omit<ResolvedLongPoll, 'secret'> = {
  pollTimeoutMs: 10_000,
  sessionTimeoutMs: 15_000,
  maxBodyBytes: 1024 * 1024,
  relayTimeoutMs: 5_000,
}

/** A pattern's history options: its own setting over the hub's, over the defaults. */
export function resolveHistory(channel: HistorySetting | undefined, hub: HubOptions['history']): HistoryOptions | false {
  const setting = channel ?? hub
  if (setting === false) return false
  const fromHub = hub === false || hub === undefined ? {} : definedOnly(hub)
  const own = channel === false || channel === undefined ? {} : definedOnly(channel)
  const { maxBytes: _, ...merged } = { ...defaultHistoryOptions, ...fromHub, ...own } as HistoryOptions & { maxBytes?: number }
  return merged
}

export interface ResolvedOptions extends LimitOptions {
  idleTimeoutMs: number
  unjoinedTimeoutMs: number
  frameTimeoutMs: number
  handshakeTimeoutMs: number
  validationTimeoutMs: number
  checkOrigin: OriginCheck
  allowedHosts: AllowedHosts | undefined
  longPoll: ResolvedLongPoll | false
}

/** The hub's options with every default filled in (an option given as undefined takes its default). */
export function resolveOptions(options: HubOptions): ResolvedOptions {
  return {
    ...defaultLimits,
    idleTimeoutMs: 60_000,
    unjoinedTimeoutMs: 45_000,
    frameTimeoutMs: 10_000,
    handshakeTimeoutMs: 10_000,
    validationTimeoutMs: 5_000,
    checkOrigin: true,
    ...definedOnly(options),
    longPoll: options.longPoll === false ? false : { secret: undefined, ...defaultLongPoll, ...definedOnly(options.longPoll ?? {}) },
  } as ResolvedOptions
}

export function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
