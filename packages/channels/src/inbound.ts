/**
 * What one client WebSocket message comes to, by wire: a text frame is decoded as JSON
 * (dialect.ts); a binary message is a phoenix v2 push (binary-frame.ts) on the wire that speaks
 * them, and is ignored on the others (the hornbeam dialect and phoenix vsn 1 are JSON text, and
 * the upstream Hornbeam server ignores binary frames too). Never throws.
 */
import type { RawData } from 'ws'
import { decodeClientPush } from './binary-frame.js'
import { BINARY_KEY, isBinaryJson } from './binary-payload.js'
import { decodeFrame, type DecodeResult, type Wire } from './dialect.js'

/** A binary message on a wire that does not take them: counted and dropped, the socket lives on. */
export const IGNORED = 'ignored'

/**
 * Whether binary pushes are taken: on the phoenix v2 wire, over a WebSocket or long-poll (whose
 * batches carry them in base64, though its polls answer bytes in their JSON form).
 */
function takesBinary(wire: Wire): boolean {
  return wire.dialect.name === 'phoenix' && wire.encoding === 'array'
}

export function decodeMessage(data: RawData, isBinary: boolean, wire: Wire): DecodeResult | typeof IGNORED {
  if (isBinary) return takesBinary(wire) ? decodeBinary(bufferOfMessage(data), wire) : IGNORED
  const decoded = decodeFrame(data.toString(), wire.encoding, wire.dialect.name === 'hornbeam')
  if (!decoded.ok) return decoded
  const frame = decoded.frame
  // Bytes sent by a JSON client in their reserved form reach the handler as bytes, as a binary
  // push's do. Join params stay what they are (an object the join handler reads).
  if (frame.event !== wire.dialect.join && isBinaryJson(frame.payload)) {
    frame.payload = Buffer.from(frame.payload[BINARY_KEY], 'base64')
  }
  return decoded
}

/**
 * A binary push is an event like its text form, with bytes for a payload. A join sent as binary
 * is refused (its params are a JSON object the join handler and the history read); a leave or a
 * heartbeat sent as binary is taken as its text form (neither reads its payload).
 */
function decodeBinary(data: Buffer, wire: Wire): DecodeResult {
  const decoded = decodeClientPush(data)
  if (!decoded.ok) {
    const { reason, joinRef, ref, topic } = decoded
    return { ok: false, reason, ...(joinRef !== undefined ? { joinRef } : {}), ...(ref !== undefined ? { ref } : {}), ...(topic !== undefined ? { topic } : {}) }
  }
  const { joinRef, ref, topic, event, payload } = decoded.push
  if (event === wire.dialect.join) {
    return { ok: false, reason: `${event} must be a text frame: join params are a JSON object`, joinRef, ...(ref !== null ? { ref } : {}), topic }
  }
  return { ok: true, frame: { joinRef, ref, topic, event, payload, encoding: 'array' } }
}

/** ws gives a Buffer (its default binaryType), or fragments; an ArrayBuffer if so configured. */
function bufferOfMessage(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.from(data)
}
