// The adapter on its own, against the shared Redis: subscribe / unsubscribe / publish, own-message
// filtering, the JSON round trip, bad input and errors logged rather than thrown, a caller's
// client, and a start that cannot reach Redis.
import t from 'tap'
import { Redis } from 'ioredis'
import type { ClusterMessage } from '@hornbeam/channels'
import { RedisAdapter, redisAdapter, type RedisAdapterOptions } from '@hornbeam/redis'
import { eventually, watchLongTimers } from '../../../test/helpers/wire.js'
import { freePort, inspector, numsub, REDIS_URL, uniqueId } from './fixtures/cluster.js'

interface Log {
  level: string
  msg: string | undefined
  obj: unknown
}

function recordingLogger() {
  const lines: Log[] = []
  const at = (level: string) => (obj: unknown, msg?: string) => void lines.push({ level, msg, obj })
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } }
}

type Received = Array<[string, ClusterMessage]>

/** A started adapter on its own key prefix, recording what it delivers; closed at teardown. */
async function node(t: { teardown(fn: () => unknown): void }, prefix: string, id: string, extra: RedisAdapterOptions = {}) {
  const { lines, logger } = recordingLogger()
  const adapter = redisAdapter({ url: REDIS_URL, keyPrefix: prefix, logger, ...extra })
  t.teardown(() => adapter.close())
  const received: Received = []
  await adapter.start(id, (channel, message) => void received.push([channel, message]))
  return { adapter, received, lines }
}

