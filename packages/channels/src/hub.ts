import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { WebSocketServer, type WebSocket } from 'ws'
import type { ChannelInstance } from './channel-instance.js'
import type { AllowedHosts, ConnectInfo, OriginCheck } from './auth.js'
import { ChannelDefinition } from './channel.js'
import { Connection } from './connection.js'
import { defaultLimits, Limits, type LimitOptions } from './limits.js'
import { consoleLogger, type Logger } from './logger.js'
import { OutboundMessage } from './message.js'
import { TopicPresence } from './presence/presence.js'
import { defaultPresenceOptions, PresenceTracker, type PresenceOptions } from './presence/tracker.js'
import { memoryAdapter, type ClusterMessage, type PubSubAdapter } from './pubsub.js'
import { TopicRouter } from './router.js'
import type { Assigns } from './results.js'
import { Socket, type SocketHost } from './socket.js'
import { attachToServer, prepareConnection, refuseUpgrade, type AttachOptions, type Prepared, type Refusal } from './upgrade.js'

/**
 * `connect(params, request, info)`: the assigns the connection starts with, or false to refuse
 * (403). `info.authToken` is the token a phoenix client sent in `Sec-WebSocket-Protocol`.
 */
export type ConnectHook<Req = IncomingMessage> = (
  params: Record<string, string>,
  request: Req,
  info: ConnectInfo,
) => Assigns | boolean | undefined | void | Promise<Assigns | boolean | undefined | void>

/** `id(socket)`: a name for the connection (a user id), so `disconnect(name)` can close it. */
export type IdHook = (socket: Socket<any>) => string | null | undefined

export interface HubOptions extends Partial<LimitOptions> {
  adapter?: PubSubAdapter
  connect?: ConnectHook<any>
  id?: IdHook
  logger?: Logger
  /** A socket that sends nothing (not even a heartbeat) this long is closed with 1001. Default 60 s. */
  idleTimeoutMs?: number
  /** A socket that has joined no channel this long is closed with 1008. Default 45 s. */
  unjoinedTimeoutMs?: number
  /** A frame whose first bytes arrived must be complete within this; else 1008. Default 10 s. */
  frameTimeoutMs?: number
  /** An upgrade must be accepted (app middleware, connect hook) within this; else 503. Default 10 s. */
  handshakeTimeoutMs?: number
  /** Which browser origins may connect; default: the Origin must match the Host. */
  checkOrigin?: OriginCheck
  /** Which Host headers an upgrade may carry (DNS rebinding); see AllowedHosts. */
  allowedHosts?: AllowedHosts
  presence?: Partial<PresenceOptions>
}

export interface ResolvedOptions extends LimitOptions {
  idleTimeoutMs: number
  unjoinedTimeoutMs: number
  frameTimeoutMs: number
  handshakeTimeoutMs: number
  checkOrigin: OriginCheck
  allowedHosts: AllowedHosts | undefined
}

export interface HubStats {
  connections: number
  channels: number
  topics: Record<string, number>
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
  malformed: number
  joins: number
  joinsRefused: number
  crashes: number
  refusedUpgrades: number
  rateLimited: number
  slowConsumers: number
  droppedFrames: number
  presence: { entries: number; topics: number; peers: number; downPeers: number }
}

type Counters = Omit<HubStats, 'connections' | 'channels' | 'topics' | 'presence'>

/**
 * The channels core: channel definitions, connections, topic subscriptions, broadcast and
 * presence. Adapters (Fastify, Express, `attach` for node:http) feed it upgraded WebSockets.
 */
export class Hub {
  readonly nodeId = randomBytes(6).toString('base64url')
  readonly options: ResolvedOptions
  readonly logger: Logger
  readonly adapter: PubSubAdapter
  /** @internal */ readonly router = new TopicRouter<ChannelDefinition<any>>()
  /** @internal */ readonly counters: Counters = {
    framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, malformed: 0, joins: 0, joinsRefused: 0,
    crashes: 0, refusedUpgrades: 0, rateLimited: 0, slowConsumers: 0, droppedFrames: 0,
  }
  /** @internal */ readonly limits: Limits
  /** @internal */ readonly presenceTracker: PresenceTracker
  /** @internal */ readonly wss: WebSocketServer
  private readonly connections = new Set<Connection>()
  private readonly topics = new Map<string, Set<ChannelInstance>>()
  private readonly uncorkQueue: Connection[] = []
  private readonly sweeper: NodeJS.Timeout
  private connectionSeq = 0
  /** @internal */ readonly onSocketError = (err: Error) => this.logger.debug({ err }, 'socket error')
  private closing: Promise<void> | undefined
  private readonly started: Promise<void>

