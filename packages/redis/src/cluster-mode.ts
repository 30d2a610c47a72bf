/**
 * What the adapter starts in cluster mode, beside its two Cluster connections: the per-master
 * topic subscriptions (sharded.ts), and the masters' run ids, asked again whenever ioredis
 * refreshes its slot map or meets a new node, so that a promoted replica's is known before its
 * topics append to their history; and the echo through the node's own channel that finds its
 * Clusters' half-open connections (echo-health.ts). A server that is not a cluster, or older than
 * Redis 7, is fatal: start() fails at once with one line saying so.
 */
import type { Logger } from '@hornbeam/channels'
import type { Cluster, Redis } from 'ioredis'
import { MasterRunIds, nodeKey, UnsupportedRedisError } from './cluster.js'
import { EchoWatch } from './echo-health.js'
import type { Connections } from './connections.js'
import { describeTarget, type ResolvedOptions } from './options.js'
import { ShardSubscriptions } from './sharded.js'

export interface ClusterModeHooks {
  options: ResolvedOptions & { logger: Logger }
  /** `node:<id>` as a Redis channel: where the echo goes. */
  ownChannel: string
  /** Registers a listener the adapter removes when it closes. */
  listen(conn: Redis | Cluster, event: string, fn: (...args: any[]) => void): void
  receive(redisChannel: string, data: string, hubChannel: string): void
  fatal(err: Error): void
  /** A passing error (counted and logged, throttled). */
  trouble(err: Error): void
  /** The adapter is open and its control subscriptions are in place. */
  ready(): boolean
}

export function startClusterMode(cluster: Cluster, conns: Connections, hooks: ClusterModeHooks): { shards: ShardSubscriptions; runIds: MasterRunIds; echo: EchoWatch } {
  const { options } = hooks
  const runIds = new MasterRunIds(cluster)
  const shards = new ShardSubscriptions(
    cluster,
    { redisOptions: conns.shardOptions!, pingIntervalMs: options.pingIntervalMs },
    (hubChannel, data, redisChannel) => hooks.receive(redisChannel, data, hubChannel),
    options.logger,
  )
  const refresh = () => {
    runIds.refresh().catch((err: Error) => (err instanceof UnsupportedRedisError ? hooks.fatal(err) : hooks.trouble(err)))
  }
  hooks.listen(cluster, 'refresh', refresh)
  hooks.listen(cluster, '+node', refresh)
  hooks.listen(cluster, '-node', (node: Redis) => runIds.forget(nodeKey(node)))
  // A seed that is a plain Redis answers CLUSTER SLOTS with an error no retry will mend.
  const notACluster = (err: Error & { lastNodeError?: Error }) => {
    const cause = err.lastNodeError?.message ?? err.message
    if (/cluster support disabled/i.test(cause)) {
      hooks.fatal(new UnsupportedRedisError(`redis adapter: ${describeTarget(options)} is not a Redis Cluster (${cause})`))
    }
  }
  for (const conn of [cluster, conns.sub]) {
    hooks.listen(conn, 'error', notACluster)
    hooks.listen(conn, 'node error', notACluster)
  }
  const pub = conns.pub as Cluster
  const sub = conns.sub as Cluster
  const reconnect = (conn: Cluster, which: 'publisher' | 'subscriber', what: string) => {
    options.logger.warn({ connection: which, pingIntervalMs: options.pingIntervalMs }, `redis adapter: ${what}; reconnecting the ${which}`)
    conn.disconnect(true)
  }
  const echo = new EchoWatch({
    intervalMs: options.pingIntervalMs,
    ready: () => hooks.ready() && pub.status === 'ready' && sub.status === 'ready',
    publish: (token) => pub.publish(hooks.ownChannel, token),
    publisherStuck: () => reconnect(pub, 'publisher', 'PUBLISH of its echo unanswered'),
    subscriberDeaf: () => reconnect(sub, 'subscriber', 'its echo not heard'),
  })
  return { shards, runIds, echo }
}