t.test('publish, subscribe, unsubscribe and own-message filtering', async (t) => {
  const prefix = `hbtest:${uniqueId()}:`
  const redis = inspector(t)
  const a = await node(t, prefix, 'node-a')
  const b = await node(t, prefix, 'node-b')
  t.ok(a.adapter.stats().connected && b.adapter.stats().connected, 'both connected once start() resolved')
  // start() subscribed the node's own channels already.
  t.equal(await numsub(redis, `${prefix}control`), 2, 'control: both nodes')
  t.equal(await numsub(redis, `${prefix}node:node-a`), 1, 'node:node-a: its node')
  t.same(a.adapter.subscriptions().sort(), ['control', 'node:node-a'])

  a.adapter.subscribe('topic:room:1')
  b.adapter.subscribe('topic:room:1')
  b.adapter.subscribe('topic:room:1') // idempotent
  await eventually(async () => (await numsub(redis, `${prefix}topic:room:1`)) === 2, 2000, 'NUMSUB 2')

  const message: ClusterMessage = { v: 1, kind: 'broadcast', node: 'node-a', topic: 'room:1', event: 'new_msg', payload: { body: 'héllo ✓ \u2028 "quoted"', list: [1, null, { deep: true }], n: 1.5 } }
  a.adapter.publish('topic:room:1', message)
  await eventually(() => b.received.length === 1, 2000, 'b received')
  t.same(b.received[0], ['topic:room:1', { ...message, seq: 1 }], 'the hub channel name and the message survive the JSON round trip, numbered per topic (sequences.ts)')
  t.not(b.received[0]![1], message, 'a copy, decoded once on the receiving side')
  // a is subscribed too: Redis sends it the message back, and a counts it as it drops it.
  await eventually(() => a.adapter.stats().ownEchoes === 1, 2000, "a's own echo")
  t.equal(a.received.length, 0, 'a did not get its own message back')
  t.equal(a.adapter.stats().ownEchoes, 1, 'the echo was counted and dropped')
  // Redis runs commands one at a time and writes each subscriber's messages in that order: once
  // a marker a published later has reached b, anything a published before has too.
  let markers = 0
  const markerReached = async (to: string) => {
    const marker = { v: 1, kind: 'broadcast', node: 'node-a', topic: 'marker', event: 'marker', payload: ++markers } as ClusterMessage
    a.adapter.publish(to, marker)
    await eventually(() => b.received.some(([, m]) => m.kind === 'broadcast' && m.topic === 'marker' && m.payload === markers), 2000, `marker ${markers}`)
  }
  const fromTopic = () => b.received.filter(([channel, m]) => channel === 'topic:room:1' && (m as { topic?: string }).topic !== 'marker')
  await markerReached('topic:room:1')
  t.equal(fromTopic().length, 1, 'b got it exactly once')

  b.adapter.unsubscribe('topic:room:1')
  await eventually(async () => (await numsub(redis, `${prefix}topic:room:1`)) === 1, 2000, 'NUMSUB 1')
  a.adapter.publish('topic:room:1', { ...message, payload: 2 })
  await markerReached('node:node-b') // a channel b still has
  t.equal(fromTopic().length, 1, 'unsubscribed: nothing more for b')
  t.same(b.adapter.subscriptions().sort(), ['control', 'node:node-b'])

  // Subscribed and unsubscribed in one turn: Redis never hears of it. MONITOR shows every command
  // Redis runs, in order: once b's later SUBSCRIBE shows, any command for the blink would have.
  const monitor = await redis.monitor() // a connection of its own, in MONITOR mode
  t.teardown(() => monitor.disconnect())
  const ran: string[][] = []
  monitor.on('monitor', (_time: string, args: string[]) => void ran.push(args))
  b.adapter.subscribe('topic:blink')
  b.adapter.unsubscribe('topic:blink')
  b.adapter.subscribe('topic:after-blink')
  await eventually(() => ran.some((args) => args.includes(`${prefix}topic:after-blink`)), 2000, 'the later SUBSCRIBE')
  t.same(ran.filter((args) => args.includes(`${prefix}topic:blink`)), [], 'a blink costs no command')
  t.equal(await numsub(redis, `${prefix}topic:blink`), 0, 'and leaves no subscription')
  b.adapter.unsubscribe('topic:after-blink')

  // A burst of subscriptions in one turn.
  for (let i = 0; i < 200; i++) b.adapter.subscribe(`topic:burst:${i}`)
  await eventually(async () => ((await redis.call('PUBSUB', 'CHANNELS', `${prefix}topic:burst:*`)) as string[]).length === 200, 2000, 'burst')
  for (let i = 0; i < 200; i++) b.adapter.unsubscribe(`topic:burst:${i}`)
  await eventually(async () => ((await redis.call('PUBSUB', 'CHANNELS', `${prefix}topic:burst:*`)) as string[]).length === 0, 2000, 'burst gone')

  const stats = a.adapter.stats()
  t.equal(stats.published, 2 + markers, 'the two messages and the markers')
  t.equal(stats.dropped, 0)
  t.equal(stats.pendingPublishes, 0)
  t.same([...a.lines, ...b.lines].filter((l) => l.level === 'error' || l.level === 'warn'), [], 'nothing logged')
})

