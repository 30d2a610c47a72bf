/**
 * @hornbeam/fastify: mounts a channels hub on Fastify 5 through @fastify/websocket. Upgrades are
 * ordinary Fastify routes, so the app's own hooks (auth, rate limits, CORS) run on them first.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { WebSocket } from 'ws'
import type {
  AssignsFrom, ChannelDefinition, ChannelOptions, ConnectHook, ContractFrom, Hub, StandardSchemaV1, TopicPresence,
} from '@hornbeam/channels'
import { clientBundle, clientBundlePath, mountHub, refusalResponse, type MountOptions, type Prepared } from '@hornbeam/channels/adapter'
import { isJsonSchema, jsonSchema, type JsonSchema } from './json-schema.js'

export interface ChannelsPluginOptions extends Omit<MountOptions, 'connect'> {
  /** `connect(params, request, info)`: assigns for the connection, or false to refuse it with 403. */
  connect?: ConnectHook<FastifyRequest>
  /**
   * The Ajv options JSON Schemas on channels compile with, when the app has no validator
   * compiler of its own: give what you gave `Fastify({ ajv })`, which a plugin cannot read.
   */
  ajv?: { customOptions?: object; plugins?: unknown[] }
}

/** Channel options whose schemas may also be plain JSON Schemas, validated by Fastify's Ajv. */
export interface FastifyChannelOptions<C> extends Omit<ChannelOptions<C>, 'join' | 'events'> {
  join?: StandardSchemaV1 | JsonSchema
  events?: { [event: string]: StandardSchemaV1 | JsonSchema }
}

/**
 * `app.channel`: the hub's `channel`, and the same with JSON Schemas (typed by a contract, if
 * given: `app.channel<RoomContract>('room:*', { join: { type: 'object', ... } })`).
 */
export type FastifyChannel = Hub['channel'] &
  (<T extends object = Record<string, unknown>>(pattern: string, options: FastifyChannelOptions<ContractFrom<T>>) => ChannelDefinition<AssignsFrom<T>, ContractFrom<T>>)

declare module 'fastify' {
  interface FastifyInstance {
    /** Declares the server side of a topic pattern: `app.channel('room:*').onJoin(...)`. */
    channel: FastifyChannel
    /** The hub: broadcast, broadcastFrom, presence, disconnect, stats. */
    channels: Hub
    /** Presence on one topic: track, update, untrack, list, get. */
    presence(topic: string): TopicPresence
  }
  interface FastifyRequest {
    /** The hub, for route handlers: `request.channels.broadcast(topic, event, payload)`. */
    channels: Hub
  }
}

/** What `hub.endpoint.prepare` decided for an upgrade request, from the route hook to the ws handler. */
const preparedFor = new WeakMap<FastifyRequest, Prepared>()

