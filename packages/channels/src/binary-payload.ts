/**
 * Binary payloads. An application gives bytes as a `Buffer`, `Uint8Array` or `ArrayBuffer`;
 * phoenix v2 sockets get them in binary frames (binary-frame.ts), and every JSON wire (the
 * hornbeam dialect, phoenix vsn 1) gets the JSON form `{"hb_binary": "<base64>"}`, so a client
 * that only parses JSON text never receives a frame it cannot read. The key `hb_binary` is
 * reserved: a payload that is exactly `{hb_binary: <string>}` is taken for bytes everywhere
 * (it is also how bytes cross nodes and sit in a shared history, both JSON).
 */

/** The reserved key of the JSON form of bytes. */
export const BINARY_KEY = 'hb_binary'

/** The JSON form of bytes. */
export interface BinaryJson {
  hb_binary: string
}

/**
 * Bytes as a payload, with their base64 JSON form; each made once, when first asked for (a
 * broadcast to phoenix v2 sockets only never encodes base64; one from another node, as base64,
 * is decoded only if some socket here takes bytes). JSON.stringify writes the JSON form.
 */
export class BinaryPayload {
  private constructor(
    private cachedBytes: Buffer | undefined,
    private cachedBase64: string | undefined,
  ) {}

  static fromBytes(bytes: Buffer): BinaryPayload {
    return new BinaryPayload(bytes, undefined)
  }

  static fromBase64(base64: string): BinaryPayload {
    return new BinaryPayload(undefined, base64)
  }

  get bytes(): Buffer {
    return (this.cachedBytes ??= Buffer.from(this.cachedBase64!, 'base64'))
  }

  get base64(): string {
    return (this.cachedBase64 ??= this.cachedBytes!.toString('base64'))
  }

  toJSON(): BinaryJson {
    return { [BINARY_KEY]: this.base64 }
  }
}

/** True for what the API takes as bytes: a Buffer, any Uint8Array, an ArrayBuffer. */
export function isBytes(value: unknown): value is Uint8Array | ArrayBuffer {
  return value instanceof Uint8Array || value instanceof ArrayBuffer
}

/** The bytes of a Buffer, Uint8Array or ArrayBuffer as a Buffer over the same memory (no copy). */
export function bufferOf(value: Uint8Array | ArrayBuffer): Buffer {
  if (Buffer.isBuffer(value)) return value
  if (value instanceof ArrayBuffer) return Buffer.from(value)
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

/**
 * The payload as bytes, or undefined when it is not bytes: a Buffer, Uint8Array, ArrayBuffer,
 * a BinaryPayload, or the JSON form `{hb_binary: <string>}` (that key alone). With `copy`, bytes
 * the application still holds are copied: a broadcast may be framed after the call returns (for
 * other nodes, or sockets whose join is reading a shared history), and must not see later changes.
 */
export function binaryPayloadOf(value: unknown, copy = false): BinaryPayload | undefined {
  if (value === null || typeof value !== 'object') return undefined
  if (value instanceof BinaryPayload) return value
  if (isBytes(value)) return BinaryPayload.fromBytes(copy ? Buffer.from(bufferOf(value)) : bufferOf(value))
  const base64 = (value as Partial<BinaryJson>)[BINARY_KEY]
  if (typeof base64 === 'string' && Object.keys(value).length === 1) return BinaryPayload.fromBase64(base64)
  return undefined
}

/** True when a JSON payload is the reserved form of bytes (what `binaryPayloadOf` would take). */
export function isBinaryJson(value: unknown): value is BinaryJson {
  return (
    value !== null && typeof value === 'object' && typeof (value as Partial<BinaryJson>)[BINARY_KEY] === 'string' && Object.keys(value).length === 1
  )
}
