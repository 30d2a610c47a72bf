/**
 * A message's position in its topic's history: the history instance (epoch) and the offset in it.
 * On the wire it is the string `<epoch>:<offset>`, in the `ref` slot of broadcast frames. The
 * epoch always starts with a letter, so a position is never a bare integer: phoenix.js takes a
 * frame whose ref equals its pending heartbeat ref ("7") for the heartbeat's reply.
 */
import { randomBytes } from 'node:crypto'

export interface Position {
  readonly epoch: string
  readonly offset: number
}

const EPOCH = /^[a-z][a-z0-9]{3,31}$/

/**
 * Random bytes for epochs, taken 9 at a time from a pool refilled 4 KiB at once: `randomBytes`
 * costs about 12 µs a call on a small VM, and the Redis engine makes a candidate epoch per
 * append (the script keeps the stored one).
 */
const POOL_BYTES = 4096
let pool = Buffer.alloc(0)
let taken = 0

/** A new epoch: 9 characters, a letter then base-36 digits. */
export function newEpoch(): string {
  if (taken + 9 > pool.length) {
    pool = randomBytes(POOL_BYTES)
    taken = 0
  }
  const letter = String.fromCharCode(97 + (pool[taken]! % 26))
  const digits = pool.readBigUInt64BE(taken + 1).toString(36).slice(0, 8).padStart(8, '0')
  taken += 9
  return letter + digits
}

export function formatPosition(epoch: string, offset: number): string {
  return `${epoch}:${offset}`
}

/** The position a client sent, or undefined when it is not one (never throws). */
export function parsePosition(value: unknown): Position | undefined {
  if (typeof value !== 'string' || value.length > 64) return undefined
  const colon = value.indexOf(':')
  if (colon < 0) return undefined
  const epoch = value.slice(0, colon)
  const digits = value.slice(colon + 1)
  if (!EPOCH.test(epoch) || !/^\d{1,15}$/.test(digits)) return undefined
  return { epoch, offset: Number(digits) }
}