t.test('bad input and failing handlers are logged, never thrown', async (t) => {
  const prefix = `hbtest:${uniqueId()}:`
  const raw = inspector(t)
  const { lines, logger } = recordingLogger()
  const adapter = new RedisAdapter({ url: REDIS_URL, keyPrefix: prefix, logger })
  t.teardown(() => adapter.close())
  // Before start: dropped and counted, no throw.
  t.doesNotThrow(() => adapter.publish('control', { v: 1, kind: 'presence.heartbeat', node: 'x', clock: 1 }), 'publish before start')
  t.equal(adapter.stats().dropped, 1)
  let calls = 0
  await adapter.start('node-x', (channel) => {
    calls++
    if (channel === 'control') throw new Error('handler blew up')
  })
  for (const junk of ['not json', '[1,2,3]', 'null', '42', '{"unterminated']) await raw.publish(`${prefix}control`, junk)
  await raw.publish(`${prefix}control`, JSON.stringify({ v: 1, kind: 'presence.heartbeat', node: 'other', clock: 1 }))
  await eventually(() => calls === 1, 2000, 'the valid message delivered')
  t.equal(adapter.stats().decodeErrors, 5, 'five undecodable messages counted')
  t.ok(lines.some((l) => l.level === 'warn' && /not a JSON object/.test(l.msg ?? '')), 'and warned about (throttled)')
  t.ok(lines.some((l) => l.level === 'error' && /delivering a cluster message failed/.test(l.msg ?? '')), 'the throwing handler was logged')

  const cyclic: Record<string, unknown> = { v: 1, kind: 'broadcast', node: 'node-x' }
  cyclic.self = cyclic
  t.doesNotThrow(() => adapter.publish('control', cyclic as any), 'an unserializable message')
  t.doesNotThrow(() => adapter.publish('control', { v: 1, kind: 'broadcast', node: 'node-x', topic: 't', event: 'e', payload: 1n }), 'a BigInt')
  t.equal(adapter.stats().dropped, 3, 'both dropped and counted')
  t.ok(lines.some((l) => l.level === 'error' && /cannot encode/.test(l.msg ?? '')))
  t.throws(() => redisAdapter({ url: REDIS_URL, client: raw }), TypeError, 'url and client together are refused')
  t.throws(() => redisAdapter({ maxRetryDelayMs: -1 }), TypeError)
})

t.test('an existing ioredis client: publishes on it, duplicates it, leaves it open', async (t) => {
  const prefix = `hbtest:${uniqueId()}:`
  const client = new Redis(REDIS_URL)
  client.on('error', () => {})
  t.teardown(() => client.quit().catch(() => {}))
  const a = await node(t, prefix, 'node-a', { url: undefined, client })
  const b = await node(t, prefix, 'node-b')
  b.adapter.subscribe('topic:t')
  const redis = inspector(t)
  await eventually(async () => (await numsub(redis, `${prefix}topic:t`)) === 1, 2000, 'b subscribed')
  a.adapter.publish('topic:t', { v: 1, kind: 'broadcast', node: 'node-a', topic: 't', event: 'e', payload: 'via your client' })
  await eventually(() => b.received.length === 1, 2000, 'delivered')
  t.equal((b.received[0]![1] as any).payload, 'via your client')
  const names = String(await redis.call('CLIENT', 'LIST'))
  t.match(names, new RegExp(`name=${prefix.replace(/[:]/g, '.')}sub:node-a`), 'the duplicate subscriber is named after the node')
  await a.adapter.close()
  t.equal(client.status, 'ready', 'the caller\'s client stays open after close()')
  t.equal(await client.ping(), 'PONG')

  const owned = new Redis(REDIS_URL)
  owned.on('error', () => {})
  const c = await node(t, prefix, 'node-c', { url: undefined, client: owned, quitClient: true })
  await c.adapter.close()
  t.equal(owned.status, 'end', 'quitClient: true quits it')
})

t.test('start() rejects when Redis is unreachable, and nothing is left running', async (t) => {
  const port = await freePort() // nothing listens there
  const { lines, logger } = recordingLogger()
  const adapter = redisAdapter({ url: `redis://:secret@127.0.0.1:${port}`, logger, startTimeoutMs: 400, maxRetryDelayMs: 100 })
  const started = Date.now()
  const timers = watchLongTimers()
  await t.rejects(adapter.start('n', () => {}), /not ready within 400 ms/)
  t.same(timers.stop(), [], 'it gave up at its own 400 ms, having waited on no timer of a second or more')
  t.comment(`rejected after ${Date.now() - started} ms`)
  t.notMatch(JSON.stringify(lines.map((l) => String((l.obj as any)?.err?.message ?? ''))), /secret/, 'the password is not logged')
  t.ok(lines.some((l) => l.level === 'warn' && /connection error/.test(l.msg ?? '')), 'connection errors were logged')
  await adapter.close()
  t.doesNotThrow(() => adapter.publish('control', { v: 1, kind: 'presence.bye', node: 'n' }), 'publish after close is a no-op')
  t.doesNotThrow(() => adapter.subscribe('topic:x'))
})
