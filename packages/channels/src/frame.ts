/**
 * Server-to-client WebSocket frames (text, and binary for phoenix v2 binary payloads), built once
 * and written as they are. Server frames are never masked, so the same bytes can go to every
 * subscriber of a broadcast.
 */

const TEXT = 0x81 // FIN + opcode 1 (text)
const BINARY = 0x82 // FIN + opcode 2 (binary)

/** Frames `text` as one unfragmented text frame: header and payload in one allocation. */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text)
  const buf = Buffer.allocUnsafe(headerSize(length) + length)
  buf.write(text, writeHeader(buf, length, TEXT), 'utf8')
  return buf
}

/** Frames `head` then `body` as one unfragmented binary frame, in one allocation (a copy of both). */
export function binaryFrame(head: Buffer, body: Buffer): Buffer {
  const length = head.length + body.length
  const buf = Buffer.allocUnsafe(headerSize(length) + length)
  const at = writeHeader(buf, length, BINARY)
  head.copy(buf, at)
  body.copy(buf, at + head.length)
  return buf
}

/** True for a frame made by binaryFrame (ws must be told when it sends the payload itself). */
export function isBinaryFrame(frame: Buffer): boolean {
  return frame[0] === BINARY
}

/**
 * One text frame as parts written back to back: the header with `head`, then `body` as it is
 * (shared, never copied), then `tail`. For a large payload many sockets are sent with a small
 * envelope of their own (presence_state carries each joiner's join_ref).
 */
export function textFrameParts(head: string, body: Buffer, tail: string): Buffer[] {
  const headLength = Buffer.byteLength(head)
  const length = headLength + body.length + Buffer.byteLength(tail)
  const first = Buffer.allocUnsafe(headerSize(length) + headLength)
  first.write(head, writeHeader(first, length, TEXT), 'utf8')
  return [first, body, Buffer.from(tail)]
}

function headerSize(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10
}

/** Writes a FIN frame header (`first`: FIN and opcode) for a payload of `length` bytes; returns its size. */
function writeHeader(buf: Buffer, length: number, first: number): number {
  buf[0] = first
  if (length < 126) {
    buf[1] = length
    return 2
  }
  if (length < 65536) {
    buf[1] = 126
    buf.writeUInt16BE(length, 2)
    return 4
  }
  buf[1] = 127
  buf.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
  buf.writeUInt32BE(length >>> 0, 6)
  return 10
}

/** The payload of a frame made by textFrame or binaryFrame, without its header. */
export function framePayload(frame: Buffer): Buffer {
  const len7 = frame[1]! & 0x7f
  return frame.subarray(len7 < 126 ? 2 : len7 === 126 ? 4 : 10)
}
