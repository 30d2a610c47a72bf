/**
 * Long-poll session tokens: which node holds a session, and which session it is, signed with
 * HMAC-SHA256 so that no client can make one up or alter one (a token that does not verify is
 * treated as an unknown session: 410). The form is `hblp1.<node>.<session>.<signature>`, all
 * base64url: the prefix tells a session token from an app's own `token` query parameter, which
 * the phoenix client sends in the same query string.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'

const PREFIX = 'hblp1'
/** A node id or session id: base64url, short. */
const PART = /^[A-Za-z0-9_-]{1,64}$/

/**
 * The secret used when none is configured: random, one per process (so hubs of one process, as
 * in tests with a shared MemoryBus, accept each other's tokens), never written anywhere.
 */
const processSecret = randomBytes(32)

export interface SessionRef {
  node: string
  session: string
}

export class TokenSigner {
  private readonly key: Buffer

  constructor(secret: string | Buffer | undefined) {
    this.key = secret === undefined ? processSecret : Buffer.isBuffer(secret) ? secret : Buffer.from(secret, 'utf8')
    if (this.key.length === 0) throw new TypeError('longPoll.secret must not be empty')
  }

  sign(ref: SessionRef): string {
    const body = `${PREFIX}.${ref.node}.${ref.session}`
    return `${body}.${this.mac(body).toString('base64url')}`
  }

  /** The session a token names, or undefined if it is not one of ours or does not verify. */
  verify(token: string): SessionRef | undefined {
    if (!isSessionToken(token)) return undefined
    const parts = token.split('.')
    const [, node, session, signature] = parts as [string, string, string, string]
    const given = Buffer.from(signature, 'base64url')
    const expected = this.mac(`${PREFIX}.${node}.${session}`)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    return { node, session }
  }

  private mac(body: string): Buffer {
    return createHmac('sha256', this.key).update(body).digest()
  }
}

/** Whether a value has the shape of a session token (signed or not): an app's token never does. */
export function isSessionToken(value: string): boolean {
  if (!value.startsWith(`${PREFIX}.`)) return false
  const parts = value.split('.')
  return parts.length === 4 && PART.test(parts[1]!) && PART.test(parts[2]!) && /^[A-Za-z0-9_-]{43}$/.test(parts[3]!)
}

/** A new session id: a random UUID (122 random bits, from node's pooled entropy: no syscall each). */
export function newSessionId(): string {
  return randomUUID()
}
