/**
 * Channel contracts on the client: `socket.channel<RoomContract>(topic, params)` types `push`
 * (the events of `in`, their payloads and replies), `on` (the events of `out`) and the join's
 * reply. The shape is the server's (`@hornbeam/channels`): a contract written once, or
 * `ContractOf<typeof room>` from a channel declared with schemas, serves both sides.
 *
 *   interface RoomContract {
 *     join: { params: { username: string }; reply: { room_id: string } }
 *     in:   { new_msg: { payload: { body: string }; reply: { status: 'ok' } } }
 *     out:  { new_msg: { username: string; body: string } }
 *   }
 *
 * These are structural copies of the server's helpers: the client depends on no server package.
 */

/** The contract of an untyped channel: any event, any payload, any reply. */
export interface AnyContract {
  join: { params: object; reply: any }
  in: { [event: string]: { payload: object; reply: any } }
  out: { [event: string]: any }
}

export type JoinParams<C> = C extends { join: { params: infer P } } ? P : object
export type JoinReply<C> = C extends { join: { reply: infer R } } ? R : unknown
export type InEvent<C> = C extends { in: infer I } ? Extract<keyof I, string> : never
export type InPayload<C, E> = C extends { in: infer I }
  ? E extends keyof I ? (I[E] extends { payload: infer P } ? P : object) : never
  : never
/** The `ok` reply of an event: `never` when the contract declares none (the server never answers ok). */
export type InReply<C, E> = C extends { in: infer I }
  ? E extends keyof I ? (I[E] extends { reply: infer R } ? R : never) : never
  : never
export type OutEvent<C> = C extends { out: infer O } ? Extract<keyof O, string> : never
export type OutPayload<C, E> = C extends { out: infer O } ? (E extends keyof O ? O[E] : any) : any

/** Events every channel may get besides its contract's (presence, history, lifecycle). */
export type ChannelEvent = 'presence_state' | 'presence_diff' | 'presence_count' | 'hb_history' | 'hb_close' | 'hb_error' | 'phx_close' | 'phx_error'

/** A push's payload and timeout arguments: the payload optional when its type takes `{}`. */
export type PushArgs<P> = {} extends P ? [payload?: P, timeout?: number] : [payload: P, timeout?: number]
