/**
 * Express middleware for Hornbeam channels. `app.use(channelsMiddleware())` then `app.listen()`:
 *
 * - The middleware is a mountable sub-app (it has `handle`, `set` and `emit`, which is how Express
 *   recognises one). On Express's 'mount' event it sets `app.channel`, `app.channels` and
 *   `app.presence` on the parent and wraps the parent's `listen`, so the server `app.listen()`
 *   returns gets our `upgrade` listener. `mw.attach(server)` does the same for servers made by hand.
 * - An upgrade for our path runs through the app (`app(req, res, done)`) with a ServerResponse bound
 *   to the raw socket, so the middleware listed before ours (sessions, auth) runs first and may
 *   answer with an HTTP status. When the request reaches our middleware, the hub upgrades it.
 */
import { readFile } from 'node:fs/promises'
import { ServerResponse, type IncomingMessage, type Server } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import { createRequire } from 'node:module'
import type { Socket as NetSocket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { NextFunction, Request, Response } from 'express'
import { createHub, endpointPaths, type ConnectHook, type Hub, type HubOptions } from '@hornbeam/channels'

declare global {
  namespace Express {
    interface Request {
      /** The channels hub. Set by channelsMiddleware for every request it sees: routes go after it. */
      channels: Hub
    }
    interface Application {
      /** `app.channel('room:*')`: set when channelsMiddleware is mounted with `app.use`. */
      channel: Hub['channel']
      channels: Hub
      presence: Hub['presence']
    }
  }
}

export interface ChannelsOptions extends Omit<HubOptions, 'connect'> {
  /** Where clients connect (an absolute URL path); `path + '/websocket'` too. Default '/ws'. */
  path?: string
  /** `connect(params, req)`: `req` is Express's own, after the middleware listed before ours. */
  connect?: ConnectHook<Request>
  /** Use this hub (shared with another adapter) instead of creating one; hub options are then ignored. */
  hub?: Hub
  /** Serve the browser client at `<path>/hornbeam.js`. Default true. */
  serveClient?: boolean
}

/** A request listener to run upgrades through: an Express app (any version) is one. */
export type UpgradeApp = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void

export interface ChannelsMiddleware {
  (req: Request, res: Response, next: NextFunction): void
  readonly hub: Hub
  readonly path: string
  channel: Hub['channel']
  presence: Hub['presence']
  broadcast: Hub['broadcast']
  broadcastFrom: Hub['broadcastFrom']
  /**
   * Handles upgrades for our path on a server made by hand (`http.createServer(app)`, https).
   * They run through `app`, by default the app this middleware is mounted on. Returns a detach function.
   */
  attach(server: Server | HttpsServer, app?: UpgradeApp): () => void
  /** Closes every socket with 1012, runs leave hooks, untracks presence; resolves after. */
  close(): Promise<void>
}

interface Pending {
  socket: Duplex
  head: Buffer
  res: ServerResponse
}
interface Mountable {
  listen: (...args: unknown[]) => Server
  on?: (event: 'mount', fn: (parent: Mountable) => void) => unknown
  parent?: Mountable
  channel?: unknown
  channels?: unknown
  presence?: unknown
}

const require = createRequire(import.meta.url)

export function channelsMiddleware(options: ChannelsOptions = {}): ChannelsMiddleware {
  const { path = '/ws', hub: given, serveClient = true, ...hubOptions } = options
  const hub = given ?? createHub(hubOptions as HubOptions)
  const paths = endpointPaths(path)
  const bundlePath = `${paths[0] === '/' ? '' : paths[0]}/hornbeam.js`
  const pending = new WeakMap<IncomingMessage, Pending>()
  const attached = new WeakMap<object, () => void>()
  const wrapped = new WeakSet<object>()
  let parent: Mountable | undefined

  const mw = function channels(req: Request, res: Response, next: NextFunction): void {
    req.channels = hub
    const upgrade = pending.get(req)
    if (upgrade !== undefined) {
      // The middleware before ours let it through: the socket is the hub's now, not the response's.
      pending.delete(req)
      upgrade.res.detachSocket(upgrade.socket as NetSocket)
      return hub.handleUpgrade(req, upgrade.socket, upgrade.head, req)
    }
    if (serveClient && (req.method === 'GET' || req.method === 'HEAD') && pathname(req.originalUrl ?? req.url) === bundlePath) {
      return void sendBundle(res).catch(next)
    }
    next()
  } as ChannelsMiddleware

  function attach(server: Server | HttpsServer, app?: UpgradeApp): () => void {
    const existing = attached.get(server)
    if (existing !== undefined) return existing
    // The core's dispatcher matches our paths (and answers 404 when no listener claims one).
    const unmount = hub.attach(server as Server, {
      path,
      onUpgrade: (req, socket, head) => upgradeThrough(app ?? (root() as UpgradeApp | undefined), req, socket, head),
    })
    const detach = () => {
      unmount()
      attached.delete(server)
    }
    attached.set(server, detach)
    return detach
  }

  function upgradeThrough(app: UpgradeApp | undefined, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (app === undefined) return hub.handleUpgrade(req, socket, head, req)
    const res = new ServerResponse(req)
    res.shouldKeepAlive = false
    res.assignSocket(socket as NetSocket)
    // An earlier middleware answered (401, a redirect): that response goes out, then the socket closes.
    res.on('finish', () => (socket as NetSocket).destroySoon())
    pending.set(req, { socket, head, res })
    app(req, res, (err?: unknown) => {
      // The request went through the whole app without reaching us (a path prefix, a router), or failed.
      pending.delete(req)
      if (res.headersSent) return void socket.destroy()
      const status = Number((err as { status?: unknown } | undefined)?.status)
      res.statusCode = err === undefined ? 404 : status >= 400 && status < 600 ? status : 500
      res.setHeader('Content-Type', 'text/plain')
      res.end(err === undefined ? 'not found' : 'upgrade refused')
    })
  }

  function root(): Mountable | undefined {
    let app = parent
    while (app?.parent !== undefined) app = app.parent
    return app
  }

  /** `app.listen()` (and a grand-parent's, for nested apps) attaches the server it returns. */
  function wrapListen(app: Mountable): void {
    if (wrapped.has(app)) return
    wrapped.add(app)
    const listen = app.listen
    app.listen = function (this: UpgradeApp, ...args: unknown[]) {
      const server = listen.apply(this, args)
      attach(server, this)
      return server
    }
    app.on?.('mount', wrapListen)
  }

  function onMount(app: Mountable): void {
    parent = app
    app.channel = mw.channel
    app.channels = hub
    app.presence = mw.presence
    wrapListen(app)
  }

  return Object.assign(mw, {
    hub,
    path,
    channel: hub.channel.bind(hub),
    presence: hub.presence.bind(hub),
    broadcast: hub.broadcast.bind(hub),
    broadcastFrom: hub.broadcastFrom.bind(hub),
    attach,
    close: () => hub.close(),
    // What makes Express's app.use treat us as a sub-app and emit 'mount' with the parent.
    handle: mw,
    set: () => mw,
    emit: (event: string, app: Mountable) => (event === 'mount' ? (onMount(app), true) : false),
  })
}

export default channelsMiddleware

/** The client is resolved at request time: it is optional until someone asks for the bundle. */
async function sendBundle(res: ServerResponse): Promise<void> {
  let file: string
  try {
    file = require.resolve('@hornbeam/client/browser')
  } catch {
    res.statusCode = 404
    res.setHeader('Content-Type', 'text/plain; charset=utf-8')
    return void res.end('hornbeam.js: @hornbeam/client is not installed (npm install @hornbeam/client)\n')
  }
  const body = await readFile(file)
  res.setHeader('Content-Type', 'application/javascript; charset=utf-8')
  res.setHeader('Content-Length', body.length)
  res.end(body)
}

function pathname(url: string | undefined): string {
  const q = (url ?? '/').indexOf('?')
  return q < 0 ? (url ?? '/') : url!.slice(0, q)
}
