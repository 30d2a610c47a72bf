// Cluster mode's configuration and start-up: key slots as Redis computes them, the hash tag of
// topics with braces, REDIS_CLUSTER parsing, and start-up that stops with one clear line (never
// a hang) on unreachable seeds, on a server that is not a cluster, or on one before Redis 7.
import t from 'tap'
import { parseClusterNodes, redisAdapter, slotOf } from '@hornbeam/redis'
import { freePort, REDIS_URL } from './fixtures/cluster.js'
import { fakeRedis6 } from './fixtures/fake-redis6.js'

const quiet = { debug() {}, info() {}, warn() {}, error() {} }

t.test('slots as Redis computes them', async (t) => {
  t.equal(slotOf('123456789'), 12739, 'the CRC16 check value (0x31C3)')
  t.equal(slotOf('foo'), 12182)
  t.equal(slotOf('{user1000}.following'), slotOf('{user1000}.followers'), 'a hash tag decides the slot')
  t.not(slotOf('foo{}{bar}'), slotOf('bar'), 'an empty tag: the whole name is hashed')
  t.equal(slotOf('foo{{bar}}zap'), slotOf('{bar'), 'the tag ends at the first } after the first {')
})

t.test('a topic, its stream and its counter share a slot; braces in a topic do not break the tag', async (t) => {
  const adapter = redisAdapter({ cluster: { nodes: ['127.0.0.1:1'] }, logger: quiet })
  for (const topic of ['room:1', 'room:{a}', 'a}b', '}x', '}', '{', 'x{y}z', 'é✓']) {
    const channel = adapter.redisChannel(`topic:${topic}`)
    t.ok(channel.startsWith('hornbeam:topic:{'), `${topic} → ${channel}`)
    const history = channel.replace('hornbeam:topic:', 'hornbeam:history:')
    t.equal(slotOf(history), slotOf(channel), `${topic}: stream and channel in one slot`)
    t.equal(slotOf(`${history}:meta`), slotOf(channel), `${topic}: counter too`)
  }
  t.equal(adapter.redisChannel('topic:room:1'), 'hornbeam:topic:{room:1}')
  t.not(adapter.redisChannel('topic:a{b}'), adapter.redisChannel('topic:a{c}'), 'topics with braces keep distinct names')
  t.not(slotOf(adapter.redisChannel('topic:a{b}')), slotOf(adapter.redisChannel('topic:a{c}')), 'and (here) distinct slots')
  t.equal(adapter.redisChannel('control'), 'hornbeam:control', 'control channels are plain names')
})

t.test('1,000 topics over three masters of equal slot ranges: none more than 1.5x its share', async (t) => {
  const counts = [0, 0, 0]
  const adapter = redisAdapter({ cluster: { nodes: ['127.0.0.1:1'] }, logger: quiet })
  for (let i = 0; i < 1000; i++) counts[Math.min(2, Math.floor(slotOf(adapter.redisChannel(`topic:room:${i}`)) / (16384 / 3)))]!++
  t.comment(`per master: ${counts.join(', ')}`)
  for (const n of counts) t.ok(n <= 500, `${n} ≤ 500`)
})

t.test('REDIS_CLUSTER parsing', async (t) => {
  t.same(parseClusterNodes('127.0.0.1:7000, redis-a:7001,[::1]:7002'), [
    { host: '127.0.0.1', port: 7000 },
    { host: 'redis-a', port: 7001 },
    { host: '::1', port: 7002 },
  ])
  for (const bad of ['', 'localhost', '127.0.0.1:7000,', 'host:0', 'host:70000', 'redis://host:7000', 'a:1,,b:2']) {
    t.throws(() => parseClusterNodes(bad), /REDIS_CLUSTER/, `${JSON.stringify(bad)} is refused with a line naming REDIS_CLUSTER`)
  }
  t.throws(() => redisAdapter({ cluster: { nodes: ['a:1'] }, url: 'redis://x' }), /one of `url`, `client` or `cluster`/)
  t.throws(() => redisAdapter({ cluster: { nodes: ['a:1'] }, keyPrefix: 'app{1}:' }), /must not contain \{ or \}/)
  t.throws(() => redisAdapter({ cluster: { nodes: [] } }), /at least one seed/)
})

t.test('unreachable seed nodes: start() fails with one line, in time', async (t) => {
  const port = await freePort()
  const lines: string[] = []
  const logger = { ...quiet, error: (_o: unknown, msg?: string) => void lines.push(msg ?? '') }
  const adapter = redisAdapter({ cluster: { nodes: [`127.0.0.1:${port}`] }, startTimeoutMs: 1500, logger })
  const started = Date.now()
  await t.rejects(adapter.start('n1', () => {}), new RegExp(`Redis Cluster at 127\\.0\\.0\\.1:${port} not ready within 1500 ms`))
  t.ok(Date.now() - started < 5000, `gave up after ${Date.now() - started} ms`)
  await adapter.close()
})

t.test('a server that is not a cluster: start() fails at once, saying so', async (t) => {
  const url = new URL(REDIS_URL)
  const adapter = redisAdapter({ cluster: { nodes: [`${url.hostname}:${url.port}`] }, startTimeoutMs: 8000, logger: quiet })
  const started = Date.now()
  await t.rejects(adapter.start('n1', () => {}), /is not a Redis Cluster/)
  t.ok(Date.now() - started < 4000, `failed after ${Date.now() - started} ms, before the start timeout`)
  await adapter.close()
})

t.test('a cluster of Redis before 7 (no sharded pub/sub): start() fails at once, saying so', async (t) => {
  const { port } = await fakeRedis6(t)
  const adapter = redisAdapter({ cluster: { nodes: [`127.0.0.1:${port}`] }, startTimeoutMs: 8000, logger: quiet })
  const started = Date.now()
  await t.rejects(adapter.start('n1', () => {}), /runs Redis 6\.2\.14; cluster mode needs Redis 7 or later \(sharded pub\/sub\)/)
  t.ok(Date.now() - started < 4000, `failed after ${Date.now() - started} ms, before the start timeout`)
  await adapter.close()
})
