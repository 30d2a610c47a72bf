import { Redis, type Cluster, type RedisOptions } from 'ioredis'
import { openClusterConnections } from './cluster.js'
import { backoff, type ResolvedOptions } from './options.js'

/**
 * What the adapter needs from both of its connections, whatever the caller configured: no
 * offline queue (a message that cannot be sent now is dropped and counted, never queued without
 * bound), no retries of commands in flight when a connection dies (at most once), and no
 * automatic resubscription: the adapter resubscribes exactly the live channels itself.
 */
const enforced: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResubscribe: false,
  autoResendUnfulfilledCommands: false,
}

export interface Connections {
  /** Publishes (the caller's client, if one was given); in cluster mode a Cluster. */
  pub: Redis | Cluster
  /** Subscribes (in cluster mode: a Cluster, for `control` and `node:<id>` only); always the adapter's own. */
  sub: Redis | Cluster
  /** Whether `pub` is the adapter's to quit. */
  ownsPub: boolean
  /** Cluster mode: `pub` as a Cluster (its slot map places the shard subscribers). */
  cluster: Cluster | undefined
  /** Cluster mode: options for the shard subscriber connections (host and port are added). */
  shardOptions: RedisOptions | undefined
}

export function openConnections(options: ResolvedOptions, nodeId: string): Connections {
  const retryStrategy = backoff(options.minRetryDelayMs, options.maxRetryDelayMs)
  const name = (role: string) => `${options.keyPrefix}${role}:${nodeId}`.replace(/[^\x21-\x7e]/g, '_')
  if (options.cluster !== undefined) {
    const { pub, sub } = openClusterConnections(options.cluster, name)
    const shardOptions: RedisOptions = { retryStrategy, ...pub.options.redisOptions, ...enforced, connectionName: name('shard') }
    return { pub, sub, ownsPub: true, cluster: pub, shardOptions }
  }
  if (options.client !== undefined) {
    const client = options.client
    const sub = client.duplicate({ retryStrategy, ...enforced, connectionName: name('sub') })
    return { pub: client, sub, ownsPub: options.quitClient, cluster: undefined, shardOptions: undefined }
  }
  const url = options.url!
  const base: RedisOptions = { retryStrategy, ...options.redisOptions, ...enforced }
  return {
    pub: new Redis(url, { ...base, connectionName: name('pub') }),
    sub: new Redis(url, { ...base, connectionName: name('sub') }),
    ownsPub: true,
    cluster: undefined,
    shardOptions: undefined,
  }
}

/** Starts connecting a connection that is not yet doing so (lazy or freshly made). */
export function connect(conn: Redis | Cluster): void {
  // Failures surface as 'error' events and retries (handled by the adapter); the promise is redundant.
  if (conn.status === 'wait') conn.connect().catch(() => {})
}

/**
 * Quits politely if connected (waiting at most `graceMs` for Redis), else disconnects; resolves
 * once the connection has ended, so nothing of it outlives `close()`.
 */
export async function quit(conn: Redis | Cluster, graceMs = 1000): Promise<void> {
  if (conn.status === 'end') return
  let timer: NodeJS.Timeout | undefined
  const ended = new Promise<void>((resolve) => conn.once('end', () => resolve()))
  const timeout = (ms: number) => new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))
  if (conn.status === 'ready') conn.quit().catch(() => {})
  else {
    const socketless = conn.status === 'reconnecting' || conn.status === 'close'
    conn.disconnect() // also cancels a pending reconnect
    // Between attempts there is no socket, so no 'end' will come: nothing is left to wait for.
    if (socketless) return
  }
  await Promise.race([ended, timeout(graceMs)])
  clearTimeout(timer)
  if ((conn.status as string) === 'end') return
  conn.disconnect()
  await Promise.race([ended, timeout(100)])
  clearTimeout(timer)
}
