import type { IncomingMessage } from 'node:http'
import type { Logger } from './logger.js'

/**
 * Which browser origins may open a socket. `true` (the default): the Origin's host must equal the
 * request's Host. An array: exact origins (`https://app.example.com`) or `//host` entries that
 * match any scheme. A function decides itself. `false` turns the check off (development).
 * Requests without an Origin header (non-browser clients) are not checked: only browsers can be
 * made to open a socket on a user's behalf, and they always send one.
 */
export type OriginCheck = boolean | string[] | ((origin: string, request: IncomingMessage) => boolean)

/** What the connect hook learns beside the query params. */
export interface ConnectInfo {
  /** A token the phoenix client sends in `Sec-WebSocket-Protocol` (its `authToken` option). */
  authToken: string | undefined
  origin: string | undefined
}

export function originAllowed(check: OriginCheck, request: IncomingMessage, logger: Logger): boolean {
  const origin = request.headers.origin
  if (check === false || origin === undefined) return true
  let allowed: boolean
  if (typeof check === 'function') allowed = safely(() => check(origin, request))
  else if (Array.isArray(check)) allowed = check.some((entry) => entryMatches(entry, origin))
  else allowed = hostOf(origin) === request.headers.host?.toLowerCase()
  if (!allowed) {
    logger.warn(
      { origin, host: request.headers.host, url: request.url },
      'websocket upgrade refused: origin not allowed (set checkOrigin to an allow-list, or false in development)',
    )
  }
  return allowed
}

function entryMatches(entry: string, origin: string): boolean {
  if (entry.startsWith('//')) return hostOf(origin) === entry.slice(2).toLowerCase()
  return entry.toLowerCase() === origin.toLowerCase()
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host.toLowerCase()
  } catch {
    return undefined
  }
}

function safely(fn: () => boolean): boolean {
  try {
    return fn() === true
  } catch {
    return false
  }
}

const TOKEN_PREFIX = 'base64url.bearer.phx.'

/** The phoenix client's `authToken`, from the subprotocols it offers. */
export function tokenFromProtocols(header: string | undefined): string | undefined {
  if (!header) return undefined
  for (const raw of header.split(',')) {
    const protocol = raw.trim()
    if (protocol.startsWith(TOKEN_PREFIX)) {
      try {
        return Buffer.from(protocol.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8')
      } catch {
        return undefined
      }
    }
  }
  return undefined
}
