/**
 * @hornbeam/hono: channels for Hono 4 on @hono/node-server 2.
 *
 * - `app.use(channels.middleware)` sets `c.var.channels` and, for an upgrade on our paths, starts
 *   the handshake clock as soon as the app lets it through.
 * - `channels.routes(app)` adds GET `<path>` and `<path>/websocket` (and the bundle). An upgrade
 *   reaches them after the middleware registered before (auth, CORS), which may answer with a
 *   status; then `hub.endpoint.prepare` (the connect hook gets Hono's `c`), then node-server's
 *   `upgradeWebSocket`, whose onOpen hands ws's own WebSocket (`ctx.raw`) to `hub.endpoint.accept`.
 * - `serve({ fetch: app.fetch, websocket: channels.websocket })`: node-server upgrades with the
 *   hub's own ws server.
 */
import { upgradeWebSocket, type HttpBindings, type WebSocketServerLike } from '@hono/node-server'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { Context, Env, Hono, MiddlewareHandler, Next } from 'hono'
import type { WebSocket } from 'ws'
import type { ConnectHook, Hub } from '@hornbeam/channels'
import { clientBundle, clientBundlePath, mountHub, refusalResponse, type MountOptions, type Prepared, type SimpleResponse } from '@hornbeam/channels/adapter'

/** The env of an app with channels: `new Hono<ChannelsEnv>()` types `c.var.channels` (and node-server's `c.env`). */
export type ChannelsEnv = { Bindings: HttpBindings; Variables: { channels: Hub } }

export interface ChannelsOptions<E extends Env = ChannelsEnv> extends Omit<MountOptions, 'connect'> {
  /** `connect(params, c, info)`: `c` is Hono's context, after the middleware registered before the routes. */
  connect?: ConnectHook<Context<E>>
}

export interface Channels {
  readonly hub: Hub
  readonly path: string
  /** `app.use(channels.middleware)`, before any route that uses `c.var.channels` (and before auth). */
  readonly middleware: MiddlewareHandler<ChannelsEnv>
  /** Adds GET `<path>`, `<path>/websocket` and `<path>/hornbeam.js`, and `<path>/longpoll`, to `app`; returns `app`. */
  routes<A extends Hono<any, any, any>>(app: A): A
  /** For node-server: `serve({ fetch: app.fetch, websocket: channels.websocket })`. */
  readonly websocket: { server: WebSocketServerLike }
  channel: Hub['channel']
  presence: Hub['presence']
  broadcast: Hub['broadcast']
  broadcastFrom: Hub['broadcastFrom']
  /** 1012 to clients, leave hooks, presence untracked: the hub if these channels made it, else only their sockets. */
  close(): Promise<void>
}

export function createChannels<E extends Env = ChannelsEnv>(options: ChannelsOptions<E> = {}): Channels {
  const mount = mountHub(options as MountOptions)
  const { hub, paths } = mount
  const wss = hub.endpoint.wss
  const isUpgrade = (c: Context) => c.req.header('upgrade')?.toLowerCase() === 'websocket'
  // node-server runs an upgrade through the app with the raw request and no response object.
  const upgrading = (c: Context<ChannelsEnv>) => (c.env?.incoming && !c.env.outgoing ? c.env.incoming : undefined)
  const send = (r: SimpleResponse) => new Response(r.body, { status: r.status, headers: r.headers })
  // What node-server upgrades with: the hub's ws server (its maxPayload, no compression, the
  // phoenix subprotocol). node-server closes its ws server with the HTTP server; this one is the hub's.
  const server: WebSocketServerLike = {
    options: { noServer: true },
    on: (event: any, listener: any) => (wss.on(event, listener), server),
    off: (event: any, listener: any) => (wss.off(event, listener), server),
    emit: (event: any, ...args: any[]) => wss.emit(event, ...args),
    handleUpgrade: (req, socket, head, done) => wss.handleUpgrade(req, socket, head, done),
    close: () => {},
  }

  const middleware: MiddlewareHandler<ChannelsEnv> = async (c, next) => {
    c.set('channels', hub)
    const incoming = paths.includes(c.req.path) ? upgrading(c) : undefined
    if (incoming) hub.endpoint.guard(incoming.socket)
    await next()
  }

  function adopt(ws: WebSocket, prepared: Prepared): void {
    hub.endpoint.accept(ws, prepared, mount.owner)
    // node-server relays ws's events to our (empty) handlers with listeners it adds right after
    // onOpen, which keep the request's context alive as long as the socket (~6.5 KB). The hub
    // handles the socket itself: those listeners go, once added.
    const ours = (['message', 'close', 'error'] as const).map((event) => [event, ws.listeners(event)] as const)
    queueMicrotask(() => {
      for (const [event, keep] of ours) for (const fn of ws.listeners(event)) if (!keep.includes(fn)) ws.off(event, fn as () => void)
    })
  }

  async function endpoint(c: Context<ChannelsEnv>, next: Next): Promise<Response | void> {
    if (!isUpgrade(c)) return c.text('this endpoint speaks WebSocket', 426, { upgrade: 'websocket' })
    const incoming = upgrading(c)
    if (!incoming) {
      hub.logger.error({}, '@hornbeam/hono: an upgrade came in as a plain request: serve({ fetch, websocket: channels.websocket })')
      return c.text('websocket not enabled in serve()', 500)
    }
    if (c.var.channels !== hub) hub.endpoint.guard(incoming.socket) // the middleware did not see it first
    const result = await hub.endpoint.prepare(incoming, c)
    if ('status' in result) return send(refusalResponse(result))
    await upgradeWebSocket(() => ({ onOpen: (_event, ws) => adopt(ws.raw as unknown as WebSocket, result) }))(c, next)
    return c.body(null) // node-server adds its headers (set by earlier middleware: a Set-Cookie) to the 101
  }

  /** `<path>/longpoll`: node-server's own request and response go to the core, which answers. */
  function longPoll(c: Context<ChannelsEnv>): Response {
    const { incoming, outgoing } = c.env ?? {}
    if (!incoming || !outgoing) return c.text('long-poll needs @hono/node-server (serve({ fetch: app.fetch }))', 500)
    void mount.serveLongPoll(incoming, outgoing, c)
    return RESPONSE_ALREADY_SENT
  }

  return {
    hub,
    path: mount.path,
    middleware,
    routes(app) {
      for (const url of paths) app.get(url, endpoint)
      if (mount.longPollPath !== undefined) app.all(mount.longPollPath, longPoll)
      if (mount.serveClient) app.get(clientBundlePath(mount.path), async () => send(await clientBundle()))
      return app
    },
    websocket: { server },
    channel: hub.channel.bind(hub),
    presence: hub.presence.bind(hub),
    broadcast: hub.broadcast.bind(hub),
    broadcastFrom: hub.broadcastFrom.bind(hub),
    close: () => mount.close(),
  }
}

export default createChannels

export type { ConnectHook, ConnectInfo, OriginCheck, Hub, HubOptions, TopicPresence } from '@hornbeam/channels'
export type { Prepared } from '@hornbeam/channels/adapter'
export type {
  ChannelDefinition, HubStats, IdHook, JoinHandler, EventHandler, LeaveHandler, Payload, PresenceList, Socket, Assigns,
} from '@hornbeam/channels'
