// The adapter through a Redis outage (a private redis-server, stopped and started on its port):
// publishing while disconnected drops and counts without queueing, subscriptions changed during
// the outage come back exactly as wanted, onReconnect listeners run once per outage. And a hub
// on the adapter: ready() once connected, close() quits both connections.
import t from 'tap'
import type { ClusterMessage } from '@hornbeam/channels'
import { createHub } from '@hornbeam/channels'
import { redisAdapter } from '@hornbeam/redis'
import { eventually } from '../../../test/helpers/wire.js'
import { inspector, numsub, REDIS_URL, RedisServer, uniqueId } from './fixtures/cluster.js'

function recordingLogger() {
  const lines: Array<{ level: string; msg?: string; obj: any }> = []
  const at = (level: string) => (obj: unknown, msg?: string) => void lines.push({ level, msg, obj })
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } }
}

t.test('an outage: drop and count, resubscribe exactly, tell the listeners once', async (t) => {
  const server = await RedisServer.start(t)
  const logs = recordingLogger()
  const a = redisAdapter({ url: server.url, logger: logs.logger, maxRetryDelayMs: 200 })
  const b = redisAdapter({ url: server.url, logger: recordingLogger().logger, maxRetryDelayMs: 200 })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const got: Array<[string, ClusterMessage]> = []
  await a.start('a', () => {})
  await b.start('b', (channel, message) => void got.push([channel, message]))
  let reconnectsA = 0
  let reconnectsB = 0
  a.onReconnect(() => reconnectsA++)
  b.onReconnect(() => reconnectsB++)
  b.subscribe('topic:kept')
  b.subscribe('topic:dropped-in-outage')
  // b hears a on topic:kept once before the outage: from then on, b knows where a's numbers are.
  const redisBefore = inspector(t, server.url)
  await eventually(async () => (await numsub(redisBefore, 'hornbeam:topic:kept')) === 1, 2000, 'b subscribed')
  a.publish('topic:kept', { v: 1, kind: 'broadcast', node: 'a', topic: 'kept', event: 'e', payload: 'before' })
  await eventually(() => got.some(([, m]) => (m as any).payload === 'before'), 2000, 'delivery before the outage')
  redisBefore.disconnect()

  await server.stop()
  // `connected` turns false as soon as one of a node's two connections is lost; a's publisher is
  // surely down once a reconnect of it has failed (its error is logged).
  const publisherRefused = () => logs.lines.some((l) => l.level === 'warn' && /publisher connection error/.test(l.msg ?? ''))
  await eventually(() => !a.stats().connected && !b.stats().connected && publisherRefused(), 2000, 'both saw the outage')
  let threw = 0
  for (let i = 0; i < 5000; i++) {
    try {
      a.publish('topic:kept', { v: 1, kind: 'broadcast', node: 'a', topic: 'kept', event: 'e', payload: i })
    } catch {
      threw++
    }
  }
  t.equal(threw, 0, 'publishing while disconnected does not throw')
  const during = a.stats()
  t.equal(during.dropped, 5000, 'every publish during the outage was dropped and counted')
  t.equal(during.pendingPublishes, 0, 'nothing queued')
  const dropWarnings = logs.lines.filter((l) => l.level === 'warn' && /dropping cluster messages/.test(l.msg ?? ''))
  t.equal(dropWarnings.length, 1, 'one warning for the burst, not 5000')
  t.ok(logs.lines.some((l) => l.level === 'warn' && /lost Redis/.test(l.msg ?? '')), 'the outage was logged')
  b.unsubscribe('topic:dropped-in-outage')
  b.subscribe('topic:added-in-outage')
  // Refused reconnects: logged (as warnings), never thrown.
  await eventually(() => logs.lines.some((l) => l.level === 'warn' && /subscriber connection error/.test(l.msg ?? '')), 3000, 'a refused reconnect of the subscriber too')

  await server.start()
  await eventually(() => a.stats().connected && b.stats().connected, 3000, 'both reconnected')
  t.equal(reconnectsA, 1, 'a\'s listener ran once')
  t.equal(reconnectsB, 1, 'b\'s listener ran once')
  const redis = inspector(t, server.url)
  const channels = ((await redis.call('PUBSUB', 'CHANNELS', '*')) as string[]).sort()
  t.same(
    channels,
    ['hornbeam:control', 'hornbeam:node:a', 'hornbeam:node:b', 'hornbeam:topic:added-in-outage', 'hornbeam:topic:kept'],
    'exactly the live channels: the one dropped during the outage is gone, the one added is there',
  )
  t.equal(await numsub(redis, 'hornbeam:control'), 2)
  a.publish('topic:kept', { v: 1, kind: 'broadcast', node: 'a', topic: 'kept', event: 'e', payload: 'after' })
  await eventually(() => got.some(([, m]) => (m as any).payload === 'after'), 2000, 'delivery after the outage')
  t.equal(got.filter(([, m]) => typeof (m as any).payload === 'number').length, 0, 'nothing from the outage was replayed (at most once)')
  t.equal(b.stats().lost, 5000, "b counted a's 5000 dropped broadcasts as lost, from the jump in a's numbers")
  t.ok(logs.lines.some((l) => /reconnected to Redis/.test(l.msg ?? '') && l.obj.droppedTotal === 5000), 'the recovery was logged with the drop count')
  t.equal(logs.lines.filter((l) => l.level === 'error').length, 0, 'no errors: connection trouble is a warning')
})

