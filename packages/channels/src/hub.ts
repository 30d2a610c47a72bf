import { randomBytes } from 'node:crypto'
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'
import { ChannelDefinition, type ChannelOptions, type SchemaChannelOptions } from './channel.js'
import { dispatchCluster, CLUSTER_PROTOCOL } from './cluster.js'
import type { AssignsFrom, ClientContractOf, ContractFrom, ContractOfTopic, OutEvent, OutPayload, PayloadArg, ServerContractOf } from './contract.js'
import type { Connection } from './connection.js'
import { Endpoint } from './endpoint.js'
import { MemoryHistory } from './history/memory.js'
import { TopicHistory } from './history/topic-history.js'
import type { ConnectionHost } from './host.js'
import { Limits } from './limits.js'
import { consoleLogger, type Logger } from './logger.js'
import { definedOnly, resolveHistory, resolveOptions, type HubOptions, type ResolvedOptions } from './options.js'
import { TopicPresence } from './presence/presence.js'
import { defaultPresenceOptions, PresenceTracker } from './presence/tracker.js'
import { memoryAdapter, type PubSubAdapter } from './pubsub.js'
import type { Assigns } from './results.js'
import { TopicRouter } from './router.js'
import type { Socket } from './socket.js'
import { newCounters, type Counters, type HubStats } from './stats.js'
import { TopicRegistry, type BroadcastResult } from './topics.js'
import type { AttachOptions, Prepared, Refusal } from './upgrade.js'

export type { ConnectHook, HubOptions, IdHook } from './options.js'
export type { HubStats } from './stats.js'
export type { BroadcastResult } from './topics.js'

/**
 * The channels core, as a façade over its parts: channel definitions (router.ts), where sockets
 * come in (endpoint.ts), topics and broadcast (topics.ts), presence (presence/) and the other
 * nodes (cluster.ts, through the pub/sub adapter). docs/architecture.md walks through them.
 */
export class Hub {
  readonly nodeId = randomBytes(6).toString('base64url')
  readonly options: ResolvedOptions
  readonly logger: Logger
  readonly adapter: PubSubAdapter
  /** Where sockets come in: what framework adapters use to prepare, upgrade and accept them. */
  readonly endpoint: Endpoint
  /** @internal */ readonly router = new TopicRouter<ChannelDefinition<any>>()
  /** @internal */ readonly counters: Counters = newCounters()
  /** @internal */ readonly limits: Limits
  /** @internal */ readonly presenceTracker: PresenceTracker
  /** @internal */ readonly topics: TopicRegistry
  private readonly started: Promise<void>
  private closing: Promise<void> | undefined

  constructor(readonly hooks: HubOptions = {}) {
    const options = (this.options = resolveOptions(hooks))
    const logger = (this.logger = hooks.logger ?? consoleLogger)
    this.limits = new Limits(options, this.counters, logger)
    const adapter = (this.adapter = hooks.adapter ?? memoryAdapter())
    const tracker: PresenceTracker = (this.presenceTracker = new PresenceTracker(
      {
        nodeId: this.nodeId,
        logger,
        publish: (channel, message) => adapter.publish(channel, message),
        subscriberCount: (topic) => topics.subscriberCount(topic), subscribers: (topic) => topics.subscribersOf(topic),
        deliverLocal: (topic, message) => topics.deliverPresence(topic, message),
      },
      { ...defaultPresenceOptions, ...definedOnly(hooks.presence ?? {}), maxMetaBytes: options.maxPresenceMetaBytes },
    ))
    const maxBytes = (hooks.history as { maxBytes?: number } | undefined)?.maxBytes ?? 64 * 1024 * 1024
    const history = new TopicHistory(new MemoryHistory(maxBytes), (topic) => this.router.match(topic)?.value.history ?? false, this.counters)
    const topics: TopicRegistry = (this.topics = new TopicRegistry(this.nodeId, adapter, tracker, history, 5000, logger))
    const connectionHost: ConnectionHost = {
      options, logger, counters: this.counters, limits: this.limits,
      route: (topic) => this.router.match(topic),
      subscribe: (subscriber) => topics.subscribe(subscriber), unsubscribe: (subscriber) => topics.unsubscribe(subscriber),
      broadcast: (topic, event, payload, exclude) => topics.broadcast(topic, event, payload, exclude),
      scheduleUncork: (conn) => topics.scheduleUncork(conn),
      untrackChannel: (owner, topic) => tracker.untrackChannel(owner, topic),
      untrackOwner: (owner) => tracker.untrackOwner(owner),
      removeConnection: (conn) => this.endpoint.remove(conn as Connection),
    }
    this.endpoint = new Endpoint({ nodeId: this.nodeId, options, logger, counters: this.counters, connect: hooks.connect, id: hooks.id, connectionHost, adapter, peers: tracker, clustered: hooks.adapter !== undefined })
    this.started = this.start()
    // ready() still rejects for whoever awaits it; nobody awaiting must not crash the process.
    this.started.catch((err) => logger.error({ err }, 'pub/sub adapter failed to start'))
  }