  constructor(readonly hooks: HubOptions = {}) {
    this.logger = hooks.logger ?? consoleLogger
    this.options = {
      ...defaultLimits,
      idleTimeoutMs: 60_000,
      unjoinedTimeoutMs: 45_000,
      frameTimeoutMs: 10_000,
      handshakeTimeoutMs: 10_000,
      checkOrigin: true,
      ...definedOnly(hooks),
    } as ResolvedOptions
    this.limits = new Limits(this.options, this.counters, this.logger)
    this.adapter = hooks.adapter ?? memoryAdapter()
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.options.maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
      // The phoenix client may offer "phoenix" plus a token protocol; answer with "phoenix".
      handleProtocols: (protocols) => (protocols.has('phoenix') ? 'phoenix' : false),
    })
    this.presenceTracker = new PresenceTracker(
      {
        nodeId: this.nodeId,
        logger: this.logger,
        publish: (channel, message) => this.adapter.publish(channel, message),
        hasSubscribers: (topic) => this.topics.has(topic),
        deliverLocal: (topic, message) => this.deliverLocal(topic, message, undefined),
      },
      { ...defaultPresenceOptions, ...definedOnly(hooks.presence ?? {}), maxMetaBytes: this.options.maxPresenceMetaBytes },
    )
    const shortest = Math.min(this.options.idleTimeoutMs, this.options.unjoinedTimeoutMs, this.options.frameTimeoutMs)
    const sweepEvery = Math.max(50, Math.min(5000, Math.floor(shortest / 4)))
    this.sweeper = setInterval(() => this.sweepIdle(), sweepEvery)
    this.sweeper.unref()
    this.started = this.start()
    // ready() still rejects for whoever awaits it; nobody awaiting must not crash the process.
    this.started.catch((err) => this.logger.error({ err }, 'pub/sub adapter failed to start'))
  }

  private async start(): Promise<void> {
    await this.adapter.start(this.nodeId, (channel, message) => this.onClusterMessage(channel, message))
    this.adapter.subscribe('control')
    this.adapter.subscribe(`node:${this.nodeId}`)
    this.adapter.onReconnect?.(() => this.onAdapterReconnect())
    this.presenceTracker.start()
  }

  /** Resolves once the adapter is connected (a Redis adapter needs a moment). */
  ready(): Promise<void> {
    return this.started
  }

  // -- definitions

  /** Declares the server side of a topic pattern: `hub.channel('room:*').onJoin(...)`. */
  channel<A extends object = Assigns>(pattern: string): ChannelDefinition<A> {
    const definition = new ChannelDefinition<A>(pattern)
    this.router.add(pattern, definition)
    return definition
  }

  // -- broadcast

  /** Sends an event to every subscriber of `topic`, on every node. */
  broadcast(topic: string, event: string, payload: unknown = {}): void {
    this.broadcastTopic(topic, event, payload, undefined)
  }

  /** Sends an event to every subscriber of the socket's topic, on every node, but that socket. */
  broadcastFrom(socket: Socket<any>, event: string, payload: unknown = {}): void {
    this.broadcastTopic(socket.topic, event, payload, socket.id)
  }

  /** @internal */
  broadcastTopic(topic: string, event: string, payload: unknown, exclude: string | undefined): void {
    if (typeof topic !== 'string' || topic.length === 0) throw new TypeError('topic must be a non-empty string')
    if (typeof event !== 'string' || event.length === 0) throw new TypeError('event must be a non-empty string')
    this.deliverLocal(topic, new OutboundMessage(topic, event, payload), exclude)
    const message: ClusterMessage = { k: 'b', n: this.nodeId, t: topic, e: event, p: payload }
    if (exclude !== undefined) message.x = exclude
    this.adapter.publish(`topic:${topic}`, message)
  }

  /** Writes one message to every local subscriber of `topic`: one serialization per wire. */
  private deliverLocal(topic: string, message: OutboundMessage, exclude: string | undefined): void {
    const subscribers = this.topics.get(topic)
    if (subscribers === undefined) return
    for (const channel of subscribers) {
      const conn = channel.conn
      if (conn.id !== exclude) conn.writeFrame(message.frameFor(conn.wire))
    }
  }

  /** @internal Frames written this turn leave in one write per socket, after the turn. */
  scheduleUncork(conn: Connection): void {
    if (this.uncorkQueue.push(conn) === 1) setImmediate(() => this.uncorkAll())
  }

  private uncorkAll(): void {
    const queue = this.uncorkQueue
    for (let i = 0; i < queue.length; i++) queue[i]!.uncork()
    queue.length = 0
  }

  // -- subscriptions

  /** @internal A channel joined: it gets the topic's broadcasts, starting with presence_state. */
  subscribe(channel: ChannelInstance): void {
    let set = this.topics.get(channel.topic)
    if (set === undefined) {
      this.topics.set(channel.topic, (set = new Set()))
      this.adapter.subscribe(`topic:${channel.topic}`)
    }
    set.add(channel)
    channel.subscribed = true
    this.presenceTracker.subscribed(channel.topic)
    channel.conn.writeParts(this.presenceTracker.stateFrame(channel.topic, channel.joinRef, channel.conn.wire))
  }

  /** @internal */
  unsubscribe(channel: ChannelInstance): void {
    const set = this.topics.get(channel.topic)
    channel.subscribed = false
    if (set === undefined || !set.delete(channel) || set.size > 0) return
    this.topics.delete(channel.topic)
    this.adapter.unsubscribe(`topic:${channel.topic}`)
    this.presenceTracker.unsubscribed(channel.topic)
  }

  // -- presence

  /** Presence on one topic: track, update, untrack, list, get. */
  presence(topic: string): TopicPresence {
    return new TopicPresence(this.presenceTracker, topic)
  }

  // -- cluster

  private onClusterMessage(channel: string, message: ClusterMessage): void {
    try {
      if (message.n === this.nodeId) return // our own, echoed back by the engine
      if (message.k === 'b') {
        const topic = message.t as string
        this.deliverLocal(topic, new OutboundMessage(topic, message.e as string, message.p), message.x as string | undefined)
      } else if (message.k === 'disconnect') {
        this.disconnectLocal(message.id as string)
      } else {
        this.presenceTracker.receive(message)
      }
    } catch (err) {
      this.logger.error({ err, channel }, 'bad cluster message')
    }
  }

  private onAdapterReconnect(): void {
    for (const topic of this.topics.keys()) this.adapter.subscribe(`topic:${topic}`)
    this.presenceTracker.resync()
  }

  /** Closes every socket that the `id` hook named `id`, on every node. */
  disconnect(id: string): void {
    this.disconnectLocal(id)
    this.adapter.publish('control', { k: 'disconnect', n: this.nodeId, id })
  }

  private disconnectLocal(id: string): void {
    for (const conn of this.connections) if (conn.socketId === id) void conn.close(1000, 'disconnected')
  }

  // -- connections

  /**
   * Checks an upgrade request: protocol version, connection limit, the connect hook. Adapters
   * call it before upgrading, so a refusal is an HTTP status. `request` is what the connect
   * hook sees (the framework's own request object).
   */
  async prepare(rawRequest: IncomingMessage, request: unknown = rawRequest): Promise<Prepared | Refusal> {
    let result: Prepared | Refusal
    if (this.closing) result = { status: 503, message: 'server is shutting down' }
    else if (this.options.maxConnections > 0 && this.connections.size >= this.options.maxConnections) {
      result = { status: 503, message: 'too many connections' }
    } else result = await prepareConnection(this, rawRequest, request)
    // Every refusal is counted here, whichever adapter answers it.
    if ('status' in result) this.counters.refusedUpgrades++
    return result
  }

  /** Takes an upgraded WebSocket into the hub. */
  accept(ws: WebSocket, prepared: Prepared): Connection {
    const id = `${this.nodeId}.${(++this.connectionSeq).toString(36)}`
    const conn = new Connection(this, ws, prepared.wire, id, prepared.assigns)
    if (this.closing) {
      void conn.close(1012, 'server is shutting down')
      return conn
    }
    this.connections.add(conn)
    if (this.hooks.id) {
      try {
        conn.socketId = this.hooks.id(new Socket(connectionHost(conn), conn.assigns)) ?? undefined
      } catch (err) {
        this.logger.error({ err }, 'id hook failed')
      }
    }
    return conn
  }

  /** Upgrade-and-accept for a raw `upgrade` event (node:http, Express). */
  handleUpgrade(req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer, request?: unknown): void {
    // A listener made once per hub: a closure made here would share this scope's context and
    // keep `req` alive for the socket's whole life.
    if (!socket.listeners('error').includes(this.onSocketError)) socket.on('error', this.onSocketError)
    this.prepare(req, request ?? req).then(
      (result) => {
        if ('status' in result) return refuseUpgrade(socket, result)
        this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, result))
      },
      (err) => {
        this.logger.error({ err }, 'upgrade failed')
        refuseUpgrade(socket, { status: 500, message: 'internal error' })
      },
    )
  }

  /** Mounts the hub on a node:http(s) server's upgrade path; returns a function that unmounts it. */
  attach(server: import('node:http').Server, options: AttachOptions = {}): () => void {
    return attachToServer(this, server, options)
  }

  /** @internal */
  removeConnection(conn: Connection): void {
    this.connections.delete(conn)
  }

  /** The per-socket deadlines, checked in one pass: no timer per socket. */
  private sweepIdle(): void {
    const now = Date.now()
    const idle = now - this.options.idleTimeoutMs
    const unjoined = now - this.options.unjoinedTimeoutMs
    const frame = now - this.options.frameTimeoutMs
    for (const conn of this.connections) {
      if (conn.lastSeen < idle) void conn.close(1001, 'idle timeout')
      else if (conn.unjoinedSince !== 0 && conn.unjoinedSince < unjoined) void conn.close(1008, 'no channel joined')
      else if (conn.partialFrameSince(now) < frame) void conn.close(1008, 'frame timeout')
    }
  }

  // -- introspection and shutdown

  stats(): HubStats {
    const topics: Record<string, number> = {}
    let channels = 0
    for (const [topic, set] of this.topics) {
      topics[topic] = set.size
      channels += set.size
    }
    return { ...this.counters, connections: this.connections.size, channels, topics, presence: this.presenceTracker.stats() }
  }

  /**
   * Stops accepting, closes every socket with 1012 (so clients reconnect elsewhere) in batches,
   * runs leave hooks, untracks presence and flushes the last presence delta to the cluster.
   */
  close(options: { code?: number; batchSize?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      const code = options.code ?? 1012
      const batchSize = options.batchSize ?? 500
      const conns = [...this.connections]
      for (let i = 0; i < conns.length; i += batchSize) {
        await Promise.all(conns.slice(i, i + batchSize).map((c) => c.close(code, 'server shutting down', 'shutdown')))
        if (i + batchSize < conns.length) await new Promise((resolve) => setImmediate(resolve))
      }
      this.uncorkAll()
      clearInterval(this.sweeper)
      // An adapter whose start never settled is closed all the same (close() must not hang).
      await Promise.race([this.started.catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1000).unref())])
      this.presenceTracker.stop()
      await this.adapter.close()
      this.wss.close()
    })()
    return this.closing
  }
}

export function createHub(options: HubOptions = {}): Hub {
  return new Hub(options)
}

/** A host for the connection-level Socket the `id` hook sees: no topic, nothing to push. */
function connectionHost(conn: Connection): SocketHost {
  return {
    connectionId: conn.id,
    topic: '',
    joinRef: null,
    dialect: conn.wire.dialect.name,
    get closed() {
      return conn.closed
    },
    push: () => {},
    broadcast: () => {},
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

