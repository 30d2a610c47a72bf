/**
 * The phoenix v2 binary frame layout (what phoenix.js's serializer sends for an ArrayBuffer
 * payload and decodes from the server). One byte of kind, then one byte per field size, the
 * fields as UTF-8, then the payload bytes to the end of the message:
 *
 *   kind 0 push, client → server:  0, |join_ref|, |ref|, |topic|, |event|, join_ref ref topic event, payload
 *   kind 0 push, server → client:  0, |join_ref|, |topic|, |event|,        join_ref topic event,     payload
 *   kind 1 reply, server → client: 1, |join_ref|, |ref|, |topic|, |status|, join_ref ref topic status, payload
 *   kind 2 broadcast, server → client: 2, |topic|, |event|, topic event, payload
 *
 * A server push has no ref slot (phoenix.js reads it as null), and neither has a broadcast: a
 * binary broadcast carries no history position. Each field is at most 255 bytes.
 */
import { isUtf8 } from 'node:buffer'

export const BINARY_KIND = { push: 0, reply: 1, broadcast: 2 } as const

/** The largest field (ref, topic, event, status) the one-byte sizes can say. */
export const MAX_FIELD_BYTES = 255

/** A client's binary push, decoded. Empty refs are null, as in the text form. */
export interface BinaryPush {
  joinRef: string | null
  ref: string | null
  topic: string
  event: string
  payload: Buffer
}

/**
 * A decoded client frame, or why it is not one. The error carries what could be read of the
 * addressing fields, so the server can answer with an error reply when the ref and topic are there.
 */
export type BinaryDecodeResult =
  | { ok: true; push: BinaryPush }
  | { ok: false; reason: string; joinRef?: string | null; ref?: string; topic?: string }

const PUSH_HEADER = 5

/** Decodes a binary message from a client: only kind 0 (push) is theirs to send. Never throws. */
export function decodeClientPush(data: Buffer): BinaryDecodeResult {
  if (data.length === 0) return { ok: false, reason: 'empty binary frame' }
  const kind = data[0]!
  if (kind === BINARY_KIND.reply || kind === BINARY_KIND.broadcast) {
    return { ok: false, reason: `binary frame kind ${kind} (${kind === 1 ? 'reply' : 'broadcast'}) is sent by servers only` }
  }
  if (kind !== BINARY_KIND.push) return { ok: false, reason: `unknown binary frame kind ${kind}` }
  if (data.length < PUSH_HEADER) return { ok: false, reason: `binary push header truncated: ${data.length} of ${PUSH_HEADER} bytes` }
  const sizes = [data[1]!, data[2]!, data[3]!, data[4]!]
  const fields: string[] = []
  let offset = PUSH_HEADER
  for (const size of sizes) {
    // Stop at the first field that does not fit: what was read before it may still address a reply.
    if (offset + size > data.length) break
    const bytes = data.subarray(offset, offset + size)
    if (!isUtf8(bytes)) return failure(`binary push ${FIELD_NAMES[fields.length]} is not valid UTF-8`, fields)
    fields.push(bytes.toString('utf8'))
    offset += size
  }
  if (fields.length < 4) {
    const needed = PUSH_HEADER + sizes.reduce((a, b) => a + b, 0)
    return failure(`binary push fields run past the end of the frame (${needed} bytes of header, ${data.length} in the frame)`, fields)
  }
  const [joinRef, ref, topic, event] = fields as [string, string, string, string]
  if (topic.length === 0) return failure('topic must be a non-empty string', fields)
  if (event.length === 0) return failure('event must be a non-empty string', fields)
  return { ok: true, push: { joinRef: joinRef || null, ref: ref || null, topic, event, payload: data.subarray(offset) } }
}

const FIELD_NAMES = ['join_ref', 'ref', 'topic', 'event']

