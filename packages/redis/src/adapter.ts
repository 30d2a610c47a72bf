import type { ClusterMessage, DeliverFn, Logger, PubSubAdapter, SharedHistory } from '@hornbeam/channels'
import type { Cluster, Redis } from 'ioredis'
import { UnsupportedRedisError, type MasterRunIds } from './cluster.js'
import { startClusterMode } from './cluster-mode.js'
import { connect, openConnections, quit, type Connections } from './connections.js'
import type { EchoWatch } from './echo-health.js'
import { dropUnresponsive, watchHealth } from './health.js'
import { RedisHistory } from './history.js'
import { Lifecycle } from './lifecycle.js'
import { describeTarget, resolveOptions, type RedisAdapterOptions, type ResolvedOptions } from './options.js'
import type { ShardSubscriptions } from './sharded.js'
import { slotOf, tagged } from './slot.js'
import type { RedisAdapterStats } from './stats.js'
import { SubscriptionSet } from './subscriptions.js'
import { ThrottledWarning } from './throttle.js'
import { Traffic } from './traffic.js'

/**
 * Hubs on several nodes as one cluster over Redis pub/sub: one publisher connection, one
 * subscriber connection per node. Every hub channel `c` is the Redis channel `keyPrefix + c`
 * (`hornbeam:topic:room:lobby`, `hornbeam:control`, `hornbeam:node:<id>`); a node subscribes to
 * a topic's channel only while it has subscribers on that topic (the hub asks), so Redis sends
 * each broadcast only to the nodes that serve the topic.
 *
 * Delivery is at most once: what is published while a connection is down is dropped (counted and
 * logged), and what Redis publishes while this node's subscriber is down is lost (counted by this
 * node from the gap in the sender's numbers: traffic.ts). After an outage
 * the adapter resubscribes the live channels and calls its `onReconnect` listeners, and the hub
 * asks its presence peers for their full state.
 *
 * With `cluster` (a Redis Cluster), a topic's channel is a sharded channel,
 * `hornbeam:topic:{room:lobby}`, SPUBLISHed to and SSUBSCRIBEd on the master that owns its slot
 * (sharded.ts), so each shard carries only its own topics; `control` and `node:<id>` (heartbeats,
 * presence, long-poll relays: low volume, needed everywhere) stay on plain pub/sub, which any node
 * of the cluster serves. A topic's stream and counter share its hash tag (slot.ts).
 */
export class RedisAdapter implements PubSubAdapter {
  readonly options: ResolvedOptions
  private readonly logger: Logger
  private readonly prefix: string
  private nodeId: string | undefined
  private deliver: DeliverFn | undefined
  private conns: Connections | undefined
  private readonly subs: SubscriptionSet
  /** start(), outages and onReconnect (lifecycle.ts). */
  private readonly life: Lifecycle
  /** Subscriber connection ready and its subscriptions acknowledged. */
  private subscribed = false
  /** Bumped on every subscriber connection change, to ignore syncs of a gone connection. */
  private subEpoch = 0
  private closed = false
  private closing: Promise<void> | undefined
  /** Messages as they go over Redis: encoding, decoding, numbering, counts (traffic.ts). */
  private readonly traffic: Traffic
  private pendingPublishes = 0
  private readonly drops: ThrottledWarning
  private readonly connErrors: { pub: ThrottledWarning; sub: ThrottledWarning }
  private readonly listeners: Array<[Redis | Cluster, string, (...args: any[]) => void]> = []
  /** Cluster mode: the per-master topic subscriptions, and each master's run id. */
  private shards: ShardSubscriptions | undefined
  private runIds: MasterRunIds | undefined
  private readonly unwatch: Array<() => void> = []
  /** Cluster mode: the round trip through this node's own channel that finds half-open connections. */
  private echo: EchoWatch | undefined
  /** The run id of the Redis instance the publisher is on: the history's epochs depend on it. */
  private runId: string | undefined
  /** The topics' history in Redis Streams, shared by every node (unless `history: false`). */
  readonly history: SharedHistory | undefined

