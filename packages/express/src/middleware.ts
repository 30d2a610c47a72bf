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
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { Duplex } from 'node:stream'
import type { NextFunction, Request, Response } from 'express'
import type { ConnectHook, Hub } from '@hornbeam/channels'
import { clientBundle, clientBundlePath, mountHub, PipelineUpgrades, type MountOptions } from '@hornbeam/channels/adapter'

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

export interface ChannelsOptions extends Omit<MountOptions, 'connect'> {
  /** `connect(params, req)`: `req` is Express's own, after the middleware listed before ours. */
  connect?: ConnectHook<Request>
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
  /**
   * Closes with 1012, runs leave hooks and untracks presence, then resolves: the hub, if this
   * middleware created it; only the sockets it accepted, if it was given a shared `hub`.
   */
  close(): Promise<void>
}

interface Mountable {
  listen: (...args: unknown[]) => Server
  on?: (event: 'mount', fn: (parent: Mountable) => void) => unknown
  parent?: Mountable
  channel?: unknown
  channels?: unknown
  presence?: unknown
}

export function channelsMiddleware(options: ChannelsOptions = {}): ChannelsMiddleware {
  const mount = mountHub(options)
  const { hub, path } = mount
  const bundlePath = clientBundlePath(path)
  const upgrades = new PipelineUpgrades(hub.endpoint, mount.owner)
  const attached = new WeakMap<object, () => void>()
  const wrapped = new WeakSet<object>()
  let parent: Mountable | undefined

  const mw = function channels(req: Request, res: Response, next: NextFunction): void {
    req.channels = hub
    // The middleware before ours let an upgrade through: the socket is the hub's, not the response's.
    if (upgrades.handOff(req, req)) return
    // Long-poll after the middleware listed before ours, as an upgrade is.
    if (mount.longPollPath !== undefined && pathname(req.originalUrl ?? req.url) === mount.longPollPath) return void mount.serveLongPoll(req, res, req)
    if (mount.serveClient && (req.method === 'GET' || req.method === 'HEAD') && pathname(req.originalUrl ?? req.url) === bundlePath) {
      return void clientBundle().then((bundle) => void res.status(bundle.status).set(bundle.headers).end(bundle.body), next)
    }
    next()
  } as ChannelsMiddleware

  function attach(server: Server | HttpsServer, app?: UpgradeApp): () => void {
    const existing = attached.get(server)
    if (existing !== undefined) return existing
    // The core's dispatcher matches our paths (and answers 404 when no listener claims one).
    const unmount = hub.attach(server as Server, {
      path,
      longPoll: false, // served by the middleware, after the app's own
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
    if (app === undefined) return hub.endpoint.handleUpgrade(req, socket, head, req, mount.owner)
    // An earlier middleware answers (401, a redirect), or ours hands off.
    upgrades.start(req, socket, head, (res) =>
      app(req, res, (err?: unknown) => {
        // The request went through the whole app without reaching us (a path prefix, a router), or failed.
        upgrades.forget(req)
        if (res.headersSent) return void socket.destroy()
        const status = Number((err as { status?: unknown } | undefined)?.status)
        res.statusCode = err === undefined ? 404 : status >= 400 && status < 600 ? status : 500
        res.setHeader('Content-Type', 'text/plain')
        res.end(err === undefined ? 'not found' : 'upgrade refused')
      }),
    )
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
    close: () => mount.close(),
    // What makes Express's app.use treat us as a sub-app and emit 'mount' with the parent.
    handle: mw,
    set: () => mw,
    emit: (event: string, app: Mountable) => (event === 'mount' ? (onMount(app), true) : false),
  })
}

export default channelsMiddleware

function pathname(url: string | undefined): string {
  const q = (url ?? '/').indexOf('?')
  return q < 0 ? (url ?? '/') : url!.slice(0, q)
}
