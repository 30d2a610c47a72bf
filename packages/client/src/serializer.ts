/**
 * Frames on the wire are JSON arrays `[join_ref, ref, topic, event, payload]`. Refs are strings
 * or null. A payload of bytes is a binary frame on the phoenix wire (binary.ts), and its JSON
 * form `{"hb_binary": "<base64>"}` in a JSON frame (bytes.ts); either way the app sees a Uint8Array.
 */
import { decodeBinaryMessage } from './binary.js'
import { bytesOf, fromJsonForm, isBytes, toJsonForm } from './bytes.js'

export type Ref = string | null

/** One decoded frame, in either direction. */
export interface Message<P = any> {
  join_ref: Ref
  ref: Ref
  topic: string
  event: string
  payload: P
  /** Set when it came as a binary frame (phoenix wire): which kind. A binary broadcast carries no position. */
  binary?: 'push' | 'reply' | 'broadcast'
}

/** A JSON text frame; a payload of bytes goes in its JSON form. */
export function encode(message: Message): string {
  const payload = isBytes(message.payload) ? toJsonForm(message.payload) : message.payload
  return JSON.stringify([message.join_ref, message.ref, message.topic, message.event, payload])
}

/**
 * Decodes one frame; throws a TypeError that says what was wrong with it. A binary message is
 * decoded only with `binary` (the phoenix wire); bytes in their JSON form become a Uint8Array.
 */
export function decode(data: unknown, binary = false): Message {
  if (typeof data !== 'string') {
    if (binary && isBytes(data)) return decodeBinaryMessage(bytesOf(data))
    throw new TypeError('binary frames are not part of the protocol')
  }
  const raw: unknown = JSON.parse(data)
  if (!Array.isArray(raw) || raw.length !== 5) {
    throw new TypeError('a frame must be an array [join_ref, ref, topic, event, payload]')
  }
  const [joinRef, ref, topic, event, payload] = raw as unknown[]
  if (typeof topic !== 'string' || typeof event !== 'string') {
    throw new TypeError('a frame needs a string topic and event')
  }
  return { join_ref: asRef(joinRef), ref: asRef(ref), topic, event, payload: withBytes(event, payload ?? {}) }
}

const REPLIES = new Set(['hb_reply', 'phx_reply'])

/** A payload (or a reply's response) in the JSON form of bytes, as a Uint8Array. */
function withBytes(event: string, payload: any): any {
  if (!REPLIES.has(event)) return fromJsonForm(payload) ?? payload
  const response = typeof payload === 'object' ? fromJsonForm(payload?.response) : undefined
  return response === undefined ? payload : { ...payload, response }
}

function asRef(value: unknown): Ref {
  if (value === null || value === undefined) return null
  return String(value)
}
