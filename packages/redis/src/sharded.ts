/**
 * Cluster mode's topic subscriptions: one subscriber connection per master that owns a slot of a
 * channel the node wants, each channel SSUBSCRIBEd on the master that owns its slot (as the
 * publisher's slot map says). A channel is placed, and moved, by `sync()`:
 *
 * - a wanted channel not placed, or placed on a connection that is down or on a master that no
 *   longer owns its slot, is SSUBSCRIBEd on its owner (one command per slot, as Redis requires);
 * - a channel no longer wanted is SUNSUBSCRIBEd where it was.
 *
 * What makes it sync again: a change of the wish (batched per turn), a subscriber connection
 * ready, ioredis's slot map refreshed, and, while any wanted channel is not in place, a retry
 * every `retryMs` that also asks ioredis to refresh the slot map. A connection that closes, or
 * that Redis tells its subscriptions moved (an unsolicited SUNSUBSCRIBE: a failover or a slot
 * migration), forgets what it had; a command answered MOVED refreshes the map. So after a master
 * dies and its replica takes over, the channels of its slots are SSUBSCRIBEd on the new master as
 * soon as ioredis's map shows it, without anyone restarting anything.
 */
import type { Logger } from '@hornbeam/channels'
import { Redis, type Cluster, type RedisOptions } from 'ioredis'
import { watchHealth } from './health.js'
import { slotOf } from './slot.js'

interface Shard {
  key: string
  conn: Redis
  /** Channels SSUBSCRIBEd here (sent; `confirmed` once Redis answered). */
  placed: Set<string>
  unwatch: () => void
}

export interface ShardOptions {
  /** Options for each subscriber connection (host and port are the master's). */
  redisOptions: RedisOptions
  pingIntervalMs: number
  retryMs?: number
}

export class ShardSubscriptions {
  /** Redis channel → its hub channel and slot, for every channel wanted. */
  private readonly wanted = new Map<string, { hub: string; slot: number }>()
  /** Channels whose wish changed since the last sync; `full`: look at every channel (the map or a connection changed). */
  private readonly dirty = new Set<string>()
  private full = false
  private readonly shards = new Map<string, Shard>()
  /** Where each channel is placed. */
  private readonly where = new Map<string, Shard>()
  private readonly confirmed = new Set<string>()
  /** Wanted channels that lost their placement (a connection closed, their slot moved). */
  private readonly displaced = new Set<string>()
  private readonly waiters = new Map<string, Array<() => void>>()
  private scheduled = false
  private retry: NodeJS.Timeout | undefined
  private closed = false
  /** Channels SSUBSCRIBEd again (and acknowledged) after losing their placement. */
  moves = 0
  private readonly onRefresh = () => this.schedule(true)

  constructor(
    private readonly cluster: Cluster,
    private readonly options: ShardOptions,
    private readonly onMessage: (hubChannel: string, data: string, redisChannel: string) => void,
    private readonly logger: Logger,
  ) {
    cluster.on('refresh', this.onRefresh)
  }

  get size(): number {
    return this.wanted.size
  }

  hubChannels(): string[] {
    return [...this.wanted.values()].map((w) => w.hub)
  }

  add(redisChannel: string, hubChannel: string): void {
    if (this.closed || this.wanted.has(redisChannel)) return
    this.wanted.set(redisChannel, { hub: hubChannel, slot: slotOf(redisChannel) })
    this.dirty.add(redisChannel)
    this.schedule()
  }

  delete(redisChannel: string): void {
    this.displaced.delete(redisChannel)
    if (!this.wanted.delete(redisChannel)) return
    this.dirty.add(redisChannel)
    this.schedule()
  }

