/**
 * Cluster mode's connections and facts about the masters: the seed list `REDIS_CLUSTER` takes,
 * the two ioredis `Cluster`s the adapter runs on, and each master's run id and version.
 */
import { Cluster, type ClusterOptions, type Redis } from 'ioredis'

/** A seed node: `host:port` or `{ host, port }`. */
export type ClusterSeed = string | Seed
export interface Seed {
  host: string
  port: number
}

/**
 * `host:port,host:port,...` (REDIS_CLUSTER) as seed nodes. Throws a TypeError naming the bad
 * entry: an empty list, an entry without a port, a port that is not 1 to 65535.
 */
export function parseClusterNodes(spec: string): Seed[] {
  const entries = spec.split(',').map((s) => s.trim())
  if (spec.trim() === '' || entries.some((e) => e === '')) {
    throw new TypeError(`REDIS_CLUSTER must be host:port,host:port,... (got ${JSON.stringify(spec)})`)
  }
  return entries.map((entry) => {
    const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):(\d{1,5})$/.exec(entry)
    const port = Number(match?.[2])
    if (match === null || port < 1 || port > 65535) {
      throw new TypeError(`REDIS_CLUSTER: ${JSON.stringify(entry)} is not host:port (in ${JSON.stringify(spec)})`)
    }
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port }
  })
}

/** The seeds as ioredis takes them. */
export function seedNodes(seeds: ClusterSeed[]): Seed[] {
  if (!Array.isArray(seeds) || seeds.length === 0) throw new TypeError('redisAdapter: cluster.nodes must list at least one seed node')
  return seeds.map((seed) => (typeof seed === 'string' ? parseClusterNodes(seed)[0]! : seed))
}

/**
 * What the adapter needs of its cluster connections: no offline queue; no command retried after
 * its connection closed (it may have run: at most once); no command retried later after CLUSTERDOWN
 * (a later command on the same topic could overtake it: dropped and counted instead, never
 * reordered); MOVED, ASK and TRYAGAIN (a multi-key command during a slot migration) retried at
 * once, in reply order; reads from masters.
 */
export const CLUSTER_ENFORCED: ClusterOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  retryDelayOnFailover: 0,
  retryDelayOnClusterDown: 0,
  retryDelayOnTryAgain: 0,
  retryDelayOnMoved: 0,
  scaleReads: 'master',
  shardedSubscribers: false,
}

/**
 * The publisher and the control subscriber: both made here (from the seeds, or as duplicates of a
 * `Cluster` the caller gave, which stays theirs and untouched).
 */
export function openClusterConnections(
  source: { seeds: Seed[]; options: ClusterOptions } | Cluster,
  name: (role: string) => string,
): { pub: Cluster; sub: Cluster } {
  const make = (role: string): Cluster => {
    const overrides = { ...CLUSTER_ENFORCED, redisOptions: { connectionName: name(role), maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false } }
    if (source instanceof Cluster) return source.duplicate(undefined, { ...overrides, redisOptions: { ...source.options.redisOptions, ...overrides.redisOptions } })
    return new Cluster(source.seeds, { ...source.options, ...overrides, redisOptions: { ...source.options.redisOptions, ...overrides.redisOptions } })
  }
  return { pub: make('pub'), sub: make('sub') }
}

/** `host:port`, as in `cluster.slots`. */
export function nodeKey(node: Redis): string {
  return `${node.options.host}:${node.options.port}`
}

/**
 * Each master's run id (`INFO server`), which the history's epochs depend on: a topic's counter
 * lives on the master that owns its slot, and a new master there (a failover, a restart) may have
 * lost the last increments, so its topics start a new epoch. Refreshed when ioredis refreshes the
 * slot map; a master that left is forgotten.
 */
export class MasterRunIds {
  private readonly ids = new Map<string, string>()
  private readonly asking = new Set<string>()

  constructor(private readonly cluster: Cluster) {}

  /** The run id of the master that owns `slot`, if known. */
  forSlot(slot: number): string | undefined {
    const owner = this.cluster.slots[slot]?.[0]
    return owner === undefined ? undefined : this.ids.get(owner)
  }

  forget(key: string): void {
    this.ids.delete(key)
  }

  /**
   * Asks every master not yet known. Rejects if a master runs Redis before 7 (no sharded pub/sub)
   * or is not in cluster mode; resolves once every master answered.
   */
  async refresh(): Promise<void> {
    const masters = this.cluster.nodes('master').filter((m) => !this.ids.has(nodeKey(m)) && !this.asking.has(nodeKey(m)))
    await Promise.all(
      masters.map(async (master) => {
        const key = nodeKey(master)
        this.asking.add(key)
        try {
          const info = await master.info('server')
          const version = /redis_version:(\d+)/.exec(info)?.[1]
          if (version !== undefined && Number(version) < 7) {
            throw new UnsupportedRedisError(`redis adapter: ${key} runs Redis ${/redis_version:(\S+)/.exec(info)?.[1]}; cluster mode needs Redis 7 or later (sharded pub/sub)`)
          }
          this.ids.set(key, /run_id:([0-9a-f]+)/.exec(info)?.[1] ?? 'unknown')
        } finally {
          this.asking.delete(key)
        }
      }),
    )
  }
}

/** A server that cannot do what cluster mode needs: start() fails with this, at once. */
export class UnsupportedRedisError extends Error {}
