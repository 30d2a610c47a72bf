/**
 * Payloads of bytes. The app gives a `Uint8Array` (any typed array or DataView) or an
 * `ArrayBuffer`, and receives a `Uint8Array`. On the phoenix wire they travel in binary frames
 * (binary.ts); on the hornbeam dialect, which is JSON text, in their reserved JSON form
 * `{"hb_binary": "<base64>"}`, which the server uses too. Browser-safe: no Buffer.
 */

/** The reserved key of the JSON form of bytes. */
export const BINARY_KEY = 'hb_binary'

/** True for a payload that is bytes. */
export function isBytes(value: unknown): value is ArrayBuffer | ArrayBufferView {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value)
}

/** The bytes of an ArrayBuffer or a view, as a Uint8Array over the same memory. */
export function bytesOf(value: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (value instanceof Uint8Array) return value
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
}

/** Bytes in base64. */
export function base64Of(bytes: Uint8Array): string {
  let binary = ''
  // In chunks: String.fromCharCode takes its arguments on the stack.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

/** The JSON form of bytes. */
export function toJsonForm(value: ArrayBuffer | ArrayBufferView): { hb_binary: string } {
  return { [BINARY_KEY]: base64Of(bytesOf(value)) }
}

/** The bytes of a payload in the JSON form (that key alone, a string), else undefined. */
export function fromJsonForm(value: unknown): Uint8Array | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const base64 = (value as { hb_binary?: unknown })[BINARY_KEY]
  if (typeof base64 !== 'string' || Object.keys(value).length !== 1) return undefined
  let binary: string
  try {
    binary = atob(base64)
  } catch {
    return undefined // not base64: left as the object it is
  }
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}