  private async start(): Promise<void> {
    await this.adapter.start(this.nodeId, (channel, message) => {
      try {
        dispatchCluster(this.nodeId, message, {
          broadcast: (m) => this.topics.receive(m),
          disconnect: (m) => this.endpoint.disconnect(m.id, m.code ?? 1000, m.reason ?? 'disconnected'),
          presence: (m) => this.presenceTracker.receive(m),
          longPoll: (m) => this.endpoint.longPoll?.receive(m),
          ignored: () => this.counters.clusterMessagesIgnored++,
        })
      } catch (err) {
        this.logger.error({ err, channel }, 'bad cluster message')
      }
    })
    this.adapter.subscribe('control')
    this.adapter.subscribe(`node:${this.nodeId}`)
    this.adapter.onReconnect?.(() => {
      this.topics.resubscribe()
      this.presenceTracker.resync()
    })
    this.presenceTracker.start()
  }

  /** Resolves once the adapter is connected (a Redis adapter needs a moment). */
  ready(): Promise<void> {
    return this.started
  }

  /**
   * Declares the server side of a topic pattern. `channel<RoomContract>(pattern)` checks handlers
   * against a contract; `channel(pattern, { join, events })` validates with Standard Schemas.
   */
  channel<const S extends SchemaChannelOptions>(pattern: string, options: S): ChannelDefinition<Assigns, ServerContractOf<S>, ClientContractOf<S>>
  channel<T extends object = Assigns>(pattern: string, options?: ChannelOptions<ContractFrom<T>>): ChannelDefinition<AssignsFrom<T>, ContractFrom<T>>
  channel(pattern: string, options: ChannelOptions<any> = {}): ChannelDefinition<any, any, any> {
    const definition = new ChannelDefinition(pattern, resolveHistory(options.history, this.hooks.history), options, options.backpressure ?? this.options.slowConsumer, options.presence)
    this.router.add(pattern, definition)
    return definition
  }

  /**
   * Sends an event (JSON, or bytes: binary-payload.ts) to every subscriber of `topic`, on every node.
   * Resolves (never rejects) with its position in the topic's history, or null. Typed by TopicContracts.
   */
  broadcast<T extends string, E extends OutEvent<ContractOfTopic<T>>>(topic: T, event: E, ...payload: PayloadArg<OutPayload<ContractOfTopic<T>, E>>): Promise<BroadcastResult>
  broadcast(topic: string, event: string, payload: unknown = {}): Promise<BroadcastResult> {
    return Promise.resolve(this.topics.broadcast(topic, event, payload, undefined))
  }

  /** Sends an event to every subscriber of the socket's topic, on every node, but that socket. */
  broadcastFrom<C, E extends OutEvent<C>>(socket: Socket<any, C>, event: E, ...payload: PayloadArg<OutPayload<C, E>>): Promise<BroadcastResult>
  broadcastFrom(socket: Socket<any, any>, event: string, payload: unknown = {}): Promise<BroadcastResult> {
    return Promise.resolve(this.topics.broadcast(socket.topic, event, payload, socket.id))
  }

  /** Presence on one topic: track, update, untrack, list, get. */
  presence(topic: string): TopicPresence {
    return new TopicPresence(this.presenceTracker, topic)
  }

  /**
   * Closes every socket that the `id` hook named `id`, on every node, with `code` (default 1000:
   * clients do not reconnect; 1012 or a 4xxx code of yours tells them to).
   */
  disconnect(id: string, code = 1000, reason = 'disconnected'): void {
    this.endpoint.disconnect(id, code, reason)
    this.adapter.publish('control', { v: CLUSTER_PROTOCOL, kind: 'disconnect', node: this.nodeId, id, code, reason })
  }

  /** Mounts the hub on a node:http(s) server's upgrade path; returns a function that unmounts it. */
  attach(server: Server, options: AttachOptions = {}): () => void {
    return this.endpoint.attach(server, options)
  }

  /** @deprecated Use `hub.endpoint.prepare`. */
  prepare(rawRequest: IncomingMessage, request: unknown = rawRequest): Promise<Prepared | Refusal> {
    return this.endpoint.prepare(rawRequest, request)
  }

  /** @deprecated Use `hub.endpoint.accept`. */
  accept(ws: WebSocket, prepared: Prepared): Connection {
    return this.endpoint.accept(ws, prepared)
  }

  /** Prepare, upgrade and accept, for a raw `upgrade` event (see `hub.endpoint`). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, request?: unknown): void {
    this.endpoint.handleUpgrade(req, socket, head, request)
  }

  stats(): HubStats {
    const { topics, channels } = this.topics.counts()
    return { ...this.counters, connections: this.endpoint.size, channels, topics, presence: this.presenceTracker.stats(), history: this.topics.historyStats() }
  }

  /**
   * Stops accepting, closes every socket with 1012 (so clients reconnect elsewhere) in batches,
   * runs leave hooks, untracks presence and flushes the last presence delta to the cluster.
   */
  close(options: { code?: number; batchSize?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      await this.endpoint.close(options.code ?? 1012, options.batchSize ?? 500)
      this.topics.uncorkAll()
      this.topics.stop()
      // An adapter whose start never settled is closed all the same (close() must not hang).
      await Promise.race([this.started.catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1000).unref())])
      this.presenceTracker.stop()
      await this.adapter.close()
    })()
    return this.closing
  }
}

export function createHub(options: HubOptions = {}): Hub {
  return new Hub(options)
}
