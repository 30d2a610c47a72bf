/**
 * The phoenix v2 binary frame layout, as phoenix.js's serializer has it (the server's copy is
 * `@hornbeam/channels` binary-frame.ts). One byte of kind, one byte per field size, the fields
 * as UTF-8, then the payload to the end:
 *
 *   0 push (client → server): join_ref, ref, topic, event
 *   0 push (server → client): join_ref, topic, event      (no ref)
 *   1 reply:                  join_ref, ref, topic, status
 *   2 broadcast:              topic, event                (no position)
 */
/** A message in the serializer's shape (serializer.ts imports this file, so the type is spelled here). */
export interface BinaryMessage {
  join_ref: string | null
  ref: string | null
  topic: string
  event: string
  payload: any
  /** The kind of binary frame it came as. */
  binary?: 'push' | 'reply' | 'broadcast'
}

const KIND = { push: 0, reply: 1, broadcast: 2 } as const

/** What the reply event is called on the wire that carries binary frames (phoenix). */
const REPLY_EVENT = 'phx_reply'

// Made on first use: importing the client needs no TextEncoder (a bare script context has none).
let encoder: TextEncoder | undefined
let decoder: TextDecoder | undefined

/**
 * A push whose payload is bytes, or undefined when a field is over 255 bytes (the caller sends
 * the JSON form instead, which the server also hands its handler as bytes).
 */
export function encodeBinaryPush(message: BinaryMessage, payload: Uint8Array): Uint8Array | undefined {
  encoder ??= new TextEncoder()
  const fields = [message.join_ref ?? '', message.ref ?? '', message.topic, message.event].map((field) => encoder!.encode(field))
  let length = 1 + fields.length + payload.length
  for (const field of fields) {
    if (field.length > 255) return undefined
    length += field.length
  }
  const out = new Uint8Array(length)
  out[0] = KIND.push
  let offset = 1
  for (const field of fields) out[offset++] = field.length
  for (const field of fields) {
    out.set(field, offset)
    offset += field.length
  }
  out.set(payload, offset)
  return out
}

/**
 * A binary message from the server, with a Uint8Array payload (for a reply, the response) and
 * `binary` naming its kind. Throws a TypeError that says what is wrong with it.
 */
export function decodeBinaryMessage(data: Uint8Array): BinaryMessage {
  const kind = data[0]
  const count = kind === KIND.push ? 3 : kind === KIND.reply ? 4 : kind === KIND.broadcast ? 2 : 0
  if (count === 0) throw new TypeError(`unknown binary frame kind ${kind}`)
  if (data.length < 1 + count) throw new TypeError('truncated binary frame')
  decoder ??= new TextDecoder()
  const fields: string[] = []
  let offset = 1 + count
  for (let i = 0; i < count; i++) {
    const size = data[1 + i]!
    if (offset + size > data.length) throw new TypeError('binary frame fields run past its end')
    fields.push(decoder.decode(data.subarray(offset, offset + size)))
    offset += size
  }
  // A copy: the app may keep it, and the message's buffer can be large.
  const payload = data.slice(offset)
  if (kind === KIND.push) return { join_ref: fields[0] || null, ref: null, topic: fields[1]!, event: fields[2]!, payload, binary: 'push' }
  if (kind === KIND.reply) {
    return { join_ref: fields[0] || null, ref: fields[1] || null, topic: fields[2]!, event: REPLY_EVENT, payload: { status: fields[3], response: payload }, binary: 'reply' }
  }
  return { join_ref: null, ref: null, topic: fields[0]!, event: fields[1]!, payload, binary: 'broadcast' }
}
