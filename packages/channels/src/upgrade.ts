import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { hostAllowed, originAllowed, tokenFromProtocols } from './auth.js'
import { UnsupportedVersionError, wireFromQuery, type Wire } from './dialect.js'
import type { Logger } from './logger.js'
import { serveLongPollOn } from './longpoll/attach.js'
import type { ConnectHook, ResolvedOptions } from './options.js'

/** An upgrade request the hub accepts: its wire, query params and initial assigns. */
export interface Prepared {
  wire: Wire
  params: Record<string, string>
  assigns: Record<string, unknown>
}

/** An upgrade request the hub refuses, with the HTTP status to answer. */
export interface Refusal {
  status: number
  message: string
}

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

export interface AttachOptions {
  /** Where clients connect; `path + '/websocket'` is accepted too. Default '/ws'. */
  path?: string
  /**
   * Runs for upgrades on our paths instead of `hub.handleUpgrade`: an adapter that first runs the
   * request through its framework (Express middleware) and then calls `hub.handleUpgrade` itself.
   */
  onUpgrade?: UpgradeHandler
  /**
   * Serve `<path>/longpoll` from the server's requests (default true, when the hub has
   * long-poll on). An adapter that routes the request through its framework passes false.
   */
  longPoll?: boolean
}

/** The endpoint paths for a mount path: `/ws` and `/ws/websocket`. */
export function endpointPaths(path: string): [string, string] {
  const base = path === '/' ? '' : path.replace(/\/+$/, '')
  return [base === '' ? '/' : base, `${base}/websocket`]
}

/** Where the long-poll transport is served for a mount path: `/ws` → `/ws/longpoll`. */
export function longPollPath(path: string): string {
  const base = endpointPaths(path)[0]
  return `${base === '/' ? '' : base}/longpoll`
}

/** What checking an upgrade needs: the hub's options, its log and the connect hook. */
export interface UpgradePolicy {
  readonly options: ResolvedOptions
  readonly logger: Logger
  readonly connect: ConnectHook<any> | undefined
}

/**
 * Host, origin and protocol version checks, then the connect hook: accepted, or why not. The
 * hook's `info.authToken` is the phoenix client's token: from `Sec-WebSocket-Protocol` for an
 * upgrade, or given (long-poll sends it in `X-Phoenix-AuthToken`).
 */
export async function prepareConnection(
  policy: UpgradePolicy,
  raw: IncomingMessage,
  request: unknown,
  authToken: string | undefined = tokenFromProtocols(raw.headers['sec-websocket-protocol']),
): Promise<Prepared | Refusal> {
  const { options, logger } = policy
  if (!hostAllowed(options.allowedHosts, raw, logger)) return { status: 403, message: 'host not allowed' }
  if (!originAllowed(options.checkOrigin, raw, logger)) return { status: 403, message: 'origin not allowed' }
  const query = new URL(raw.url ?? '/', 'http://localhost').searchParams
  let wire: Wire
  try {
    wire = wireFromQuery(query)
  } catch (err) {
    if (err instanceof UnsupportedVersionError) return { status: 400, message: err.message }
    throw err
  }
  // Object.fromEntries defines own properties: a `__proto__` parameter stays a plain key.
  const params = Object.fromEntries([...query].filter(([k]) => k !== 'vsn'))
  let assigns: Record<string, unknown> = {}
  const connect = policy.connect
  if (connect) {
    let result: unknown
    try {
      const info = { authToken, origin: raw.headers.origin }
      result = await connect(params, request, info)
    } catch (err) {
      logger.warn({ err }, 'connect hook threw: connection refused')
      return { status: 403, message: 'connection refused' }
    }
    if (result === false) return { status: 403, message: 'connection refused' }
    if (result !== null && typeof result === 'object') assigns = { ...(result as Record<string, unknown>) }
  }
  return { wire, params, assigns }
}

/** What `attachToServer` mounts: a hub's endpoint, as the dispatcher sees it. */
export interface Mountable {
  readonly onSocketError: (err: Error) => void
  /** Starts the upgrade's handshake clock (see Endpoint.guard). */
  guard(socket: Duplex): void
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void
  /** The long-poll transport, if on. */
  readonly longPoll?: { handle(req: IncomingMessage, res: ServerResponse): Promise<void> } | undefined
}

interface Mount {
  target: Mountable
  paths: [string, string]
  onUpgrade: UpgradeHandler
}

/** One upgrade listener per server, shared by every hub mounted on it. */
const mounts = new WeakMap<Server, { list: Mount[]; listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void }>()

export function attachToServer(target: Mountable, server: Server, options: AttachOptions): () => void {
  const mount: Mount = {
    target,
    paths: endpointPaths(options.path ?? '/ws'),
    onUpgrade: options.onUpgrade ?? ((req, socket, head) => target.handleUpgrade(req, socket, head)),
  }
  let entry = mounts.get(server)
  if (entry === undefined) {
    const list: Mount[] = []
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const pathname = new URL(req.url ?? '/', 'http://localhost').pathname
      const found = list.find((m) => m.paths[0] === pathname || m.paths[1] === pathname)
      if (found) {
        socket.on('error', found.target.onSocketError)
        found.target.guard(socket)
        return found.onUpgrade(req, socket, head)
      }
      // Not ours. Another upgrade listener may want it; if there is none, say so.
      if (server.listenerCount('upgrade') === 1) refuseUpgrade(socket, { status: 404, message: 'not found' })
    }
    entry = { list, listener }
    mounts.set(server, entry)
    server.on('upgrade', listener)
  }
  entry.list.push(mount)
  const current = entry
  const longPoll = target.longPoll
  const unserve = options.longPoll !== false && longPoll !== undefined ? serveLongPollOn(server, longPollPath(options.path ?? '/ws'), (req, res) => void longPoll.handle(req, res)) : undefined
  return () => {
    unserve?.()
    const i = current.list.indexOf(mount)
    if (i >= 0) current.list.splice(i, 1)
    if (current.list.length === 0) {
      server.off('upgrade', current.listener)
      mounts.delete(server)
    }
  }
}

/** Answers an upgrade request with an HTTP error and closes the socket. */
export function refuseUpgrade(socket: Duplex, refusal: Refusal): void {
  if (!socket.writable) return void socket.destroy()
  const body = refusal.message
  socket.end(
    `HTTP/1.1 ${refusal.status} ${statusText(refusal.status)}\r\nConnection: close\r\n` +
      `Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}

function statusText(status: number): string {
  return (
    { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error', 503: 'Service Unavailable' } as Record<number, string>
  )[status] ?? 'Error'
}

