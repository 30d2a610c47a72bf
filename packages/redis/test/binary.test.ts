// Binary payloads across nodes: two hubs on the Redis adapter (one private Redis, REDIS_URL).
// Bytes broadcast on one node reach the other's phoenix v2 sockets as binary frames and its
// hornbeam sockets in their JSON form, on a topic with the shared history (Redis Streams) and
// on one without (plain pub/sub); a resume on the other node replays them as binary frames.
import t from 'tap'
import { redisAdapter } from '@hornbeam/redis'
import { RawClient, startServer } from '../../../test/helpers/wire.js'
import { REDIS_URL, uniqueId } from './fixtures/cluster.js'

const bytes = Buffer.from([0, 1, 2, 250, 255])
const base64 = bytes.toString('base64')

async function twoNodes(t: Tap.Test) {
  const keyPrefix = `hbtest:${uniqueId()}:`
  const nodes = []
  for (let i = 0; i < 2; i++) {
    const srv = await startServer({ adapter: redisAdapter({ url: REDIS_URL, keyPrefix }) })
    t.teardown(srv.close)
    await srv.hub.ready()
    const room = srv.hub.channel('room:*')
    // Bytes pushed here go to everyone else, on every node.
    room.on('share', (payload, socket) => (socket.broadcastFrom('frame', payload), ['reply', { ok: true }, socket]))
    srv.hub.channel('live:*', { history: false })
    nodes.push(srv)
  }
  return nodes as [Awaited<ReturnType<typeof startServer>>, Awaited<ReturnType<typeof startServer>>]
}

async function clients(t: Tap.Test, url: string, topic: string, history: boolean) {
  const v2 = await RawClient.connect(url + '?vsn=2.0.0', 'phoenix')
  const hb = await RawClient.connect(url)
  t.teardown(() => Promise.all([v2.close(), hb.close()]))
  for (const c of [v2, hb]) {
    await c.join(topic)
    // With history the join's hb_history comes once this node hears the topic from Redis.
    if (history) await c.waitFor((f) => f[3] === 'hb_history')
  }
  return { v2, hb }
}

t.test('a binary broadcast crosses nodes: bytes to v2 sockets, the JSON form to hornbeam ones', async (t) => {
  const [a, b] = await twoNodes(t)
  for (const [topic, history] of [[`room:${uniqueId()}`, true], [`live:${uniqueId()}`, false]] as const) {
    const there = await clients(t, b.url(), topic, history)
    if (!history) await b.hub.adapter.whenSubscribed!(`topic:${topic}`)
    const result = await a.hub.broadcast(topic, 'frame', bytes)
    t.equal(result.ok, true, `${topic}: broadcast taken`)
    const got = await there.v2.waitFor((f) => f[3] === 'frame')
    t.ok(there.v2.binary.has(got), `${topic}: v2 on the other node gets a binary frame`)
    t.same(got[4], bytes, `${topic}: the same bytes`)
    t.same((await there.hb.waitFor((f) => f[3] === 'frame'))[4], { hb_binary: base64 }, `${topic}: hornbeam gets the JSON form`)
  }
})

t.test('bytes pushed on one node, broadcastFrom to the other; a resume there replays them as binary', async (t) => {
  const [a, b] = await twoNodes(t)
  const topic = `room:${uniqueId()}`
  const sender = await RawClient.connect(a.url() + '?vsn=2.0.0', 'phoenix')
  t.teardown(() => sender.close())
  const { joinRef } = await sender.join(topic)
  await sender.waitFor((f) => f[3] === 'hb_history')
  const there = await clients(t, b.url(), topic, true)
  const start = there.v2.events(topic, 'hb_history')[0]![4].position as string
  t.same(await sender.requestBinary(joinRef, topic, 'share', bytes), { status: 'ok', response: { ok: true } })
  t.same((await there.v2.waitFor((f) => f[3] === 'frame'))[4], bytes, 'live, binary, on the other node')
  // A new v2 socket on node a resumes from before the broadcast: the replay (read from Redis) is binary.
  const late = await RawClient.connect(a.url() + '?vsn=2.0.0', 'phoenix')
  t.teardown(() => late.close())
  await late.join(topic, { hb_position: start })
  const replayed = await late.waitFor((f) => f[3] === 'frame')
  t.ok(late.binary.has(replayed), 'the replay is a binary frame')
  t.same(replayed[4], bytes)
  t.match((await late.waitFor((f) => f[3] === 'hb_history'))[4], { resumed: true, recovered: true, replayed: 1 })
})
