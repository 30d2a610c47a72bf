import { Socket } from './socket.js'

/**
 * Handler results: the seed's tuples, as plain arrays, plus small helpers that build them.
 * A handler may return them directly or through a promise; `undefined` means `['noreply']` for
 * events and `['ok']` for joins.
 */

export type Reason = string | Record<string, unknown>
export type ReplyStatus = 'ok' | 'error'

export type JoinResult<A extends object = Assigns> =
  | readonly ['ok']
  | readonly ['ok', unknown]
  | readonly ['ok', unknown, Socket<A>]
  | readonly ['error', Reason]
  | undefined
  | void

export type EventResult<A extends object = Assigns> =
  | readonly ['reply', unknown]
  | readonly ['reply', unknown, Socket<A>]
  | readonly ['noreply']
  | readonly ['noreply', Socket<A>]
  | readonly ['stop', Reason]
  | readonly ['stop', Reason, Socket<A>]
  | undefined
  | void

export type Assigns = Record<string, unknown>

export const ok = <A extends object>(response: unknown = {}, socket?: Socket<A>) =>
  (socket ? ['ok', response, socket] : ['ok', response]) as JoinResult<A>
export const error = (reason: Reason) => ['error', reason] as const
/** `reply(response)` answers ok, or with `response.status` when it is a string (the seed's form). */
export const reply = <A extends object>(response: unknown, socket?: Socket<A>) =>
  (socket ? ['reply', response, socket] : ['reply', response]) as EventResult<A>
export const noreply = <A extends object>(socket?: Socket<A>) =>
  (socket ? ['noreply', socket] : ['noreply']) as EventResult<A>
export const stop = <A extends object>(reason: Reason, socket?: Socket<A>) =>
  (socket ? ['stop', reason, socket] : ['stop', reason]) as EventResult<A>

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