  constructor(options: RedisAdapterOptions = {}) {
    this.options = resolveOptions(options)
    this.logger = this.options.logger
    this.prefix = this.options.keyPrefix
    this.subs = new SubscriptionSet(() => this.conns?.sub, this.logger)
    this.drops = new ThrottledWarning(this.logger, 'redis adapter: dropping cluster messages (at-most-once while Redis is unreachable)')
    this.traffic = new Traffic(this.logger)
    this.life = new Lifecycle({
      logger: this.logger,
      drops: this.drops,
      fresh: () => (this.connErrors.pub.reset(), this.connErrors.sub.reset()),
      giveUp: () => void this.close(),
    })
    this.connErrors = {
      pub: new ThrottledWarning(this.logger, 'redis adapter: publisher connection error'),
      sub: new ThrottledWarning(this.logger, 'redis adapter: subscriber connection error'),
    }
    if (this.options.history) {
      this.history = new RedisHistory({
        connection: () => (this.conns?.pub.status === 'ready' ? (this.conns.pub as Redis) : undefined),
        nodeId: () => this.nodeId,
        runId: (topic) => (this.runIds === undefined ? this.runId : this.runIds.forSlot(slotOf(this.redisChannel(`topic:${topic}`)))),
        names: (topic) => {
          const tag = this.options.cluster === undefined ? `{${topic}}` : tagged(topic)
          return { meta: `${this.prefix}history:${tag}:meta`, stream: `${this.prefix}history:${tag}`, channel: this.redisChannel(`topic:${topic}`) }
        },
        publishCommand: this.options.cluster === undefined ? 'PUBLISH' : 'SPUBLISH',
        prefix: this.prefix,
        metaTtlMs: this.options.historyMetaTtlMs,
      })
    }
  }

  // -- lifecycle

  /** Connects both connections; resolves once both are ready and the node's channels are subscribed. */
  start(nodeId: string, deliver: DeliverFn): Promise<void> {
    if (this.closed) return Promise.reject(new Error('redis adapter: closed'))
    if (this.nodeId !== undefined) return Promise.reject(new Error('redis adapter: already started (one adapter per hub)'))
    this.nodeId = nodeId
    this.deliver = deliver
    // The hub subscribes to these right after start(); doing it first means that by the time
    // hub.ready() resolves, presence peers' answers to this node already have somewhere to land.
    this.subs.add(this.prefix + 'control')
    this.subs.add(this.prefix + `node:${nodeId}`)
    const conns = (this.conns = openConnections(this.options, nodeId))
    const started = this.life.begin(this.options.startTimeoutMs, () => `redis adapter: ${describeTarget(this.options)} not ready within ${this.options.startTimeoutMs} ms`)
    this.listen(conns.pub, 'error', (err: Error) => this.connErrors.pub.hit({ err: err.message }))
    this.listen(conns.sub, 'error', (err: Error) => this.connErrors.sub.hit({ err: err.message }))
    this.listen(conns.pub, 'ready', () => this.publisherReady())
    this.listen(conns.pub, 'close', () => {
      this.runId = undefined
      this.lost('publisher')
    })
    this.listen(conns.sub, 'ready', () => this.subscriberReady())
    this.listen(conns.sub, 'close', () => this.subscriberLost())
    this.listen(conns.sub, 'message', (channel: string, data: string) => this.receive(channel, data))
    if (conns.cluster !== undefined) this.startCluster(conns.cluster, conns, nodeId)
    else {
      const dead = (which: 'publisher' | 'subscriber') => (conn: Redis) => this.closed || dropUnresponsive(conn, which, this.options.pingIntervalMs, this.logger)
      this.unwatch.push(watchHealth(conns.sub as Redis, this.options.pingIntervalMs, dead('subscriber')))
      // A client the caller passed is theirs: never dropped by the adapter.
      if (conns.pub !== this.options.client) this.unwatch.push(watchHealth(conns.pub as Redis, this.options.pingIntervalMs, dead('publisher')))
    }
    connect(conns.pub)
    connect(conns.sub)
    if (conns.pub.status === 'ready') this.publisherReady()
    return started
  }

