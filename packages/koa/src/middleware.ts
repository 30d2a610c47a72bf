/**
 * Koa middleware for Hornbeam channels (Koa 2 and 3). `app.use(channels())` then `app.listen()`:
 *
 * - Koa's `use` tells a middleware nothing about its app. So this module, when first imported,
 *   wraps `Koa.prototype.listen` of the `koa` it resolves (koa is a peer dependency): the server
 *   `app.listen()` returns is attached, before it accepts anything, for every channels middleware
 *   in `app.middleware`. `mw.attach(server, app)` does the same for a server made by hand.
 * - An upgrade for our path runs through `app.callback()` with a ServerResponse bound to the raw
 *   socket, so the app's middleware before ours (sessions, auth) runs first and may answer with an
 *   HTTP status. When the request reaches our middleware, the hub takes the socket and upgrades it.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import Koa from 'koa'
import type { Next, ParameterizedContext } from 'koa'
import type { ConnectHook, Hub } from '@hornbeam/channels'
import { clientBundle, clientBundlePath, mountHub, PipelineUpgrades, type MountOptions } from '@hornbeam/channels/adapter'

declare module 'koa' {
  interface BaseContext {
    /**
     * The channels hub (broadcast, broadcastFrom, presence, disconnect, stats): on `app.context` once
     * the app's server is attached (`app.listen()`, `mw.attach`), and set again by the middleware on
     * every request it sees.
     */
    channels: Hub
  }
}

export interface ChannelsOptions extends Omit<MountOptions, 'connect'> {
  /** `connect(params, ctx)`: `ctx` is Koa's own, after the middleware registered before ours. */
  connect?: ConnectHook<ParameterizedContext>
}

/** What upgrades run through: a Koa app (2 or 3), or anything with Koa's `callback()`. */
export interface UpgradeApp {
  callback(): (req: IncomingMessage, res: ServerResponse) => unknown
  /** Koa's `app.context`: given `channels` (the hub) if it has none yet. */
  context?: object
}

export interface ChannelsMiddleware {
  (ctx: ParameterizedContext<any, {}>, next: Next): Promise<void>
  readonly hub: Hub
  readonly path: string
  channel: Hub['channel']
  presence: Hub['presence']
  broadcast: Hub['broadcast']
  broadcastFrom: Hub['broadcastFrom']
  /**
   * Handles upgrades for our path on a server made by hand (`http.createServer(app.callback())`,
   * https): they run through `app`'s middleware, as its requests do. Sets `app.context.channels`
   * if unset. `app.listen()` calls it itself. Attaching twice to one server is a no-op. Returns a
   * detach function.
   */
  attach(server: Server | HttpsServer, app: UpgradeApp): () => void
  /**
   * Closes with 1012, runs leave hooks and untracks presence, then resolves: the hub, if this
   * middleware created it; only the sockets it accepted, if it was given a shared `hub`.
   */
  close(): Promise<void>
}

/** Marks our middleware (for the `listen` wrapper) and a wrapped Koa prototype; shared by the ESM and CommonJS builds. */
const MARK = Symbol.for('@hornbeam/koa')

export function channels(options: ChannelsOptions = {}): ChannelsMiddleware {
  const mount = mountHub(options)
  const { hub, path } = mount
  const bundlePath = clientBundlePath(path)
  const upgrades = new PipelineUpgrades(hub.endpoint, mount.owner)
  const attached = new WeakMap<object, () => void>()

  const mw = async function channels(ctx: ParameterizedContext<any, {}>, next: Next): Promise<void> {
    ctx.channels = hub
    // The middleware before ours let an upgrade through: the socket is the hub's, not Koa's response's.
    if (upgrades.handOff(ctx.req, ctx)) return void (ctx.respond = false)
    // Long-poll after the middleware registered before ours, as an upgrade is; the core answers.
    if (mount.longPollPath !== undefined && pathname(ctx.originalUrl) === mount.longPollPath) {
      ctx.respond = false
      return mount.serveLongPoll(ctx.req, ctx.res, ctx)
    }
    if (mount.serveClient && (ctx.method === 'GET' || ctx.method === 'HEAD') && pathname(ctx.originalUrl) === bundlePath) {
      const bundle = await clientBundle()
      ctx.status = bundle.status
      ctx.body = bundle.body
      return void ctx.set(bundle.headers)
    }
    return next()
  } as ChannelsMiddleware

  function attach(server: Server | HttpsServer, app: UpgradeApp): () => void {
    const existing = attached.get(server)
    if (existing !== undefined) return existing
    const handler = app.callback()
    // ctx.channels on every request of the app, in the middleware before ours too.
    const context = app.context as { channels?: Hub } | undefined
    if (context !== undefined) context.channels ??= hub
    // The core's dispatcher matches our paths (and answers 404 when no listener claims one).
    // An earlier middleware answers (401, a redirect), or nothing does (Koa's 404), or ours hands off.
    // Long-poll is served by the middleware (longPoll: false here), after the app's own.
    const unmount = hub.attach(server as Server, { path, longPoll: false, onUpgrade: (req, socket, head) => upgrades.start(req, socket, head, (res) => handler(req, res)) })
    const detach = () => {
      unmount()
      attached.delete(server)
    }
    attached.set(server, detach)
    return detach
  }

  return Object.assign(mw, {
    [MARK]: true,
    hub,
    path,
    channel: hub.channel.bind(hub),
    presence: hub.presence.bind(hub),
    broadcast: hub.broadcast.bind(hub),
    broadcastFrom: hub.broadcastFrom.bind(hub),
    attach,
    close: () => mount.close(),
  })
}

export default channels

/** `app.listen()` attaches the server it returns for each channels middleware in `app.middleware`. */
interface Listening extends UpgradeApp {
  listen(...args: unknown[]): Server
  middleware: unknown[]
  [MARK]?: true
}
const proto = (Koa as unknown as { prototype: Listening }).prototype
if (proto[MARK] === undefined) {
  const listen = proto.listen
  proto[MARK] = true
  proto.listen = function (this: Listening, ...args: unknown[]) {
    const server = listen.apply(this, args)
    for (const fn of this.middleware) if ((fn as { [MARK]?: true })[MARK]) (fn as ChannelsMiddleware).attach(server, this)
    return server
  }
}

function pathname(url: string): string {
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}
