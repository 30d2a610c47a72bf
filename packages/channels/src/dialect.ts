/**
 * Wire dialects. Frames are `[join_ref, ref, topic, event, payload]`; the two dialects differ
 * only in the names of their system events, the heartbeat topic and the presence ref key.
 * The encoding (arrays or objects) is chosen by the phoenix client's `vsn` query parameter.
 */

export type DialectName = 'hornbeam' | 'phoenix'
export type Encoding = 'array' | 'object'

export interface Dialect {
  readonly name: DialectName
  readonly join: string
  readonly leave: string
  readonly reply: string
  readonly close: string
  readonly error: string
  readonly heartbeatTopic: string
  /** The key under which each presence meta carries its ref. */
  readonly refKey: string
  /** The key that names the replaced ref on update, if the dialect has one. */
  readonly prevRefKey: string | undefined
}

export const HORNBEAM: Dialect = Object.freeze({
  name: 'hornbeam',
  join: 'hb_join',
  leave: 'hb_leave',
  reply: 'hb_reply',
  close: 'hb_close',
  error: 'hb_error',
  heartbeatTopic: 'hornbeam',
  refKey: 'hb_ref',
  prevRefKey: undefined,
})

export const PHOENIX: Dialect = Object.freeze({
  name: 'phoenix',
  join: 'phx_join',
  leave: 'phx_leave',
  reply: 'phx_reply',
  close: 'phx_close',
  error: 'phx_error',
  heartbeatTopic: 'phoenix',
  refKey: 'phx_ref',
  prevRefKey: 'phx_ref_prev',
})

/**
 * A connection's dialect and encoding. There are three, each with a small index used to cache
 * a broadcast's serialized frames: see OutboundMessage.
 */
export interface Wire {
  readonly dialect: Dialect
  readonly encoding: Encoding
  /** 0..2, unique per wire. */
  readonly index: number
  /** 0 for arrays, 1 for objects: frames that do not depend on the dialect share this slot. */
  readonly encodingIndex: number
  /** Speaks phoenix v2 binary frames (binary-frame.ts); the other wires get bytes as JSON. */
  readonly binary: boolean
}

export const WIRES = {
  hornbeam: Object.freeze({ dialect: HORNBEAM, encoding: 'array', index: 0, encodingIndex: 0, binary: false }),
  phoenixV2: Object.freeze({ dialect: PHOENIX, encoding: 'array', index: 1, encodingIndex: 0, binary: true }),
  phoenixV1: Object.freeze({ dialect: PHOENIX, encoding: 'object', index: 2, encodingIndex: 1, binary: false }),
  /**
   * The phoenix v2 wire over long-poll: phoenix.js's LongPoll hands every message it polls to
   * JSON.parse, so bytes go to it in their JSON form (`{hb_binary}`); it shares v2's JSON frames.
   */
  phoenixV2Text: Object.freeze({ dialect: PHOENIX, encoding: 'array', index: 1, encodingIndex: 0, binary: false }),
} satisfies Record<string, Wire>

export class UnsupportedVersionError extends Error {}

/**
 * Picks the wire from the URL's query: no `vsn` means the hornbeam dialect; `vsn=2.x` the
 * phoenix dialect with arrays, `vsn=1.x` with objects. Another `vsn` is refused.
 */
export function wireFromQuery(query: URLSearchParams): Wire {
  const vsn = query.get('vsn')
  if (vsn === null) return WIRES.hornbeam
  if (/^2\.\d+\.\d+$/.test(vsn)) return WIRES.phoenixV2
  if (/^1\.\d+\.\d+$/.test(vsn)) return WIRES.phoenixV1
  throw new UnsupportedVersionError(`unsupported protocol version vsn=${vsn}`)
}

export type Ref = string | null

/** A decoded client frame. */
export interface InboundFrame {
  joinRef: Ref
  ref: Ref
  topic: string
  event: string
  /** A JSON object, or the bytes of a binary push (phoenix v2) or of a `{hb_binary}` payload. */
  payload: Record<string, unknown> | Buffer
  /** The form the frame came in, and its reply goes out in. */
  encoding: Encoding
}

