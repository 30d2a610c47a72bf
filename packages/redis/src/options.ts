import { consoleLogger, type Logger } from '@hornbeam/channels'
import { Cluster, type ClusterOptions, type Redis, type RedisOptions } from 'ioredis'
import { seedNodes, type ClusterSeed, type Seed } from './cluster.js'

/** Cluster mode: seed nodes (and ioredis cluster options), or an ioredis `Cluster` to copy. */
export type RedisClusterOption = Cluster | { nodes: ClusterSeed[]; options?: ClusterOptions }

export interface RedisAdapterOptions {
  /** Where Redis is: `redis://[user:pass@]host:port[/db]` (or `rediss://` for TLS). */
  url?: string
  /**
   * An ioredis client you already have. The adapter publishes on it and `duplicate()`s it for
   * the subscriber connection; it stays yours: `close()` quits only the duplicate unless
   * `quitClient` is true. Give either `url` or `client` (neither: `redis://127.0.0.1:6379`).
   */
  client?: Redis
  /**
   * A Redis Cluster (Redis 7 or later) instead of one Redis: `{ nodes: ['10.0.0.1:7000', ...] }`
   * (seed nodes; `options` are ioredis ClusterOptions such as `redisOptions: { password }`), or an
   * ioredis `Cluster` whose seeds and options the adapter copies (`duplicate()`; yours stays
   * untouched). Topic traffic then goes over sharded pub/sub (SSUBSCRIBE/SPUBLISH) on the master
   * that owns the topic's slot; `control` and `node:<id>` over plain pub/sub. Excludes `url` and
   * `client`.
   */
  cluster?: RedisClusterOption
  /** Quit the `client` you passed when the adapter closes. Default false. */
  quitClient?: boolean
  /** Prepended to every Redis channel name, so several apps can share one Redis. Default 'hornbeam:'. */
  keyPrefix?: string
  /** Where connection trouble and dropped messages are reported. Default: warnings and errors to the console. */
  logger?: Logger
  /** Extra ioredis options for the connections the adapter creates from `url`. */
  redisOptions?: RedisOptions
  /** Reconnect backoff: the first retry waits about this long, doubling per attempt. Default 50 ms. */
  minRetryDelayMs?: number
  /** Reconnect backoff cap. Default 2000 ms. */
  maxRetryDelayMs?: number
  /**
   * `start()` (and so `hub.ready()`) rejects if Redis is not reachable within this long, and the
   * adapter gives up its connections. 0 waits for ever. Default 10 000 ms.
   */
  startTimeoutMs?: number
  /** Publishes sent but not yet acknowledged by Redis, beyond which new ones are dropped. Default 10 000. */
  maxPendingPublishes?: number
  /**
   * How often the adapter PINGs its own connections; one that has not answered by the next PING
   * is dropped and reconnected (a half-open connection after a network split). 0 disables.
   * Default 5000 ms.
   */
  pingIntervalMs?: number
  /**
   * Keep the topics' message history in Redis Streams, shared by every node: positions are
   * assigned in Redis, so a client may resume on any node. Default true; false leaves each node
   * its own history in memory.
   */
  history?: boolean
  /** How long a topic's epoch and counter outlive its last message in Redis. Default 24 h. */
  historyMetaTtlMs?: number
}

export interface ResolvedOptions {
  url: string | undefined
  client: Redis | undefined
  /** Cluster mode: the seeds and ioredis options, or a Cluster to duplicate. */
  cluster: { seeds: Seed[]; options: ClusterOptions } | Cluster | undefined
  quitClient: boolean
  keyPrefix: string
  logger: Logger
  redisOptions: RedisOptions
  minRetryDelayMs: number
  maxRetryDelayMs: number
  startTimeoutMs: number
  maxPendingPublishes: number
  pingIntervalMs: number
  history: boolean
  historyMetaTtlMs: number
}

export const DEFAULT_URL = 'redis://127.0.0.1:6379'

export function resolveOptions(options: RedisAdapterOptions): ResolvedOptions {
  const given = [options.url, options.client, options.cluster].filter((o) => o !== undefined).length
  if (given > 1) throw new TypeError('redisAdapter: give one of `url`, `client` or `cluster`')
  const cluster = options.cluster
  const resolved: ResolvedOptions = {
    url: options.client === undefined && cluster === undefined ? (options.url ?? DEFAULT_URL) : undefined,
    client: options.client,
    cluster: cluster === undefined || cluster instanceof Cluster ? cluster : { seeds: seedNodes(cluster.nodes), options: cluster.options ?? {} },
    quitClient: options.quitClient ?? false,
    keyPrefix: options.keyPrefix ?? 'hornbeam:',
    logger: options.logger ?? consoleLogger,
    redisOptions: options.redisOptions ?? {},
    minRetryDelayMs: options.minRetryDelayMs ?? 50,
    maxRetryDelayMs: options.maxRetryDelayMs ?? 2000,
    startTimeoutMs: options.startTimeoutMs ?? 10_000,
    maxPendingPublishes: options.maxPendingPublishes ?? 10_000,
    pingIntervalMs: options.pingIntervalMs ?? 5000,
    history: options.history ?? true,
    historyMetaTtlMs: options.historyMetaTtlMs ?? 24 * 60 * 60 * 1000,
  }
  const numeric = ['minRetryDelayMs', 'maxRetryDelayMs', 'startTimeoutMs', 'maxPendingPublishes', 'pingIntervalMs', 'historyMetaTtlMs'] as const
  for (const key of numeric) {
    const value = resolved[key]
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new TypeError(`redisAdapter: ${key} must be a non-negative number`)
    }
  }
  if (typeof resolved.keyPrefix !== 'string') throw new TypeError('redisAdapter: keyPrefix must be a string')
  if (cluster !== undefined && /[{}]/.test(resolved.keyPrefix)) {
    // A brace in the prefix would make it the hash tag of every name: one slot for everything.
    throw new TypeError('redisAdapter: in cluster mode keyPrefix must not contain { or }')
  }
  return resolved
}

/** Exponential backoff with jitter, capped: 50, 100, 200, … up to `max`, each times 0.5 to 1. */
export function backoff(min: number, max: number): (attempt: number) => number {
  return (attempt) => {
    const ceiling = Math.min(max, min * 2 ** Math.min(attempt - 1, 30))
    return Math.max(1, Math.round(ceiling * (0.5 + Math.random() / 2)))
  }
}

/** Where the adapter connects, for messages: the URL (password masked), the seeds, or 'the given client'. */
export function describeTarget(options: ResolvedOptions): string {
  if (options.url !== undefined) return `Redis at ${redact(options.url)}`
  if (options.cluster instanceof Cluster) return 'the Redis Cluster of the given client'
  if (options.cluster !== undefined) return `the Redis Cluster at ${options.cluster.seeds.map((s) => `${s.host}:${s.port}`).join(',')}`
  return 'the given Redis client'
}

/** The URL with its password masked, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(unparsable url)'
  }
}