const plugin: FastifyPluginAsync<ChannelsPluginOptions> = async (fastify, options) => {
  const mount = mountHub(options, { logger: fastify.log })
  const hub = mount.hub
  await hub.ready() // a cluster adapter connects before the app listens

  if (!fastify.hasDecorator('websocketServer') && !fastify.hasPlugin('@fastify/websocket')) {
    // No compression: the hub writes prebuilt frames straight to the socket.
    await fastify.register(websocket, { options: { perMessageDeflate: false, maxPayload: hub.options.maxPayload } })
  } else {
    const theirs = fastify.websocketServer.options
    if (theirs.perMessageDeflate || (theirs.maxPayload ?? 0) > hub.options.maxPayload) {
      fastify.log.warn(
        { maxPayload: theirs.maxPayload, perMessageDeflate: !!theirs.perMessageDeflate },
        '@hornbeam/fastify: @fastify/websocket was registered with options the hub would not pick ' +
          `(maxPayload above ${hub.options.maxPayload} or perMessageDeflate on); they apply to channel sockets too`,
      )
    }
  }

  fastify.decorate('channels', hub)
  fastify.decorate('channel', ((pattern: string, channelOptions: FastifyChannelOptions<unknown> = {}) => {
    const schema = (value: StandardSchemaV1 | JsonSchema | undefined, what: string) =>
      isJsonSchema(value) ? jsonSchema(fastify, value, `${pattern} ${what}`, options.ajv) : value
    const events = channelOptions.events && Object.fromEntries(Object.entries(channelOptions.events).map(([event, s]) => [event, schema(s, event)]))
    return hub.channel(pattern, { ...channelOptions, join: schema(channelOptions.join, 'join'), events } as ChannelOptions)
  }) as FastifyChannel)
  fastify.decorate('presence', (topic: string) => hub.presence(topic))
  fastify.decorateRequest('channels', { getter: () => hub })

  /** Runs after the app's own hooks: host, origin, version, connection limit, the connect hook. */
  async function prepareUpgrade(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    if (!request.ws) return
    const result = await hub.endpoint.prepare(request.raw, request)
    if ('status' in result) {
      const refusal = refusalResponse(result)
      return reply.code(refusal.status).headers(refusal.headers).send(refusal.body)
    }
    preparedFor.set(request, result)
    return
  }

  function acceptSocket(socket: WebSocket, request: FastifyRequest): void {
    const prepared = preparedFor.get(request)
    preparedFor.delete(request)
    if (prepared === undefined) {
      request.log.error('@hornbeam/fastify: upgrade reached the handler without its route hook')
      return socket.close(1011, 'internal error')
    }
    // The hub closes its own sockets on shutdown (1012, leave hooks, untrack); keep
    // @fastify/websocket's preClose, which closes its clients without a code, off them.
    fastify.websocketServer.clients?.delete(socket)
    // @fastify/websocket's 'error' listener closes over the request (and its reply and raw
    // request), keeping ~3 KB alive per connection for the socket's whole life. The hub handles
    // (and logs) its sockets' errors itself, so that listener goes.
    socket.removeAllListeners('error')
    // Likewise the ServerResponse it bound to the TCP socket for routing, never unbound.
    const tcp = (socket as unknown as { _socket?: { _httpMessage?: { detachSocket(s: unknown): void } | null } })._socket
    tcp?._httpMessage?.detachSocket(tcp)
    hub.endpoint.accept(socket, prepared, mount.owner)
  }

  // An upgrade that the app's hooks or the connect hook never finish is refused after
  // handshakeTimeoutMs (ws clears the timer once it takes the socket).
  fastify.server.on('upgrade', function hornbeamHandshakeGuard(req: IncomingMessage, socket: Duplex) {
    const q = req.url?.indexOf('?') ?? -1
    const pathname = q < 0 ? req.url : req.url!.slice(0, q)
    if (pathname === mount.paths[0] || pathname === mount.paths[1]) hub.endpoint.guard(socket)
  })

  for (const url of mount.paths) {
    fastify.route({
      method: 'GET',
      url,
      preHandler: prepareUpgrade,
      wsHandler: acceptSocket,
      handler: (_request, reply) =>
        reply.code(426).header('upgrade', 'websocket').type('text/plain; charset=utf-8').send('this endpoint speaks WebSocket'),
    })
  }

  // Long-poll at <path>/longpoll: the core reads and checks the body itself (size limit, batch),
  // so in a scope of their own the routes take any content type without Fastify parsing it.
  // The app's hooks (auth, CORS) run first, as on any route.
  const longPollPath = mount.longPollPath
  if (longPollPath !== undefined) {
    await fastify.register(async (scope) => {
      scope.removeAllContentTypeParsers()
      scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined))
      scope.all(longPollPath, (request, reply) => {
        reply.hijack()
        return mount.serveLongPoll(request.raw, reply.raw, request)
      })
    })
  }

  if (mount.serveClient) {
    fastify.get(clientBundlePath(mount.path), async (_request, reply) => {
      const bundle = await clientBundle()
      return reply.code(bundle.status).headers(bundle.headers).send(bundle.body)
    })
  }

  // @fastify/websocket ends a refused upgrade's socket only if its own onRequest hook ran. An auth
  // hook registered before it replies first, and the socket (no HTTP parser left) stays open
  // forever, holding fastify.close() up. End it after the response here.
  fastify.addHook('onResponse', (request, _reply, done) => {
    const { upgrade, connection } = request.raw.headers
    if (request.ws !== true && upgrade !== undefined && /\bupgrade\b/i.test(connection ?? '')) request.raw.socket?.destroy()
    done()
  })

  // preClose, not onClose: server.close() waits for upgraded sockets, and onClose hooks run after
  // it. Closing here gives clients 1012 and runs leave hooks and untracks presence first.
  fastify.addHook('preClose', () => mount.close())
}

/** The Fastify plugin: `await fastify.register(channels, { path: '/ws' })`. */
export const channels = fp(plugin, { name: '@hornbeam/fastify', fastify: '5.x' })
export default channels

export type { ConnectHook, ConnectInfo, OriginCheck, Hub, HubOptions, TopicPresence } from '@hornbeam/channels'
export type { Prepared } from '@hornbeam/channels/adapter'
export type {
  ChannelDefinition, HubStats, IdHook, JoinHandler, EventHandler, LeaveHandler, Payload, PresenceList, Socket, Assigns,
} from '@hornbeam/channels'
