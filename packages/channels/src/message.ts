import { binaryPayloadOf, isBinaryJson, type BinaryPayload } from './binary-payload.js'
import { broadcastHeader, replyHeader, serverPushHeader } from './binary-frame.js'
import type { Dialect, Encoding, Ref, Wire } from './dialect.js'
import { encodeFrame } from './dialect.js'
import { binaryFrame, framePayload, textFrame } from './frame.js'

/** A payload that differs by dialect (presence metas carry `hb_ref` or `phx_ref`). */
export type PayloadForDialect = (dialect: Dialect) => unknown

/** The frame cache's slot for the binary frame of a binary payload (slots 0..2 are the wires'). */
const BINARY_SLOT = 3

/**
 * One message bound for many sockets. It is serialized and framed lazily, at most once per
 * encoding (or once per wire when the payload depends on the dialect), and those bytes are
 * written to every subscriber: fan-out does no per-subscriber JSON work. A payload of bytes is
 * framed once more, as a binary frame, for the wires that speak them (phoenix v2).
 */
export class OutboundMessage {
  private readonly frames: Array<Buffer | undefined> = [undefined, undefined, undefined, undefined]
  /** A broadcast's position in its topic's history (set before the first frame is built). */
  ref: Ref = null
  private readonly payload: unknown
  /** The payload when it is bytes (binary-payload.ts): JSON wires get its `{hb_binary}` form. */
  readonly binary: BinaryPayload | undefined

  constructor(
    readonly topic: string,
    readonly event: string,
    payload: unknown,
    private readonly perDialect: boolean = false,
    readonly joinRef: Ref = null,
  ) {
    this.binary = perDialect ? undefined : binaryPayloadOf(payload)
    this.payload = this.binary ?? payload
  }

  static perDialect(topic: string, event: string, payload: PayloadForDialect): OutboundMessage {
    return new OutboundMessage(topic, event, payload, true)
  }

  frameFor(wire: Wire): Buffer {
    if (this.binary !== undefined && wire.binary) return (this.frames[BINARY_SLOT] ??= this.binaryFrame(wire))
    const slot = this.perDialect ? wire.index : wire.encodingIndex
    let frame = this.frames[slot]
    if (frame === undefined) {
      const payload = this.perDialect ? (this.payload as PayloadForDialect)(wire.dialect) : this.payload
      frame = textFrame(encodeFrame(wire.encoding, this.joinRef, this.ref, this.topic, this.event, payload))
      this.frames[slot] = frame
    }
    return frame
  }

  /** A broadcast (or, with a join_ref, a push) as a binary frame; the JSON one if a name is too long for it. */
  private binaryFrame(wire: Wire): Buffer {
    const head = this.joinRef === null ? broadcastHeader(this.topic, this.event) : serverPushHeader(this.joinRef, this.topic, this.event)
    return head === undefined ? this.frameFor({ ...wire, binary: false }) : binaryFrame(head, this.binary!.bytes)
  }
}

/**
 * A frame to one socket (a push, a lifecycle event): a binary server push on a wire that speaks
 * them when the payload is bytes, else JSON text (bytes in their `{hb_binary}` form).
 */
export function frameForSocket(wire: Wire, encoding: Encoding, joinRef: Ref, ref: Ref, topic: string, event: string, payload: unknown): Buffer {
  const binary = binaryPayloadOf(payload)
  if (binary !== undefined && wire.binary && encoding === 'array' && ref === null) {
    const head = serverPushHeader(joinRef, topic, event)
    if (head !== undefined) return binaryFrame(head, binary.bytes)
  }
  return textFrame(encodeFrame(encoding, joinRef, ref, topic, event, binary ?? payload))
}

/**
 * A reply: a binary reply (kind 1) on a wire that speaks them when the response is bytes, else
 * JSON text `{status, response}` (bytes in their `{hb_binary}` form).
 */
export function replyFrame(wire: Wire, encoding: Encoding, joinRef: Ref, ref: string, topic: string, status: string, response: unknown): Buffer {
  const binary = binaryPayloadOf(response)
  if (binary !== undefined && wire.binary && encoding === 'array') {
    const head = replyHeader(joinRef, ref, topic, status)
    if (head !== undefined) return binaryFrame(head, binary.bytes)
  }
  return textFrame(encodeFrame(encoding, joinRef, ref, topic, wire.dialect.reply, { status, response: binary ?? response }))
}

/** The binary broadcast frame (kind 2) of `bytes`; undefined when the topic or event is over 255 bytes. */
export function binaryBroadcastFrame(topic: string, event: string, bytes: Buffer): Buffer | undefined {
  const head = broadcastHeader(topic, event)
  return head === undefined ? undefined : binaryFrame(head, bytes)
}

/**
 * The topic, event and bytes of a kept array-form JSON text frame whose payload is bytes in their
 * JSON form (`[join_ref, ref, topic, event, {"hb_binary": "<base64>"}]`, as the hornbeam wire
 * has it), or undefined when its payload is not bytes.
 */
export function bytesOfJsonFrame(frame: Buffer): { topic: string; event: string; bytes: Buffer } | undefined {
  const text = framePayload(frame)
  // Cheap tests first: the payload is last, so a binary one ends the frame with `"}]`.
  if (text.length < 20 || text[text.length - 1] !== 0x5d || text[text.length - 2] !== 0x7d || text.indexOf('{"hb_binary":"') < 0) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(text.toString('utf8'))
  } catch {
    return undefined
  }
  if (!Array.isArray(parsed) || parsed.length !== 5 || !isBinaryJson(parsed[4])) return undefined
  const [, , topic, event, payload] = parsed as [unknown, unknown, unknown, unknown, { hb_binary: string }]
  if (typeof topic !== 'string' || typeof event !== 'string') return undefined
  return { topic, event, bytes: Buffer.from(payload.hb_binary, 'base64') }
}

/**
 * For a history replay to a phoenix v2 socket (`wire.binary`): the binary broadcast frame of a
 * kept JSON frame whose payload is bytes, or undefined when it is not (or a name is too long
 * for a binary frame): the text frame then goes as it is. The binary frame has no ref slot, so
 * the position the text frame carried is not sent.
 */
export function binaryFrameFromJsonFrame(frame: Buffer): Buffer | undefined {
  const found = bytesOfJsonFrame(frame)
  return found === undefined ? undefined : binaryBroadcastFrame(found.topic, found.event, found.bytes)
}