function failure(reason: string, fields: string[]): BinaryDecodeResult {
  const out: BinaryDecodeResult = { ok: false, reason }
  if (fields.length > 0) out.joinRef = fields[0] || null
  if (fields.length > 1 && fields[1] !== '') out.ref = fields[1]
  if (fields.length > 2 && fields[2] !== '') out.topic = fields[2]
  return out
}

// -- headers: everything but the payload, which the caller appends (once per message, shared)

/** The header of a client push (what phoenix.js sends), or undefined when a field is over 255 bytes. */
export function clientPushHeader(joinRef: string | null, ref: string | null, topic: string, event: string): Buffer | undefined {
  return header(BINARY_KIND.push, [joinRef ?? '', ref ?? '', topic, event])
}

/** The header of a server push to one socket (no ref slot), or undefined when a field is too long. */
export function serverPushHeader(joinRef: string | null, topic: string, event: string): Buffer | undefined {
  return header(BINARY_KIND.push, [joinRef ?? '', topic, event])
}

/** The header of a reply whose response is bytes, or undefined when a field is too long. */
export function replyHeader(joinRef: string | null, ref: string, topic: string, status: string): Buffer | undefined {
  return header(BINARY_KIND.reply, [joinRef ?? '', ref, topic, status])
}

/** The header of a broadcast whose payload is bytes, or undefined when a field is too long. */
export function broadcastHeader(topic: string, event: string): Buffer | undefined {
  return header(BINARY_KIND.broadcast, [topic, event])
}

function header(kind: number, fields: string[]): Buffer | undefined {
  let length = 1 + fields.length
  const sizes: number[] = []
  for (const field of fields) {
    const size = Buffer.byteLength(field)
    if (size > MAX_FIELD_BYTES) return undefined
    sizes.push(size)
    length += size
  }
  const out = Buffer.allocUnsafe(length)
  out[0] = kind
  let offset = 1
  for (const size of sizes) out[offset++] = size
  for (const field of fields) offset += out.write(field, offset, 'utf8')
  return out
}

// -- whole messages (tests, load generators, and what a Node client would send)

/** A whole client push message; throws a RangeError when a field is over 255 bytes. */
export function encodeClientPush(push: BinaryPush): Buffer {
  const head = clientPushHeader(push.joinRef, push.ref, push.topic, push.event)
  if (head === undefined) throw new RangeError(`a binary push field is over ${MAX_FIELD_BYTES} bytes`)
  return Buffer.concat([head, push.payload])
}

/** A message the server sent, decoded (kind 0 push, 1 reply, 2 broadcast), as phoenix.js reads it. */
export interface ServerBinaryMessage {
  kind: 'push' | 'reply' | 'broadcast'
  joinRef: string | null
  ref: string | null
  topic: string
  /** The event; for a reply, its status. */
  event: string
  payload: Buffer
}

/** Decodes a server's binary message; undefined when it is not one (wrong kind, truncated). */
export function decodeServerMessage(data: Buffer): ServerBinaryMessage | undefined {
  const kind = data[0]
  const count = kind === BINARY_KIND.push ? 3 : kind === BINARY_KIND.reply ? 4 : kind === BINARY_KIND.broadcast ? 2 : 0
  if (count === 0 || data.length < 1 + count) return undefined
  const fields: string[] = []
  let offset = 1 + count
  for (let i = 0; i < count; i++) {
    const size = data[1 + i]!
    if (offset + size > data.length) return undefined
    fields.push(data.toString('utf8', offset, offset + size))
    offset += size
  }
  const payload = data.subarray(offset)
  if (kind === BINARY_KIND.push) return { kind: 'push', joinRef: fields[0] || null, ref: null, topic: fields[1]!, event: fields[2]!, payload }
  if (kind === BINARY_KIND.reply) return { kind: 'reply', joinRef: fields[0] || null, ref: fields[1] || null, topic: fields[2]!, event: fields[3]!, payload }
  return { kind: 'broadcast', joinRef: null, ref: null, topic: fields[0]!, event: fields[1]!, payload }
}
