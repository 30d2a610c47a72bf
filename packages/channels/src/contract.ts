/**
 * Typed channel contracts: what a channel takes and sends, checked by the compiler on the server
 * (handlers, replies, `socket.push`, broadcasts) and on the client (`@hornbeam/client`'s
 * `socket.channel<Contract>(topic)`).
 *
 *   interface RoomContract {
 *     join: { params: { username: string }; reply: { room_id: string } }
 *     in:   { new_msg: { payload: { body: string }; reply: { status: 'ok' } } }   // client → server
 *     out:  { new_msg: { username: string; body: string } }                       // server → client
 *   }
 *   hub.channel<RoomContract>('room:*')
 *
 * A contract may also say `assigns` (the socket's assigns type). A contract that leaves out `in`
 * (or `out`) takes (or sends) no event. Without a contract, everything is as untyped as before.
 */
import type { StandardSchemaV1 } from './standard-schema.js'

/** Client payloads are JSON objects; `any` values so untyped handlers read fields without casts. */
export type Payload = Record<string, any>

/** The shape a contract has (see the module's comment). */
export interface ChannelContract {
  assigns?: object
  join?: { params?: object; reply?: unknown }
  in?: { [event: string]: { payload?: object; reply?: unknown } }
  out?: { [event: string]: unknown }
}

/** The contract of an untyped channel: any event, any payload, any reply. */
export interface AnyContract {
  join: { params: Payload; reply: any }
  in: { [event: string]: { payload: Payload; reply: any } }
  out: { [event: string]: any }
}

/** True when T is written as a contract (has `join`, `in` or `out`), not as an assigns type. */
export type IsContract<T> = T extends { join: object } | { in: object } | { out: object } ? true : false

export type JoinParams<C> = C extends { join: { params: infer P } } ? P : Payload
export type JoinReply<C> = C extends { join: { reply: infer R } } ? R : unknown
export type InEvent<C> = C extends { in: infer I } ? Extract<keyof I, string> : never
export type InPayload<C, E> = C extends { in: infer I }
  ? E extends keyof I ? (I[E] extends { payload: infer P } ? P : Payload) : never
  : never
/** What an event's reply must be: `never` when the contract declares none (error replies aside). */
export type InReply<C, E> = C extends { in: infer I }
  ? E extends keyof I ? (I[E] extends { reply: infer R } ? R : never) : never
  : never
export type OutEvent<C> = C extends { out: infer O } ? Extract<keyof O, string> : never
export type OutPayload<C, E> = C extends { out: infer O } ? (E extends keyof O ? O[E] : never) : never

/** A payload argument: optional when the payload type takes `{}` (untyped, or all fields optional). */
export type PayloadArg<P> = {} extends P ? [payload?: P] : [payload: P]

/** The assigns of `hub.channel<T>()`: a contract's `assigns`, or T itself when T is an assigns type. */
export type AssignsFrom<T> = IsContract<T> extends true
  ? T extends { assigns: infer A extends object } ? A : Record<string, unknown>
  : T
/** The contract of `hub.channel<T>()`: T when it is one, else AnyContract. */
export type ContractFrom<T> = IsContract<T> extends true ? T : AnyContract

/**
 * Topic contracts the app registers, so that `hub.broadcast(topic, ...)` (and the adapters'
 * request helpers, `request.channels.broadcast`) are typed too. Merge into it:
 *
 *   declare module '@hornbeam/channels' {
 *     interface TopicContracts { [topic: `room:${string}`]: RoomContract }
 *   }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface TopicContracts {}

/** The contract registered for a topic, or AnyContract. */
export type ContractOfTopic<T extends string> = string extends T
  ? AnyContract
  : T extends keyof TopicContracts
    ? TopicContracts[T] extends ChannelContract ? TopicContracts[T] : AnyContract
    : AnyContract

// -- schemas (Standard Schema v1: Zod, Valibot, ArkType, ...)

/** Runtime schemas for a channel's join params and events: `channel(pattern, { join, events })`. */
export interface ChannelSchemas {
  join?: StandardSchemaV1
  events?: { [event: string]: StandardSchemaV1 }
}

type Input<S> = S extends StandardSchemaV1<infer I, any> ? I : never
type Output<S> = S extends StandardSchemaV1<any, infer O> ? O : never
type JoinSchemaOf<S> = S extends { join: infer J extends StandardSchemaV1 } ? J : undefined
type EventSchemasOf<S> = S extends { events: infer E extends { [event: string]: StandardSchemaV1 } } ? E : undefined

/** What the schemas make of a contract, through `Side` (the schemas' Input or Output). */
type SchemaContract<S, Side extends 'input' | 'output'> = {
  join: {
    params: JoinSchemaOf<S> extends StandardSchemaV1
      ? (Side extends 'input' ? Input<JoinSchemaOf<S>> : Output<JoinSchemaOf<S>>)
      : Payload
    reply: any
  }
  in: EventSchemasOf<S> extends object
    ? { [E in keyof EventSchemasOf<S>]: { payload: Side extends 'input' ? Input<EventSchemasOf<S>[E]> : Output<EventSchemasOf<S>[E]>; reply: any } }
    : AnyContract['in']
  out: AnyContract['out']
}

/** The contract a schema-declared channel's handlers see: the schemas' outputs (defaults, transforms). */
export type ServerContractOf<S> = SchemaContract<S, 'output'>

/** The contract its clients send against: the schemas' inputs. */
export type ClientContractOf<S> = SchemaContract<S, 'input'>

/**
 * The contract of a channel definition, for the client: `type RoomContract = ContractOf<typeof room>`.
 * A channel declared with a contract type gives that contract; one declared with schemas, the
 * schemas' inputs (join params and event payloads; replies and pushes untyped).
 */
export type ContractOf<D> = D extends { readonly __contract: infer C } ? C : AnyContract
