// History in Redis Streams, across nodes (child processes on one private redis-server): a client
// resumes on another node than the one it left, even when that node was killed; three offline
// cycles deliver each message once; a Redis that restarts without persistence changes the epoch
// and clients hear recovered: false, never silence; a broadcast Redis cannot take fails visibly.
import t from 'tap'
import WebSocket from 'ws'
import { Socket } from '@hornbeam/client'
import { eventually } from '../../../test/helpers/wire.js'
import { startProxy } from '../../../test/helpers/proxy.js'
import { clientPool, RedisServer, spawnCluster, uniqueId, type NodeProcess } from './fixtures/cluster.js'

const opts = { timeout: 60_000 }

/**
 * Broadcasts numbered messages from `node`, one after the other (each awaited), until `stop()`;
 * `sent` is the last number, every one of them acknowledged by the store.
 */
function pumpFrom(t: { teardown(fn: () => unknown): void }, node: NodeProcess, topic: string) {
  let stopped = false
  const state = { sent: 0, stop: async () => ((stopped = true), await done) }
  const done = (async () => {
    while (!stopped) {
      const result = await node.broadcast(topic, 'm', { n: state.sent + 1 })
      if (!result.ok) throw new Error(`broadcast ${state.sent + 1} failed: ${result.reason}`)
      state.sent++
    }
  })()
  t.teardown(() => ((stopped = true), done.catch(() => {})))
  return state
}

const inOrderOnce = (got: number[], last: number) => got.length === last && got.every((n, i) => n === i + 1)

t.test('a client cut off from one node resumes on the other: every message once, in order', opts, async (t) => {
  const redis = await RedisServer.start(t)
  const nodes = await spawnCluster(t, 2, redis.url)
  const pool = clientPool(t)
  const topic = `hist:${uniqueId()}`
  const a = await nodes[0]!.client()
  pool.push(a)
  const joined = await a.join(topic, { user: 'u' })
  const notice = (await a.waitFor((f) => f[3] === 'hb_history'))[4]
  t.ok(joined.status === 'ok' && typeof notice.position === 'string', `a position at the join (${notice.position})`)
  const pump = pumpFrom(t, nodes[1]!, topic)
  await a.waitFor((f) => f[3] === 'm' && f[4].n >= 10, 5000, 'messages from node 1 on node 0')
  a.ws.terminate()
  const last = a.events(topic, 'm').at(-1)!
  const b = await nodes[1]!.client()
  pool.push(b)
  await b.join(topic, { user: 'u', hb_position: last[1], hb_previous: notice.connection })
  const resumed = (await b.waitFor((f) => f[3] === 'hb_history'))[4]
  const target = pump.sent + 5
  await b.waitFor((f) => f[3] === 'm' && f[4].n >= target, 5000, 'live after the resume')
  await pump.stop()
  await b.waitFor((f) => f[3] === 'm' && f[4].n === pump.sent, 5000, 'the last one')
  const got = [...a.events(topic, 'm'), ...b.events(topic, 'm')].map((f) => f[4].n as number)
  t.match(resumed, { resumed: true, recovered: true })
  t.ok(inOrderOnce(got, pump.sent), `1..${pump.sent} once each across both nodes (replayed ${resumed.replayed})`)
})

t.test('@hornbeam/client through a proxy: its node SIGKILLed mid-stream, it resumes on the survivor', opts, async (t) => {
  const redis = await RedisServer.start(t)
  const nodes = await spawnCluster(t, 2, redis.url)
  const topic = `hist:${uniqueId()}`
  let target = nodes[0]!
  const proxy = await startProxy(() => target.port)
  t.teardown(() => proxy.close())
  const socket = new Socket(`ws://127.0.0.1:${proxy.port}/ws`, { transport: WebSocket as any, reconnectAfterMs: () => 50, heartbeatIntervalMs: 200 })
  t.teardown(() => socket.disconnect())
  const channel = socket.channel(topic, { user: 'u' })
  const got: number[] = []
  const recovered: any[] = []
  channel.on('m', (p: { n: number }) => got.push(p.n))
  channel.onRecover((info) => recovered.push(info))
  socket.connect()
  await new Promise((resolve) => channel.join().receive('ok', resolve))
  const pump = pumpFrom(t, nodes[1]!, topic)
  await eventually(() => got.length >= 10, 5000, 'messages flowing')
  target = nodes[1]!
  await nodes[0]!.kill('SIGKILL')
  await eventually(() => recovered.length === 1, 10_000, 'resumed on the survivor')
  const until = pump.sent + 5
  await eventually(() => (got.at(-1) ?? 0) >= until, 5000, 'live on the survivor')
  await pump.stop()
  await eventually(() => got.at(-1) === pump.sent, 5000, 'the last one')
  t.match(recovered[0], { recovered: true })
  t.ok(inOrderOnce(got, pump.sent), `1..${pump.sent} once each, though the node it was on died`, { got, recovered })
})

