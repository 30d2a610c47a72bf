import { Socket } from './socket.js'

/**
 * Handler results: the seed's tuples, as plain arrays, plus small helpers that build them.
 * A handler may return them directly or through a promise; `undefined` means `['noreply']` for
 * events and `['ok']` for joins.
 */

export type Reason = string | Record<string, unknown>
export type ReplyStatus = 'ok' | 'error'

/**
 * A join handler's result. `R` is the reply the contract declares (any when untyped); `['ok']`
 * alone is allowed only when the contract declares no reply.
 */
export type JoinResult<A extends object = Assigns, R = any> =
  | (unknown extends R ? readonly ['ok'] : never)
  | readonly ['ok', R]
  | readonly ['ok', R, Socket<A, any>]
  | readonly ['error', Reason]
  | undefined
  | void

/**
 * What an event handler may reply: the contract's reply `R` (its `status` field, when it has
 * one, names the status; else 'ok'), `['ok', R]`, or an error, `['error', reason]` or an object
 * with `status: 'error'`, whatever the contract says.
 */
export type ReplyValue<R = any> = R | readonly ['ok', R] | readonly ['error', unknown] | { readonly status: 'error'; readonly [key: string]: unknown }

/** An event handler's result; `R` is the reply the contract declares for the event (any when untyped). */
export type EventResult<A extends object = Assigns, R = any> =
  | readonly ['reply', ReplyValue<R>]
  | readonly ['reply', ReplyValue<R>, Socket<A, any>]
  | readonly ['noreply']
  | readonly ['noreply', Socket<A, any>]
  | readonly ['stop', Reason]
  | readonly ['stop', Reason, Socket<A, any>]
  | undefined
  | void

export type Assigns = Record<string, unknown>

/** `['ok', response]`, or `['ok', response, socket]` with new assigns. */
export function ok(): readonly ['ok', {}]
export function ok<R>(response: R): readonly ['ok', R]
export function ok<R, A extends object>(response: R, socket: Socket<A, any>): readonly ['ok', R, Socket<A, any>]
export function ok(response: unknown = {}, socket?: Socket<any, any>): readonly unknown[] {
  return socket ? ['ok', response, socket] : ['ok', response]
}

export const error = <R extends Reason>(reason: R) => ['error', reason] as const

/** `reply(response)` answers ok, or with `response.status` when it is a string (the seed's form). */
export function reply<R>(response: R): readonly ['reply', R]
export function reply<R, A extends object>(response: R, socket: Socket<A, any>): readonly ['reply', R, Socket<A, any>]
export function reply(response: unknown, socket?: Socket<any, any>): readonly unknown[] {
  return socket ? ['reply', response, socket] : ['reply', response]
}

export function noreply(): readonly ['noreply']
export function noreply<A extends object>(socket: Socket<A, any>): readonly ['noreply', Socket<A, any>]
export function noreply(socket?: Socket<any, any>): readonly unknown[] {
  return socket ? ['noreply', socket] : ['noreply']
}

export function stop<R extends Reason>(reason: R): readonly ['stop', R]
export function stop<R extends Reason, A extends object>(reason: R, socket: Socket<A, any>): readonly ['stop', R, Socket<A, any>]
export function stop(reason: Reason, socket?: Socket<any, any>): readonly unknown[] {
  return socket ? ['stop', reason, socket] : ['stop', reason]
}

export class HandlerResultError extends Error {}

export type NormalJoin =
  | { kind: 'ok'; response: unknown; socket: Socket<any> | undefined }
  | { kind: 'error'; response: Record<string, unknown> }

export type NormalEvent =
  | { kind: 'reply'; status: string; response: unknown; socket: Socket<any> | undefined }
  | { kind: 'noreply'; socket: Socket<any> | undefined }
  | { kind: 'stop'; reason: Reason; socket: Socket<any> | undefined }

export function reasonPayload(reason: unknown): Record<string, unknown> {
  if (reason !== null && typeof reason === 'object' && !Array.isArray(reason)) {
    return reason as Record<string, unknown>
  }
  return { reason: typeof reason === 'string' ? reason : String(reason) }
}

function socketAt(result: readonly unknown[], index: number): Socket<any> | undefined {
  if (result.length <= index) return undefined
  const s = result[index]
  if (s instanceof Socket) return s
  throw new HandlerResultError(`expected a Socket at position ${index} of ${describe(result)}`)
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 120) ?? String(value)
  } catch {
    return String(value)
  }
}

export function normalizeJoin(result: unknown): NormalJoin {
  if (result === undefined) return { kind: 'ok', response: {}, socket: undefined }
  if (Array.isArray(result)) {
    if (result[0] === 'ok' && result.length <= 3) {
      return { kind: 'ok', response: result.length > 1 ? result[1] ?? {} : {}, socket: socketAt(result, 2) }
    }
    if (result[0] === 'error' && result.length === 2) {
      return { kind: 'error', response: reasonPayload(result[1]) }
    }
  }
  throw new HandlerResultError(
    `a join handler must return ['ok', response?, socket?] or ['error', reason]; got ${describe(result)}`,
  )
}

export function normalizeEvent(result: unknown): NormalEvent {
  if (result === undefined) return { kind: 'noreply', socket: undefined }
  if (Array.isArray(result)) {
    switch (result[0]) {
      case 'reply':
        if (result.length === 2 || result.length === 3) {
          const { status, response } = replyStatus(result[1])
          return { kind: 'reply', status, response, socket: socketAt(result, 2) }
        }
        break
      case 'noreply':
        if (result.length <= 2) return { kind: 'noreply', socket: socketAt(result, 1) }
        break
      case 'stop':
        if (result.length === 2 || result.length === 3) {
          return { kind: 'stop', reason: result[1] as Reason, socket: socketAt(result, 2) }
        }
        break
    }
  }
  throw new HandlerResultError(
    `an event handler must return ['reply', response, socket?], ['noreply', socket?] or ['stop', reason, socket?]; got ${describe(result)}`,
  )
}

/**
 * The reply's status: `['ok' | 'error', response]` names it (Phoenix's form); an object with a
 * string `status` names it too (the seed's `('reply', {"status": "error", ...})`); else 'ok'.
 */
function replyStatus(value: unknown): { status: string; response: unknown } {
  if (Array.isArray(value) && value.length === 2 && (value[0] === 'ok' || value[0] === 'error')) {
    return { status: value[0], response: value[1] ?? {} }
  }
  if (value !== null && typeof value === 'object' && typeof (value as { status?: unknown }).status === 'string') {
    return { status: (value as { status: string }).status, response: value }
  }
  return { status: 'ok', response: value ?? {} }
}
