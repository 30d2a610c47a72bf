import type { HistoryOptions, HistorySetting } from './history/types.js'
import type { TopicParams } from './router.js'
import type { Socket } from './socket.js'
import type { Assigns, EventResult, JoinResult } from './results.js'

type MaybePromise<T> = T | Promise<T>

/** Client payloads are JSON objects; `any` values so handlers can read fields without casts. */
export type Payload = Record<string, any>

export type JoinHandler<A extends object = Assigns> = (
  topic: string,
  topicParams: TopicParams,
  params: Payload,
  socket: Socket<A>,
) => MaybePromise<JoinResult<any>>

export type EventHandler<A extends object = Assigns> = (
  payload: Payload,
  socket: Socket<A>,
) => MaybePromise<EventResult<any>>

/** Why a channel ended: the client left, the socket closed, the server stopped it, it crashed. */
export type LeaveReason = 'leave' | 'closed' | 'stop' | 'crash' | 'rejoin' | 'shutdown'

export type LeaveHandler<A extends object = Assigns> = (
  topic: string,
  socket: Socket<A>,
  reason: LeaveReason,
) => MaybePromise<void>

/** The second argument of `channel(pattern, options)`. */
export interface ChannelOptions {
  /**
   * The history of this pattern's topics, which lets a client that reconnects get what it missed:
   * `false` turns it off, an object tunes it (`{ size, ttlMs, maxReplay }`); unset, the hub's.
   */
  history?: HistorySetting
}

/**
 * The server side of a topic pattern, as `hub.channel('room:*')` returns it. Register its
 * hooks with `onJoin`, `on(event)` and `onLeave`; each returns the definition, so calls chain.
 */
export class ChannelDefinition<A extends object = Assigns> {
  /** @internal */ joinHandler: JoinHandler<A> | undefined
  /** @internal */ leaveHandler: LeaveHandler<A> | undefined
  /** @internal */ readonly eventHandlers = new Map<string, EventHandler<A>>()

  constructor(
    readonly pattern: string,
    /** The history its topics keep (resolved with the hub's defaults), or false. */
    readonly history: HistoryOptions | false,
  ) {}

  /** Runs when a client joins a matching topic. Without one, every join is accepted. */
  onJoin(handler: JoinHandler<A>): this {
    this.joinHandler = handler
    return this
  }

  /** Runs for each `event` a joined client pushes. */
  on(event: string, handler: EventHandler<A>): this {
    if (typeof event !== 'string' || event.length === 0) throw new TypeError('event must be a non-empty string')
    this.eventHandlers.set(event, handler)
    return this
  }

  /** Runs once when the channel ends, whatever the reason: the client left, disconnected, ... */
  onLeave(handler: LeaveHandler<A>): this {
    this.leaveHandler = handler
    return this
  }
}