t.test('three offline cycles in a row, alternating nodes: each message exactly once to the application', opts, async (t) => {
  const redis = await RedisServer.start(t)
  const nodes = await spawnCluster(t, 2, redis.url)
  const topic = `hist:${uniqueId()}`
  let next = 0
  const proxy = await startProxy(() => nodes[next++ % 2]!.port)
  t.teardown(() => proxy.close())
  const socket = new Socket(`ws://127.0.0.1:${proxy.port}/ws`, { transport: WebSocket as any, reconnectAfterMs: () => 50 })
  t.teardown(() => socket.disconnect())
  const channel = socket.channel(topic, { user: 'u' })
  const got: number[] = []
  const recovered: any[] = []
  channel.on('m', (p: { n: number }) => got.push(p.n))
  channel.onRecover((info) => recovered.push(info))
  socket.connect()
  await new Promise((resolve) => channel.join().receive('ok', resolve))
  const pump = pumpFrom(t, nodes[0]!, topic)
  for (let cycle = 1; cycle <= 3; cycle++) {
    await eventually(() => got.length >= cycle * 20, 5000, `messages before cut ${cycle}`)
    proxy.cutAll()
    await eventually(() => recovered.length === cycle, 5000, `resume ${cycle}`)
  }
  await pump.stop()
  await eventually(() => got.at(-1) === pump.sent, 5000, 'the last one')
  t.same(recovered.map((r) => r.recovered), [true, true, true])
  t.ok([...proxy.counts.keys()].length === 2, 'both nodes served the client')
  t.ok(inOrderOnce(got, pump.sent), `1..${pump.sent} once each over three offline cycles`)
})

t.test('Redis restarted without persistence: a new epoch, and clients are told recovered: false', opts, async (t) => {
  const redis = await RedisServer.start(t)
  const nodes = await spawnCluster(t, 1, redis.url)
  const pool = clientPool(t)
  const topic = `hist:${uniqueId()}`
  const c = await nodes[0]!.client()
  pool.push(c)
  await c.join(topic, { user: 'u' })
  const first = (await c.waitFor((f) => f[3] === 'hb_history'))[4]
  t.match(await nodes[0]!.broadcast(topic, 'm', { n: 1 }), { ok: true })
  const before = await c.waitFor((f) => f[3] === 'm' && f[4].n === 1)

  await redis.stop()
  const failed = await nodes[0]!.broadcast(topic, 'm', { n: 'during' })
  t.match(failed, { ok: false }, 'a broadcast Redis cannot take fails, reported to the caller')
  t.ok((await nodes[0]!.stats()).hub.broadcastsFailed >= 1, 'and counted')
  await redis.start()
  await eventually(async () => (await nodes[0]!.stats()).adapter.connected, 10_000, 'reconnected')
  t.match(await nodes[0]!.broadcast(topic, 'm', { n: 2 }), { ok: true })
  // The live stream now carries another epoch: the subscriber is told first, then gets it.
  const lost = await c.waitFor((f) => f[3] === 'hb_history' && f[4].resumed === true, 5000, 'the epoch change notice')
  t.match(lost[4], { recovered: false, reason: 'unknown epoch' })
  const after = await c.waitFor((f) => f[3] === 'm' && f[4].n === 2)
  t.not(String(after[1]).split(':')[0], String(before[1]).split(':')[0], 'a new epoch')
  t.equal(c.events(topic, 'm').filter((f) => f[4].n === 'during').length, 0, 'the failed broadcast was never delivered')
  // A client resuming from the old epoch is told as well.
  const late = await nodes[0]!.client()
  pool.push(late)
  await late.join(topic, { user: 'v', hb_position: first.position })
  t.match((await late.waitFor((f) => f[3] === 'hb_history'))[4], { resumed: true, recovered: false, reason: 'unknown epoch' })
})
