import { BACKPRESSURE_POLICIES, type Backpressure } from './backpressure.js'
import type { AnyContract, InEvent, InPayload, InReply, JoinParams, JoinReply } from './contract.js'
import type { HistoryOptions, HistorySetting } from './history/types.js'
import { PRESENCE_MODES, type PresenceMode } from './presence/modes.js'
import type { TopicParams } from './router.js'
import type { Socket } from './socket.js'
import type { StandardSchemaV1 } from './standard-schema.js'
import type { Assigns, EventResult, JoinResult } from './results.js'

type MaybePromise<T> = T | Promise<T>

export type { Payload } from './contract.js'

export type JoinHandler<A extends object = Assigns, C = AnyContract> = (
  topic: string,
  topicParams: TopicParams,
  params: JoinParams<C>,
  socket: Socket<A, C>,
) => MaybePromise<JoinResult<A, JoinReply<C>>>

export type EventHandler<A extends object = Assigns, C = AnyContract, E extends string = string> = (
  payload: InPayload<C, E>,
  socket: Socket<A, C>,
) => MaybePromise<EventResult<A, InReply<C, E>>>

/** Why a channel ended: the client left, the socket closed, the server stopped it, it crashed. */
export type LeaveReason = 'leave' | 'closed' | 'stop' | 'crash' | 'rejoin' | 'shutdown'

export type LeaveHandler<A extends object = Assigns, C = AnyContract> = (
  topic: string,
  socket: Socket<A, C>,
  reason: LeaveReason,
) => MaybePromise<void>

/** The second argument of `channel(pattern, options)`. */
export interface ChannelOptions<C = AnyContract> {
  /**
   * The history of this pattern's topics, which lets a client that reconnects get what it missed:
   * `false` turns it off, an object tunes it (`{ size, ttlMs, maxReplay }`); unset, the hub's.
   */
  history?: HistorySetting
  /**
   * What this pattern's broadcasts do for a socket over its buffer bound (`maxBufferedBytes`):
   * `'close'` it with 1013, `'drop'` them (counted), or keep only the `'latest'` per topic until it
   * catches up (counted when one replaces another). Unset, the hub's `slowConsumer`. Replies and
   * presence frames are never dropped nor conflated.
   */
  backpressure?: Backpressure
  /**
   * What members are sent of a topic's presence (the server tracks it all the same): `'full'`
   * (default) `presence_state` and `presence_diff`, as Phoenix; `'counts'` only `presence_count`
   * `{ keys, metas }`, after the join reply and once per diff window when it changed; `'self'`
   * presence_state and presence_diff holding only the presences under the keys the member's own
   * socket tracks on the topic (its other tabs). For very large rooms: see the README's Presence.
   */
  presence?: PresenceMode
  /**
   * A Standard Schema (Zod, Valibot, ArkType, ...) for the join params: a join that fails it is
   * refused with `{ reason, issues }`; the join handler gets the schema's output.
   */
  join?: StandardSchemaV1<any, JoinParams<C>>
  /** A Standard Schema per event: a push that fails it is answered `{ reason, issues }`. */
  events?: { [E in InEvent<C>]?: StandardSchemaV1<any, InPayload<C, E>> }
}

type EventSchemas = { [event: string]: StandardSchemaV1 }

/** Options that declare a channel by its schemas: `join`, `events` or both (see ChannelOptions). */
export type SchemaChannelOptions = { history?: HistorySetting; backpressure?: Backpressure; presence?: PresenceMode } & (
  | { join: StandardSchemaV1; events?: EventSchemas }
  | { join?: StandardSchemaV1; events: EventSchemas }
)

/**
 * The server side of a topic pattern, as `hub.channel('room:*')` returns it. Register its
 * hooks with `onJoin`, `on(event)` and `onLeave`; each returns the definition, so calls chain.
 * `A` is the socket's assigns, `C` the contract its handlers are checked against, `Client` the
 * contract its clients see (`ContractOf<typeof definition>`).
 */
export class ChannelDefinition<A extends object = Assigns, C = AnyContract, Client = C> {
  /** @internal */ joinHandler: JoinHandler<A, AnyContract> | undefined
  /** @internal */ leaveHandler: LeaveHandler<A, AnyContract> | undefined
  /** @internal */ readonly eventHandlers = new Map<string, EventHandler<A, AnyContract, string>>()
  /** @internal */ readonly joinSchema: StandardSchemaV1 | undefined
  /** @internal */ readonly eventSchemas: ReadonlyMap<string, StandardSchemaV1>
  /** The contract for clients; a type only (read it with `ContractOf<typeof definition>`). */
  declare readonly __contract: Client

  constructor(
    readonly pattern: string,
    /** The history its topics keep (resolved with the hub's defaults), or false. */
    readonly history: HistoryOptions | false,
    schemas: { join?: unknown; events?: unknown } = {},
    /** What its broadcasts do for a socket over its bound (resolved with the hub's slowConsumer). */
    readonly backpressure: Backpressure = 'close',
    /** What its members are sent of a topic's presence (presence/modes.ts). */
    readonly presence: PresenceMode = 'full',
  ) {
    if (!BACKPRESSURE_POLICIES.includes(backpressure)) throw new TypeError(`backpressure of "${pattern}" must be 'close', 'drop' or 'latest'`)
    if (!PRESENCE_MODES.includes(presence)) throw new TypeError(`presence of "${pattern}" must be 'full', 'counts' or 'self'`)
    this.joinSchema = schemas.join === undefined ? undefined : standardSchema(schemas.join, `the join schema of "${pattern}"`)
    const events = new Map<string, StandardSchemaV1>()
    if (schemas.events !== undefined) {
      if (schemas.events === null || typeof schemas.events !== 'object') throw new TypeError(`events of "${pattern}" must be an object of schemas`)
      for (const [event, schema] of Object.entries(schemas.events)) {
        if (schema !== undefined) events.set(event, standardSchema(schema, `the schema of "${event}" on "${pattern}"`))
      }
    }
    this.eventSchemas = events
  }

  /** Runs when a client joins a matching topic. Without one, every join is accepted. */
  onJoin(handler: JoinHandler<A, C>): this {
    this.joinHandler = handler as unknown as JoinHandler<A, AnyContract>
    return this
  }

  /** Runs for each `event` a joined client pushes. */
  on<E extends InEvent<C>>(event: E, handler: EventHandler<A, C, E>): this {
    const name: unknown = event
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('event must be a non-empty string')
    this.eventHandlers.set(name, handler as unknown as EventHandler<A, AnyContract, string>)
    return this
  }

  /** Runs once when the channel ends, whatever the reason: the client left, disconnected, ... */
  onLeave(handler: LeaveHandler<A, C>): this {
    this.leaveHandler = handler as unknown as LeaveHandler<A, AnyContract>
    return this
  }
}

function standardSchema(value: unknown, what: string): StandardSchemaV1 {
  const props = (value as Partial<StandardSchemaV1> | null)?.['~standard']
  if (props === undefined || props.version !== 1 || typeof props.validate !== 'function') {
    throw new TypeError(`${what} is not a Standard Schema (v1): pass a Zod, Valibot or ArkType schema, or one of your own with '~standard'`)
  }
  return value as StandardSchemaV1
}
