import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'
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
      { origin, host: request.headers.host, path: pathOf(request.url) },
      'websocket upgrade refused: origin not allowed (set checkOrigin to an allow-list, or false in development)',
    )
  }
  return allowed
}

/**
 * Which Host headers an upgrade may carry (DNS rebinding: a page on evil.example whose name now
 * resolves to 127.0.0.1 sends `Host: evil.example` and a matching Origin). `true` allows any; a
 * list allows loopback names and addresses, IP addresses, and the names given (`'.example.com'`
 * allows it and its subdomains). Unset: any Host, unless the server listens on a loopback
 * address only, where only loopback names and addresses pass.
 */
export type AllowedHosts = true | string[]

export function hostAllowed(allowed: AllowedHosts | undefined, request: IncomingMessage, logger: Logger): boolean {
  if (allowed === true) return true
  if (allowed === undefined && !listensOnLoopbackOnly(request)) return true
  const host = hostnameOf(request.headers.host)
  const ok = host !== undefined && (isLoopbackName(host) || (allowed !== undefined && (isIP(host) !== 0 || allowed.some((entry) => hostMatches(entry, host)))))
  if (!ok) {
    logger.warn(
      { host: request.headers.host, path: pathOf(request.url) },
      allowed === undefined
        ? 'websocket upgrade refused: Host is not a loopback name on a loopback-only server (behind a proxy on this machine, list your public names in allowedHosts)'
        : 'websocket upgrade refused: Host not in allowedHosts',
    )
  }
  return ok
}

function listensOnLoopbackOnly(request: IncomingMessage): boolean {
  // node:net sets `server` on the sockets a server accepts.
  const server = (request.socket as { server?: { address?: () => unknown } } | undefined)?.server
  const address = server?.address?.()
  return address !== null && typeof address === 'object' && isLoopbackAddress((address as { address: string }).address)
}

function isLoopbackAddress(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.')
}

function isLoopbackName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || isLoopbackAddress(host)
}

function hostMatches(entry: string, host: string): boolean {
  const name = entry.toLowerCase()
  return name.startsWith('.') ? host === name.slice(1) || host.endsWith(name) : host === name
}

/** The Host header's name, lower case, without port or IPv6 brackets. */
function hostnameOf(header: string | undefined): string | undefined {
  if (!header) return undefined
  const host = header.trim().toLowerCase()
  if (host.startsWith('[')) {
    const end = host.indexOf(']')
    return end > 0 ? host.slice(1, end) : undefined
  }
  const colon = host.indexOf(':')
  return colon < 0 ? host : host.slice(0, colon)
}

/** A URL's path without its query string: query strings carry tokens, and logs must not. */
export function pathOf(url: string | undefined): string {
  const path = url ?? '/'
  const q = path.indexOf('?')
  return q < 0 ? path : `${path.slice(0, q)}?…`
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