t.test('broadcasts Redis took while a node was not subscribed: lost, and counted by that node', async (t) => {
  // b's subscriber is held off (its user disabled, its connection killed) while a publishes: Redis
  // accepts a's messages and hands them to nobody. No one is told, but b counts them from a's numbers.
  const server = await RedisServer.start(t)
  const redis = inspector(t, server.url)
  await redis.call('ACL', 'SETUSER', 'node-b', 'on', '>secret', '~*', '&*', '+@all')
  const logs = recordingLogger()
  const a = redisAdapter({ url: server.url, logger: recordingLogger().logger })
  const b = redisAdapter({ url: `redis://node-b:secret@127.0.0.1:${server.port}`, logger: logs.logger, minRetryDelayMs: 50, maxRetryDelayMs: 100 })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const got: unknown[] = []
  await a.start('a', () => {})
  await b.start('b', (_channel, message) => void got.push((message as any).payload))
  b.subscribe('topic:t')
  await eventually(async () => (await numsub(redis, 'hornbeam:topic:t')) === 1, 2000, 'b subscribed')
  const send = (payload: number) => a.publish('topic:t', { v: 1, kind: 'broadcast', node: 'a', topic: 't', event: 'e', payload })
  send(1)
  await eventually(() => got.includes(1), 2000, 'the first message')

  await redis.call('ACL', 'SETUSER', 'node-b', 'off')
  await redis.call('CLIENT', 'KILL', 'USER', 'node-b')
  await eventually(() => !b.stats().connected, 2000, "b's connections are down")
  t.equal(await numsub(redis, 'hornbeam:topic:t'), 0, 'no subscriber on the topic')
  for (let n = 2; n <= 4; n++) send(n)
  await eventually(() => a.stats().published === 4 && a.stats().pendingPublishes === 0, 2000, 'Redis took all four')

  await redis.call('ACL', 'SETUSER', 'node-b', 'on')
  await eventually(() => b.stats().connected, 5000, 'b back')
  send(5)
  await eventually(() => got.includes(5), 2000, 'the message after the return')
  t.same(got, [1, 5], 'the three published meanwhile never arrived (at most once)')
  t.equal(b.stats().lost, 3, 'b counted them')
  t.ok(logs.lines.some((l) => l.level === 'warn' && /lost on the way/.test(l.msg ?? '') && l.obj.skipped === 3), 'and logged them')
  t.equal(a.stats().dropped, 0, 'a dropped nothing: Redis took every message')
})

t.test('a frozen Redis (half-open connections): the PING check drops them, then they heal', async (t) => {
  const server = await RedisServer.start(t)
  const logs = recordingLogger()
  const adapter = redisAdapter({ url: server.url, logger: logs.logger, pingIntervalMs: 100, maxRetryDelayMs: 100 })
  t.teardown(() => adapter.close())
  const got: ClusterMessage[] = []
  await adapter.start('frozen', (_channel, message) => void got.push(message))
  let reconnects = 0
  adapter.onReconnect(() => reconnects++)
  adapter.subscribe('topic:x')
  const redis = inspector(t, server.url)
  await eventually(async () => (await numsub(redis, 'hornbeam:topic:x')) === 1, 2000, 'subscribed')

  server.freeze()
  const frozenAt = Date.now()
  await eventually(() => !adapter.stats().connected, 2000, 'the silent connection noticed')
  t.comment(`noticed ${Date.now() - frozenAt} ms after SIGSTOP (no error, no close from the socket)`)
  t.ok(logs.lines.some((l) => l.level === 'warn' && /no answer to PING/.test(l.msg ?? '')), 'logged')
  // The two connections' checks may notice a tick apart: the publisher may still look ready, and
  // the PUBLISH then waits on it until it is dropped too. Either way nothing piles up: it is
  // dropped and counted, at once or when its connection goes.
  adapter.publish('topic:x', { v: 1, kind: 'broadcast', node: 'frozen', topic: 'x', event: 'e', payload: null })
  await eventually(() => adapter.stats().pendingPublishes === 0 && adapter.stats().dropped === 1, 2000, 'the publish dropped and counted')
  t.pass('nothing piles up while frozen')

  server.thaw()
  await eventually(() => adapter.stats().connected && reconnects === 1, 5000, 'healed')
  await eventually(async () => (await numsub(redis, 'hornbeam:topic:x')) === 1, 2000, 'subscribed again')
  await redis.publish('hornbeam:topic:x', JSON.stringify({ v: 1, kind: 'broadcast', node: 'elsewhere', topic: 'x', event: 'e', payload: 'back' }))
  await eventually(() => got.some((m) => (m as any).payload === 'back'), 2000, 'delivery resumed')
  t.equal(logs.lines.filter((l) => l.level === 'error').length, 0, 'no errors')
})

t.test('a hub on the adapter: ready() once connected, close() quits both connections', async (t) => {
  const prefix = `hbtest:${uniqueId()}:`
  const adapter = redisAdapter({ url: REDIS_URL, keyPrefix: prefix, logger: recordingLogger().logger })
  const hub = createHub({ adapter, logger: recordingLogger().logger })
  await hub.ready()
  t.ok(adapter.stats().connected)
  const redis = inspector(t)
  const ours = async () => String(await redis.call('CLIENT', 'LIST')).split('\n').filter((line) => line.includes(`name=${prefix}`))
  t.equal((await ours()).length, 2, 'a publisher and a subscriber connection, named after the node')
  t.equal(await numsub(redis, `${prefix}node:${hub.nodeId}`), 1)
  await hub.close()
  await eventually(async () => (await ours()).length === 0, 2000, 'both connections gone')
  t.pass('no connection left behind')
})