  /** Resolves once the owner confirmed the subscription to `channel`; rejects after `timeoutMs`. */
  acknowledged(channel: string, timeoutMs: number): Promise<void> {
    if (this.confirmed.has(channel)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const done = () => (clearTimeout(timer), resolve())
      const timer = setTimeout(() => {
        const list = this.waiters.get(channel)
        list?.splice(list.indexOf(done) >>> 0, 1)
        reject(new Error(`redis adapter: no sharded subscription to ${channel} within ${timeoutMs} ms`))
      }, timeoutMs)
      timer.unref()
      this.waiters.set(channel, [...(this.waiters.get(channel) ?? []), done])
    })
  }

  /** Masters this node has a live subscriber connection to. */
  liveShards(): number {
    let n = 0
    for (const shard of this.shards.values()) if (shard.conn.status === 'ready') n++
    return n
  }

  private schedule(full = false): void {
    if (full) this.full = true
    if (this.scheduled || this.closed) return
    this.scheduled = true
    queueMicrotask(() => {
      this.scheduled = false
      this.sync()
    })
  }

  /**
   * Sends what is needed to get the wanted channels onto their owners (see the file's comment):
   * those whose wish changed, or every one after a change of the map or of a connection.
   */
  sync(): void {
    if (this.closed) return
    const full = this.full
    const candidates = full ? [...new Set([...this.wanted.keys(), ...this.where.keys()])] : [...this.dirty]
    this.full = false
    this.dirty.clear()
    const bySlot = new Map<Shard, Map<number, string[]>>()
    const owners = new Set<string>()
    let pending = false
    for (const channel of candidates) {
      const shard = this.where.get(channel)
      if (shard === undefined || this.wanted.has(channel)) continue
      this.unplace(channel, shard)
      if (shard.conn.status === 'ready') shard.conn.sunsubscribe(channel).catch(() => {})
    }
    for (const channel of candidates) {
      const slot = this.wanted.get(channel)?.slot
      if (slot === undefined) continue
      const owner = this.cluster.slots[slot]?.[0]
      if (owner !== undefined) owners.add(owner)
      const current = this.where.get(channel)
      if (current !== undefined && current.key === owner && current.conn.status === 'ready') continue
      if (current !== undefined) {
        this.unplace(channel, current)
        this.displaced.add(channel)
        if (current.conn.status === 'ready') current.conn.sunsubscribe(channel).catch(() => {})
      }
      const shard = owner === undefined ? undefined : this.shard(owner)
      if (shard === undefined || shard.conn.status !== 'ready') {
        pending = true
        continue
      }
      let slots = bySlot.get(shard)
      if (slots === undefined) bySlot.set(shard, (slots = new Map()))
      const list = slots.get(slot)
      if (list === undefined) slots.set(slot, [channel])
      else list.push(channel)
    }
    for (const [shard, slots] of bySlot) for (const channels of slots.values()) this.place(shard, channels)
    if (full) this.dropIdleShards(owners)
    if (pending) this.retrySoon()
  }

  private place(shard: Shard, channels: string[]): void {
    for (const channel of channels) {
      shard.placed.add(channel)
      this.where.set(channel, shard)
    }
    shard.conn.ssubscribe(...channels).then(
      () => {
        for (const channel of channels) {
          if (this.where.get(channel) !== shard) continue
          this.confirmed.add(channel)
          if (this.displaced.delete(channel)) this.moves++
          const list = this.waiters.get(channel)
          this.waiters.delete(channel)
          for (const done of list ?? []) done()
        }
      },
      (err: Error) => {
        for (const channel of channels) if (this.where.get(channel) === shard) this.unplace(channel, shard)
        if (/^MOVED /.test(err.message)) this.logger.debug({ err: err.message }, 'redis adapter: sharded subscription moved; refreshing the slot map')
        else if (shard.conn.status === 'ready') this.logger.warn({ err: err.message, shard: shard.key, channels: channels.length }, 'redis adapter: SSUBSCRIBE failed; retrying')
        this.retrySoon()
      },
    )
  }

  private unplace(channel: string, shard: Shard): void {
    shard.placed.delete(channel)
    this.where.delete(channel)
    this.confirmed.delete(channel)
  }

  /** The subscriber connection to the master `key`, made (and connecting) if new. */
  private shard(key: string): Shard {
    const existing = this.shards.get(key)
    if (existing !== undefined) return existing
    const at = key.lastIndexOf(':')
    const conn = new Redis({ ...this.options.redisOptions, host: key.slice(0, at), port: Number(key.slice(at + 1)) })
    const shard: Shard = { key, conn, placed: new Set(), unwatch: () => {} }
    this.shards.set(key, shard)
    conn.on('error', (err: Error) => this.logger.debug({ err: err.message, shard: key }, 'redis adapter: shard subscriber connection error'))
    conn.on('ready', () => this.schedule(true))
    conn.on('smessage', (channel: string, data: string) => {
      const wanted = this.wanted.get(channel)
      if (wanted !== undefined) this.onMessage(wanted.hub, data, channel)
    })
    // Redis dropped our subscriptions here: the connection closed, or its slots moved.
    const forget = () => {
      for (const channel of shard.placed) {
        if (this.where.get(channel) !== shard) continue
        this.unplace(channel, shard)
        if (this.wanted.has(channel)) this.displaced.add(channel)
      }
      shard.placed.clear()
      if (!this.closed) this.retrySoon()
    }
    conn.on('close', forget)
    conn.on('moved', forget)
    shard.unwatch = watchHealth(conn, this.options.pingIntervalMs, () => {
      this.logger.warn({ shard: key }, 'redis adapter: shard subscriber did not answer PING; reconnecting')
      conn.stream?.destroy()
    })
    conn.connect().catch(() => {})
    return shard
  }

  /** Closes the connections to masters that own no slot we want. */
  private dropIdleShards(owners: Set<string>): void {
    for (const [key, shard] of this.shards) {
      if (shard.placed.size > 0 || owners.has(key)) continue
      this.shards.delete(key)
      shard.unwatch()
      shard.conn.disconnect()
    }
  }

  private retrySoon(): void {
    if (this.retry !== undefined || this.closed) return
    this.retry = setTimeout(() => {
      this.retry = undefined
      // ioredis refreshes once at a time; its 'refresh' event syncs us again.
      this.cluster.refreshSlotsCache()
      this.schedule(true)
    }, this.options.retryMs ?? 500)
    this.retry.unref()
  }

  close(): void {
    this.closed = true
    this.cluster.off('refresh', this.onRefresh)
    clearTimeout(this.retry)
    for (const shard of this.shards.values()) {
      shard.unwatch()
      shard.conn.disconnect()
    }
    this.shards.clear()
    this.where.clear()
  }
}