export type DecodeResult =
  | { ok: true; frame: InboundFrame }
  /** `ref`/`topic` are set when the frame got far enough for an error reply to be addressed. */
  | { ok: false; reason: string; ref?: Ref; joinRef?: Ref; topic?: string }

function asRef(value: unknown): Ref | undefined {
  if (value === null || value === undefined) return null
  if (typeof value === 'string') return value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  return undefined
}

/**
 * Parses and validates one text frame. Never throws. With `objectsToo`, an array wire accepts the
 * object form as well (the upstream Hornbeam server does, for the hornbeam dialect).
 */
export function decodeFrame(text: string, encoding: Encoding, objectsToo = false): DecodeResult {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'invalid JSON' }
  }
  let joinRef: unknown, ref: unknown, topic: unknown, event: unknown, payload: unknown
  let form: Encoding = encoding
  if (encoding === 'array' && !(objectsToo && isObject(raw))) {
    if (!Array.isArray(raw)) return { ok: false, reason: 'frame must be an array' }
    ;[joinRef, ref, topic, event, payload] = raw
    if (raw.length !== 5) {
      return errorAt('frame must have 5 elements: [join_ref, ref, topic, event, payload]', joinRef, ref, topic)
    }
  } else {
    if (!isObject(raw)) return { ok: false, reason: 'frame must be an object' }
    form = 'object'
    ;({ join_ref: joinRef, ref, topic, event, payload } = raw)
  }
  const jr = asRef(joinRef)
  const r = asRef(ref)
  if (jr === undefined || r === undefined) return { ok: false, reason: 'refs must be strings or null' }
  if (typeof topic !== 'string' || topic.length === 0) return errorAt('topic must be a non-empty string', jr, r)
  if (typeof event !== 'string' || event.length === 0) return errorAt('event must be a non-empty string', jr, r, topic)
  if (payload === undefined || payload === null) payload = {}
  if (typeof payload !== 'object' || Array.isArray(payload)) {
    return errorAt('payload must be an object', jr, r, topic)
  }
  return { ok: true, frame: { joinRef: jr, ref: r, topic, event, payload: payload as Record<string, unknown>, encoding: form } }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function errorAt(reason: string, joinRef: unknown, ref: unknown, topic?: unknown): DecodeResult {
  const jr = asRef(joinRef)
  const r = asRef(ref)
  return {
    ok: false,
    reason,
    ...(r !== undefined && r !== null ? { ref: r } : {}),
    ...(jr !== undefined ? { joinRef: jr } : {}),
    ...(typeof topic === 'string' && topic.length > 0 ? { topic } : {}),
  }
}

/** A payload already serialized as JSON text: spliced into the frame as it is. */
export class JsonText {
  constructor(readonly text: string) {}
}

/**
 * The frame's JSON text before and after its payload, which is last in both encodings: the
 * envelope is stringified around a placeholder and split there.
 */
export function envelopeAround(encoding: Encoding, joinRef: Ref, ref: Ref, topic: string, event: string): [string, string] {
  const envelope = encoding === 'array' ? JSON.stringify([joinRef, ref, topic, event, 0]) : JSON.stringify({ join_ref: joinRef, ref, topic, event, payload: 0 })
  return [envelope.slice(0, -2), envelope.slice(-1)]
}

/** Serializes one outbound frame. The only place that stringifies frames. */
export function encodeFrame(
  encoding: Encoding,
  joinRef: Ref,
  ref: Ref,
  topic: string,
  event: string,
  payload: unknown,
): string {
  if (payload instanceof JsonText) {
    const [head, tail] = envelopeAround(encoding, joinRef, ref, topic, event)
    return head + payload.text + tail
  }
  return encoding === 'array'
    ? JSON.stringify([joinRef, ref, topic, event, payload])
    : JSON.stringify({ join_ref: joinRef, ref, topic, event, payload })
}
