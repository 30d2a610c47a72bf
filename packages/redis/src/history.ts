/**
 * The history in Redis Streams, shared by every node (`adapter.history`): one stream and one meta
 * hash per topic with history, positions assigned by a script that appends and publishes in one
 * step (history-scripts.ts). Only topics with history pay for it; a resume on any node reads the
 * same stream.
 */
import { createHash } from 'node:crypto'
import {
  CLUSTER_PROTOCOL, formatPosition, newEpoch,
  type HistoryOptions, type Position, type ResumeOutcome, type SharedHistory, type StoredMessage,
} from '@hornbeam/channels'
import type { Redis } from 'ioredis'
import { APPEND, READ } from './history-scripts.js'

/** What the history needs of its adapter. */
export interface HistoryConnection {
  /** The publisher connection, when ready. */
  connection(): Redis | undefined
  /** The node id the adapter was started with. */
  nodeId(): string | undefined
  /**
   * The run id of the Redis instance that holds `topic`'s keys (undefined until known): the one
   * Redis, or in cluster mode the master that owns the topic's slot.
   */
  runId(topic: string): string | undefined
  /** The topic's meta hash, stream and channel (in cluster mode all three share its hash tag). */
  names(topic: string): { meta: string; stream: string; channel: string }
  /** How the append script publishes: PUBLISH, or SPUBLISH in cluster mode. */
  readonly publishCommand: 'PUBLISH' | 'SPUBLISH'
  readonly prefix: string
  /** How long a topic's meta (its epoch and counter) outlives its last message. */
  readonly metaTtlMs: number
}

interface Entry {
  e: string
  p: unknown
  x?: string
  t: number
}

type Script = { source: string; sha: string }
const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') })
const APPEND_SCRIPT = script(APPEND)
const READ_SCRIPT = script(READ)

export class RedisHistory implements SharedHistory {
  constructor(private readonly redis: HistoryConnection) {}

  private keys(topic: string): [string, string] {
    const { meta, stream } = this.redis.names(topic)
    return [meta, stream]
  }

  /** EVALSHA, and EVAL once if Redis does not have the script (a restart, a new instance). */
  private async run(which: Script, topic: string, args: Array<string | number>): Promise<unknown> {
    const keys = this.keys(topic)
    const conn = this.redis.connection()
    const runId = this.redis.runId(topic)
    if (conn === undefined || runId === undefined) throw new Error('history: Redis is not connected')
    try {
      return await conn.evalsha(which.sha, 2, ...keys, ...args)
    } catch (err) {
      if (!/NOSCRIPT/.test(String((err as Error).message))) throw err
      return conn.eval(which.source, 2, ...keys, ...args)
    }
  }

  async append(topic: string, message: { event: string; payload: unknown; exclude?: string }, options: HistoryOptions): Promise<string> {
    const node = this.redis.nodeId()
    const runId = this.redis.runId(topic)
    if (node === undefined || runId === undefined) throw new Error('history: Redis is not connected')
    const entry: Entry = { e: message.event, p: message.payload, t: Date.now() }
    if (message.exclude !== undefined) entry.x = message.exclude
    const published = { v: CLUSTER_PROTOCOL, kind: 'broadcast', node, topic, event: message.event, payload: message.payload, ...(message.exclude !== undefined ? { exclude: message.exclude } : {}) }
    const json = JSON.stringify(published)
    const args = [
      newEpoch(), runId, JSON.stringify(entry), options.size, options.ttlMs, Math.max(this.redis.metaTtlMs, options.ttlMs),
      this.redis.names(topic).channel, `${json.slice(0, -1)},"position":"`, '"}', this.redis.publishCommand,
    ]
    return String(await this.run(APPEND_SCRIPT, topic, args))
  }

  private async read(topic: string, after: number, count: number, newest: boolean): Promise<{ epoch: string; top: number; entries: Array<[number, Entry]> }> {
    const runId = this.redis.runId(topic) ?? ''
    const reply = (await this.run(READ_SCRIPT, topic, [newEpoch(), runId, after, count, this.redis.metaTtlMs, newest ? '1' : '0'])) as [string, number, Array<[string, string[]]>]
    const entries: Array<[number, Entry]> = []
    for (const [id, fields] of reply[2]) {
      const at = fields.indexOf('d')
      if (at >= 0) entries.push([Number(id.slice(0, id.indexOf('-'))), JSON.parse(fields[at + 1]!) as Entry])
    }
    if (newest) entries.reverse()
    return { epoch: reply[0], top: Number(reply[1]), entries }
  }

  async resume(topic: string, since: Position, previous: string | undefined, options: HistoryOptions): Promise<ResumeOutcome<StoredMessage>> {
    const { epoch, top, entries } = await this.read(topic, since.offset, options.maxReplay + 1, false)
    const position = formatPosition(epoch, top)
    const fail = (reason: ResumeOutcome<StoredMessage>['reason']): ResumeOutcome<StoredMessage> => ({ position, recovered: false, reason, messages: [] })
    if (since.epoch !== epoch) return fail('unknown epoch')
    if (since.offset > top) return fail('position from the future')
    const missed = top - since.offset
    if (missed === 0) return { position, recovered: true, messages: [] }
    if (!this.whole(entries, since.offset, top, options)) return fail('messages expired')
    if (missed > options.maxReplay) return fail('too many missed')
    const messages = entries.filter(([, e]) => previous === undefined || e.x !== previous).map(([offset, e]) => stored(epoch, offset, e))
    return { position, recovered: true, messages }
  }

  async recent(topic: string, count: number, options: HistoryOptions): Promise<{ position: string; messages: StoredMessage[] }> {
    const n = Math.max(0, Math.min(count, options.maxReplay, options.size))
    const { epoch, top, entries } = await this.read(topic, 0, Math.max(n, 1), true)
    const oldest = Date.now() - options.ttlMs
    const kept = n === 0 ? [] : entries.filter(([, e]) => e.t >= oldest)
    return { position: formatPosition(epoch, top), messages: kept.map(([offset, e]) => stored(epoch, offset, e)) }
  }

  async after(topic: string, since: Position, options: HistoryOptions): Promise<StoredMessage[] | undefined> {
    const { epoch, top, entries } = await this.read(topic, since.offset, options.maxReplay + 1, false)
    if (epoch !== since.epoch || top - since.offset > options.maxReplay || !this.whole(entries, since.offset, top, options)) return undefined
    return entries.map(([offset, e]) => stored(epoch, offset, e))
  }

  /** The entries are every offset after `from` up to `top`, none past its age. */
  private whole(entries: Array<[number, Entry]>, from: number, top: number, options: HistoryOptions): boolean {
    const oldest = Date.now() - options.ttlMs
    if (entries.length < Math.min(top - from, options.maxReplay + 1)) return false
    return entries.every(([offset, e], i) => offset === from + 1 + i && e.t >= oldest)
  }
}

function stored(epoch: string, offset: number, entry: Entry): StoredMessage {
  const message: StoredMessage = { position: formatPosition(epoch, offset), event: entry.e, payload: entry.p }
  if (entry.x !== undefined) message.exclude = entry.x
  return message
}
