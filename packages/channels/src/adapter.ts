/**
 * `@hornbeam/channels/adapter`: what every framework adapter shares, so that an adapter is
 * framework glue only. Applications do not need it.
 *
 * - `mountHub(options)`: the adapter's hub (given, or made from the options) and the shutdown
 *   rule: an adapter that created its hub closes the hub; one given an existing hub closes only
 *   the sockets it accepted.
 * - `endpointPaths(path)` and `clientBundlePath(path)`: where clients connect (`/ws`,
 *   `/ws/websocket`) and where the browser bundle is served (`/ws/hornbeam.js`).
 * - `clientBundle()`: the browser bundle as a response (`serveClient`, default true, in every
 *   adapter), or a 404 saying what to install.
 * - `refusalResponse(refusal)` for a framework's response object, `refuseUpgrade(socket, refusal)`
 *   for a raw socket; `hub.endpoint.guard(socket)` against upgrades that never finish.
 * - `hub.endpoint` (Endpoint): prepare, accept, handleUpgrade.
 * - `PipelineUpgrades`: upgrades that run through the framework's middleware before the hub gets
 *   the socket (Express, Koa).
 * - `mount.longPollPath` and `mount.serveLongPoll(req, res, request)`: the long-poll transport
 *   (`<path>/longpoll`, GET, POST and OPTIONS), one core handler on node:http's req and res; an
 *   adapter routes the request there (after the app's own middleware) and answers nothing itself.
 */
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { clientBundleFile } from './client-bundle.js'
import { createHub, type Hub } from './hub.js'
import { definedOnly, type HubOptions } from './options.js'
import { endpointPaths, longPollPath, type Refusal } from './upgrade.js'

export { Endpoint } from './endpoint.js'
export { PipelineUpgrades } from './pipeline-upgrade.js'
export type { Connection } from './connection.js'
export { endpointPaths, longPollPath, refuseUpgrade } from './upgrade.js'
export type { AttachOptions, Prepared, Refusal, UpgradeHandler } from './upgrade.js'
export { originAllowed, tokenFromProtocols } from './auth.js'

/** The options every adapter takes besides the hub's own. */
export interface MountOptions extends HubOptions {
  /** Where clients connect; `path + '/websocket'` is served too. Default '/ws'. */
  path?: string
  /** Mount an existing hub (shared with another adapter) instead of creating one; hub options are then ignored. */
  hub?: Hub
  /** Serve the browser client at `<path>/hornbeam.js`. Default true. */
  serveClient?: boolean
}

/** An adapter's hold on its hub. */
export interface MountedHub {
  readonly hub: Hub
  /** Whether the adapter created the hub (and so closes it). */
  readonly owned: boolean
  readonly path: string
  readonly paths: [string, string]
  readonly serveClient: boolean
  /** Mark for the sockets this adapter accepts: `hub.endpoint.accept(ws, prepared, mount.owner)`. */
  readonly owner: object
  /** `<path>/longpoll`, where the long-poll transport is served; undefined when the hub has it off. */
  readonly longPollPath: string | undefined
  /**
   * Answers a request to `longPollPath` (GET, POST, OPTIONS; any other method gets 405), on
   * node:http's request and response: the adapter hands them over, with the framework's request
   * for the connect hook, and sends nothing itself. Sessions opened are this adapter's (owner).
   */
  serveLongPoll(req: IncomingMessage, res: ServerResponse, request?: unknown): Promise<void>
  /** The adapter's shutdown: the hub if it made it, else only its own sockets (1012, leave hooks, untrack). */
  close(): Promise<void>
}

export function mountHub(options: MountOptions, defaults: Partial<HubOptions> = {}): MountedHub {
  const { path = '/ws', hub: given, serveClient = true, ...hubOptions } = options
  const hub = given ?? createHub({ ...defaults, ...definedOnly(hubOptions) })
  const owner = {}
  const longPoll = hub.endpoint.longPoll
  return {
    hub,
    owned: given === undefined,
    path,
    paths: endpointPaths(path),
    serveClient,
    owner,
    longPollPath: longPoll === undefined ? undefined : longPollPath(path),
    serveLongPoll: (req, res, request = req) => (longPoll === undefined ? notFound(res) : longPoll.handle(req, res, request, owner)),
    close: () => (given === undefined ? hub.close() : hub.endpoint.closeOwned(owner)),
  }
}

/** Where the browser bundle is served for a mount path: `/ws` → `/ws/hornbeam.js`. */
export function clientBundlePath(path: string): string {
  const base = endpointPaths(path)[0]
  return `${base === '/' ? '' : base}/hornbeam.js`
}

/** A response for a framework to send as it is. */
export interface SimpleResponse {
  status: number
  headers: Record<string, string>
  body: string | Buffer
}

const TEXT = 'text/plain; charset=utf-8'

/** An upgrade refusal as an HTTP response (for adapters whose framework answers the request). */
export function refusalResponse(refusal: Refusal): SimpleResponse {
  return { status: refusal.status, headers: { 'content-type': TEXT }, body: refusal.message }
}

async function notFound(res: ServerResponse): Promise<void> {
  res.writeHead(404, { 'content-type': TEXT }).end('long-poll is off on this hub\n')
}

let bundleFile: string | undefined

/**
 * The browser bundle of `@hornbeam/client` (a dependency of this package, resolved when first
 * asked for), or a 404 naming the package to install if it is missing.
 */
export async function clientBundle(): Promise<SimpleResponse> {
  try {
    bundleFile ??= clientBundleFile()
  } catch {
    return { status: 404, headers: { 'content-type': TEXT }, body: 'hornbeam.js: @hornbeam/client is not installed (npm install @hornbeam/client)\n' }
  }
  const body = await readFile(bundleFile)
  return { status: 200, headers: { 'content-type': 'application/javascript; charset=utf-8', 'content-length': String(body.length) }, body }
}
