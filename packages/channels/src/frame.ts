/**
 * Server-to-client WebSocket text frames, built once and written as they are. Server frames are
 * never masked, so the same bytes can go to every subscriber of a broadcast.
 */

/** Frames `text` as one unfragmented text frame: header and payload in one allocation. */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text)
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10
  const buf = Buffer.allocUnsafe(header + length)
  buf[0] = 0x81 // FIN + opcode 1 (text)
  if (length < 126) {
    buf[1] = length
  } else if (length < 65536) {
    buf[1] = 126
    buf.writeUInt16BE(length, 2)
  } else {
    buf[1] = 127
    buf.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    buf.writeUInt32BE(length >>> 0, 6)
  }
  buf.write(text, header, 'utf8')
  return buf
}

/** The payload of a frame made by textFrame, without its header. */
export function framePayload(frame: Buffer): Buffer {
  const len7 = frame[1]! & 0x7f
  return frame.subarray(len7 < 126 ? 2 : len7 === 126 ? 4 : 10)
}