  private startCluster(cluster: Cluster, conns: Connections, nodeId: string): void {
    const mode = startClusterMode(cluster, conns, {
      options: this.options,
      ownChannel: `${this.prefix}node:${nodeId}`,
      listen: (conn, event, fn) => this.listen(conn, event, fn),
      receive: (redisChannel, data, hubChannel) => this.receive(redisChannel, data, hubChannel),
      fatal: (err) => this.fatal(err),
      trouble: (err) => this.connErrors.pub.hit({ err: err.message }),
      ready: () => !this.closed && this.subscribed,
    })
    this.shards = mode.shards
    this.runIds = mode.runIds
    this.echo = mode.echo
    this.unwatch.push(() => mode.echo.stop())
  }

  private fatal(err: Error): void {
    if (!this.closed) this.life.fatal(err)
  }

  /**
   * The publisher is (again) connected: learn which Redis instance it is on before the history
   * appends anything (a new instance means a new epoch), then carry on. In cluster mode: every
   * master's run id and version.
   */
  private publisherReady(): void {
    const pub = this.conns?.pub
    if (pub === undefined) return
    if (this.runIds !== undefined) {
      const runIds = this.runIds
      runIds.refresh().then(
        () => {
          this.runId = 'cluster'
          this.checkUp()
        },
        (err: Error) => {
          if (err instanceof UnsupportedRedisError) return this.fatal(err)
          this.connErrors.pub.hit({ err: err.message })
          if (pub.status === 'ready') setTimeout(() => this.publisherReady(), 500).unref()
        },
      )
      return
    }
    if (!this.options.history) return this.checkUp()
    ;(pub as Redis).info('server').then(
      (info) => {
        this.runId = /run_id:([0-9a-f]+)/.exec(info)?.[1] ?? 'unknown'
        this.checkUp()
      },
      (err: Error) => {
        this.connErrors.pub.hit({ err: err.message })
        if (pub.status === 'ready') setTimeout(() => this.publisherReady(), 500).unref()
      },
    )
  }

  private listen(conn: Redis | Cluster, event: string, fn: (...args: any[]) => void): void {
    conn.on(event, fn)
    this.listeners.push([conn, event, fn])
  }

  private subscriberReady(): void {
    const epoch = ++this.subEpoch
    void this.subs.sync().then((ok) => {
      if (epoch !== this.subEpoch || this.closed) return
      if (!ok) {
        // A command failed on a live connection (logged): try once more shortly.
        if (this.conns?.sub.status === 'ready') setTimeout(() => epoch === this.subEpoch && this.subscriberReady(), 500).unref()
        return
      }
      this.subscribed = true
      this.checkUp()
    })
  }

  private subscriberLost(): void {
    this.subEpoch++
    this.subscribed = false
    this.subs.reset()
    this.lost('subscriber')
  }

  private lost(which: 'publisher' | 'subscriber'): void {
    if (!this.closed) this.life.lost(which)
  }

  /** Both connections usable (and the run id known, for the history): see Lifecycle.usable. */
  private checkUp(): void {
    const conns = this.conns
    if (this.closed || conns === undefined || !this.subscribed || conns.pub.status !== 'ready') return
    if (this.options.history && this.runId === undefined) return
    this.life.usable()
  }

  onReconnect(listener: () => void): void {
    this.life.onReconnect(listener)
  }

  /** Quits both connections (a `client` you passed stays open unless `quitClient`). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true
      this.deliver = undefined
      for (const stop of this.unwatch) stop()
      this.shards?.close()
      this.life.close()
      const conns = this.conns
      if (conns === undefined) return
      // Let commands written this turn (the hub's last presence delta and goodbye) go first.
      await new Promise((resolve) => setImmediate(resolve))
      await Promise.all([quit(conns.sub), conns.ownsPub ? quit(conns.pub) : undefined])
      for (const [conn, event, fn] of this.listeners) conn.off(event, fn)
      this.listeners.length = 0
    })()
    return this.closing
  }

  // -- pub/sub

  publish(channel: string, message: ClusterMessage): void {
    const pub = this.conns?.pub
    if (this.closed) return
    const seq = this.traffic.number(channel)
    if (pub === undefined || pub.status !== 'ready') return this.drop(channel, 'not connected')
    if (this.pendingPublishes >= this.options.maxPendingPublishes) return this.drop(channel, 'too many unacknowledged publishes')
    let data: string
    try {
      data = this.traffic.encode(message, seq)
    } catch (err) {
      this.logger.error({ err, channel }, 'redis adapter: cannot encode a cluster message')
      return this.drop(channel, 'not serializable')
    }
    this.pendingPublishes++
    this.traffic.counts.published++
    // Cluster mode: a topic's messages go only to the shard that owns its slot.
    if (this.shards !== undefined && channel.startsWith('topic:')) (pub as Redis).spublish(this.redisChannel(channel), data, this.published)
    else (pub as Redis).publish(this.prefix + channel, data, this.published)
  }

  /** One callback for every PUBLISH: no closure per message. */
  private readonly published = (err?: Error | null): void => {
    this.pendingPublishes--
    if (err) this.drop(undefined, 'publish failed', err)
  }

