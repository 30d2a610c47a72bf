/**
 * Frames on the wire are JSON arrays `[join_ref, ref, topic, event, payload]`. Refs are strings
 * or null.
 */

export type Ref = string | null

/** One decoded frame, in either direction. */
export interface Message<P = any> {
  join_ref: Ref
  ref: Ref
  topic: string
  event: string
  payload: P
}

export function encode(message: Message): string {
  return JSON.stringify([message.join_ref, message.ref, message.topic, message.event, message.payload])
}

/** Decodes one text frame; throws a TypeError that says what was wrong with it. */
export function decode(data: unknown): Message {
  if (typeof data !== 'string') throw new TypeError('binary frames are not part of the protocol')
  const raw: unknown = JSON.parse(data)
  if (!Array.isArray(raw) || raw.length !== 5) {
    throw new TypeError('a frame must be an array [join_ref, ref, topic, event, payload]')
  }
  const [joinRef, ref, topic, event, payload] = raw as unknown[]
  if (typeof topic !== 'string' || typeof event !== 'string') {
    throw new TypeError('a frame needs a string topic and event')
  }
  return { join_ref: asRef(joinRef), ref: asRef(ref), topic, event, payload: payload ?? {} }
}

function asRef(value: unknown): Ref {
  if (value === null || value === undefined) return null
  return String(value)
}