  private drop(channel: string | undefined, reason: string, err?: Error): void {
    this.drops.hit({ reason, channel, err: err?.message })
  }

  subscribe(channel: string): void {
    if (this.closed) return
    if (this.shards !== undefined && channel.startsWith('topic:')) this.shards.add(this.redisChannel(channel), channel)
    else this.subs.add(this.prefix + channel)
  }

  unsubscribe(channel: string): void {
    if (this.closed) return
    this.traffic.left(channel)
    if (this.shards !== undefined && channel.startsWith('topic:')) this.shards.delete(this.redisChannel(channel))
    else this.subs.delete(this.prefix + channel)
  }

  /** Resolves once Redis acknowledged the subscription to `channel` (rejects after 5 s without). */
  whenSubscribed(channel: string): Promise<void> {
    if (this.shards !== undefined && channel.startsWith('topic:')) return this.shards.acknowledged(this.redisChannel(channel), 5000)
    return this.subs.acknowledged(this.prefix + channel, 5000)
  }

  /** A message from Redis; `hubChannel` is given for sharded channels (their names carry a tag). */
  private receive(redisChannel: string, data: string, hubChannel?: string): void {
    const deliver = this.deliver
    if (deliver === undefined || (hubChannel === undefined && !redisChannel.startsWith(this.prefix))) return
    const channel = hubChannel ?? redisChannel.slice(this.prefix.length)
    const decoded = this.traffic.decode(channel, data, this.nodeId)
    if (decoded === undefined) return
    if ('echo' in decoded) return this.echo?.heard(decoded.echo)
    try {
      deliver(channel, decoded.message)
    } catch (err) {
      this.logger.error({ err, channel: redisChannel }, 'redis adapter: delivering a cluster message failed')
    }
  }

  // -- introspection

  /** The hub channels this node is subscribed to (wants to be, while disconnected). */
  subscriptions(): string[] {
    return [...this.subs.channels().map((c) => c.slice(this.prefix.length)), ...(this.shards?.hubChannels() ?? [])]
  }

  /**
   * The Redis channel name for a hub channel: `redisChannel('topic:room:1')` → 'hornbeam:topic:room:1',
   * or in cluster mode the sharded 'hornbeam:topic:{room:1}' (see slot.ts for topics with braces).
   */
  redisChannel(channel: string): string {
    if (this.options.cluster !== undefined && channel.startsWith('topic:')) return `${this.prefix}topic:${tagged(channel.slice(6))}`
    return this.prefix + channel
  }

  stats(): RedisAdapterStats {
    return {
      connected: this.life.connected && !this.closed,
      ...this.traffic.counts,
      reconnects: this.life.reconnects,
      dropped: this.drops.total,
      lost: this.traffic.lost,
      pendingPublishes: this.pendingPublishes,
      subscriptions: this.subs.size + (this.shards?.size ?? 0),
      ...(this.shards === undefined ? {} : { shards: { connected: this.shards.liveShards(), moves: this.shards.moves } }),
    }
  }
}

/** The Redis adapter: `createHub({ adapter: redisAdapter({ url: process.env.REDIS_URL }) })`. */
export function redisAdapter(options: RedisAdapterOptions = {}): RedisAdapter {
  return new RedisAdapter(options)
}
