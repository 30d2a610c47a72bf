// Cluster mode over the wire, against the local Redis Cluster `npm test` starts (3 masters, 3
// replicas): two nodes of ours, a user on each, 20 topics spread over the three masters.
// Sharded channels only on the owning master (PUBSUB SHARDCHANNELS / SHARDNUMSUB), no per-topic
// plain channel (PUBSUB CHANNELS), cross-node broadcast and presence on every topic, a topic's
// history in its own slot, the spread of 1,000 topics, and a SIGKILLed node leaving presence.
import t from 'tap'
import { slotOf } from '@hornbeam/redis'
import { eventually, type RawClient } from '../../../test/helpers/wire.js'
import { clientPool, clientPresence, spawnCluster, uniqueId } from './fixtures/cluster.js'
import { clusterInspector, redisClusterSeeds } from './fixtures/redis-cluster.js'

const DOWN_PERIOD_MS = 1500 // as in fixtures/node-server.mjs
const opts = { timeout: 90_000 }

t.test('two nodes on a Redis Cluster, 20 topics over three masters', opts, async (t) => {
  const seeds = redisClusterSeeds()
  const inspect = await clusterInspector(t, seeds)
  const masters = (await inspect.masters()).map((m) => `${m.options.host}:${m.options.port}`)
  t.equal(masters.length, 3, `three masters (${masters.join(', ')})`)
  const run = uniqueId()
  const channelOf = (topic: string) => `hornbeam:topic:{${topic}}`
  const ownerOf = (topic: string) => inspect.cluster.slots[slotOf(channelOf(topic))]![0]!
  // 20 topics, at least 6 on each master (picked by their slots, so every shard is in the test).
  const topics: string[] = []
  const perMaster = new Map<string, number>()
  for (let i = 0; topics.length < 20; i++) {
    const topic = `room:${run}-${i}`
    const owner = ownerOf(topic)
    if ((perMaster.get(owner) ?? 0) >= 7) continue
    perMaster.set(owner, (perMaster.get(owner) ?? 0) + 1)
    topics.push(topic)
  }
  const nodes = await spawnCluster(t, 2, { cluster: seeds })
  const pool = clientPool(t)
  const clients: RawClient[] = []
  const joins = new Map<string, string>() // `${client}:${topic}` → joinRef
  for (const [i, node] of nodes.entries()) {
    const client = await node.client()
    pool.push(client)
    clients.push(client)
    for (const topic of topics) {
      const reply = await client.join(topic, { user: `u${i}` })
      if (reply.status !== 'ok') t.fail(`u${i} could not join ${topic}`)
      joins.set(`${i}:${topic}`, reply.joinRef)
    }
  }

  await t.test('topic channels are sharded channels on their own master, with both nodes subscribed', async (t) => {
    for (const topic of topics) await eventually(async () => (await inspect.shardNumsub(channelOf(topic))) === 2, 10_000, `SHARDNUMSUB 2 for ${topic}`)
    t.pass('SHARDNUMSUB counts both nodes on each of the 20 topics')
    const listed = await inspect.shardChannels(`hornbeam:topic:{room:${run}-*`)
    for (const master of masters) {
      const want = topics.filter((topic) => ownerOf(topic) === master).map(channelOf).sort()
      t.ok(want.length >= 6, `${master} owns ${want.length} of the topics`)
      t.same(listed.get(master), want, `PUBSUB SHARDCHANNELS on ${master} lists exactly its topics`)
    }
    t.same(await inspect.plainChannels('hornbeam:topic:*'), [], 'PUBSUB CHANNELS: no per-topic plain channel on any node of the cluster')
    const plain = await inspect.plainChannels('hornbeam:*')
    t.ok(plain.includes('hornbeam:control'), 'control is plain pub/sub')
    for (const node of nodes) t.ok(plain.includes(`hornbeam:node:${node.nodeId}`), `node:${node.nodeId} is plain pub/sub`)
  })

  await t.test('presence converges on both nodes, on every topic', async (t) => {
    for (const topic of topics) {
      await eventually(async () => {
        const lists = await Promise.all(nodes.map((n) => n.presenceKeys(topic)))
        return lists.every((keys) => keys.join() === 'u0,u1')
      }, 10_000, `presence on ${topic}`)
      for (const client of clients) await eventually(() => clientPresence(client, topic).join() === 'u0,u1', 5000, `client presence on ${topic}`)
    }
    t.pass('both nodes and both clients see u0 and u1 on all 20 topics')
  })

  await t.test('broadcasts from both nodes reach both users on every topic, once each, in order', async (t) => {
    for (let n = 1; n <= 3; n++) for (const topic of topics) for (const [i, node] of nodes.entries()) await node.broadcast(topic, 'news', { from: i, n })
    const sequence = (c: RawClient, topic: string, from: number) => c.events(topic, 'news').filter((f) => f[4].from === from).map((f) => f[4].n)
    const done = () => clients.every((c) => topics.every((topic) => [0, 1].every((from) => sequence(c, topic, from).length >= 3)))
    await eventually(done, 15_000, 'three news from each node on each topic at each client')
    // One more round of markers: anything duplicated would have come before them.
    for (const topic of topics) for (const node of nodes) await node.broadcast(topic, 'marker', {})
    await eventually(() => clients.every((c) => topics.every((topic) => c.events(topic, 'marker').length >= 2)), 15_000, 'markers')
    for (const [ci, c] of clients.entries()) {
      const wrong = topics.filter((topic) => [0, 1].some((from) => sequence(c, topic, from).join() !== '1,2,3'))
      t.same(wrong, [], `client ${ci}: 1,2,3 from each node on all 20 topics, nothing duplicated or reordered`)
    }
  })

  await t.test("a topic's history lives in the topic's slot; a client resumes on the other node", async (t) => {
    const topic = `hist:${run}`
    const stream = `hornbeam:history:{${topic}}`
    t.equal(slotOf(stream), slotOf(channelOf(topic)), 'stream and channel share the slot')
    t.equal(slotOf(`${stream}:meta`), slotOf(channelOf(topic)), 'and so does the counter')
    const a = await nodes[0]!.client()
    pool.push(a)
    await a.join(topic, { user: 'h' })
    const notice = (await a.waitFor((f) => f[3] === 'hb_history'))[4]
    for (let n = 1; n <= 3; n++) t.match(await nodes[1]!.broadcast(topic, 'm', { n }), { ok: true }, `broadcast ${n} positioned`)
    await eventually(() => a.events(topic, 'm').length === 3, 10_000, 'three on node 0')
    const first = a.events(topic, 'm')[0]!
    const owner = inspect.cluster.nodes('master').find((m) => `${m.options.host}:${m.options.port}` === ownerOf(topic))!
    t.equal(Number(await owner.call('XLEN', stream)), 3, "the stream is on the topic's master, three entries")
    a.ws.terminate()
    const b = await nodes[1]!.client()
    pool.push(b)
    await b.join(topic, { user: 'h', hb_position: first[1], hb_previous: notice.connection })
    const resumed = (await b.waitFor((f) => f[3] === 'hb_history'))[4]
    t.match(resumed, { resumed: true, recovered: true }, 'recovered on node 1')
    await eventually(() => b.events(topic, 'm').length === 2, 10_000, 'the two missed')
    t.same(b.events(topic, 'm').map((f) => f[4].n), [2, 3], 'the two it missed, once, in order')
  })

  await t.test('1,000 topics spread evenly over the three masters', async (t) => {
    const counts = new Map<string, number>(masters.map((m) => [m, 0]))
    for (let i = 0; i < 1000; i++) {
      const owner = ownerOf(`room:${i}`)
      counts.set(owner, (counts.get(owner) ?? 0) + 1)
    }
    t.comment(`topics per master: ${[...counts].map(([m, n]) => `${m} ${n}`).join(', ')}`)
    for (const [master, n] of counts) t.ok(n <= 1.5 * (1000 / 3), `${master}: ${n} topics, at most 1.5x its share (500)`)
  })

  await t.test('a node killed with SIGKILL leaves the other node, on every topic, within the down period', async (t) => {
    await nodes[1]!.kill('SIGKILL')
    const killedAt = Date.now()
    for (const topic of topics) await eventually(async () => (await nodes[0]!.presenceKeys(topic)).join() === 'u0', DOWN_PERIOD_MS + 5000, `u1 gone on ${topic}`)
    t.comment(`u1 left every topic on node 0 ${Date.now() - killedAt} ms after SIGKILL (down period ${DOWN_PERIOD_MS} ms)`)
    const stats = await nodes[0]!.stats()
    const down = stats.downs.filter((d: { replica: string }) => d.replica === nodes[1]!.nodeId).at(-1)
    t.ok(down?.silentMs > DOWN_PERIOD_MS, `node 0 marked it down after ${down?.silentMs} ms of silence`)
    for (const topic of topics) await eventually(async () => (await inspect.shardNumsub(channelOf(topic))) === 1, 10_000, `SHARDNUMSUB 1 for ${topic}`)
    t.pass("the dead node's shard subscriptions went with its connections")
  })

  await t.test('when every client leaves, no node is subscribed to any topic', async (t) => {
    for (const topic of topics) await clients[0]!.request(joins.get(`0:${topic}`)!, topic, 'hb_leave')
    for (const topic of topics) await eventually(async () => (await inspect.shardNumsub(channelOf(topic))) === 0, 10_000, `SHARDNUMSUB 0 for ${topic}`)
    t.pass('SHARDNUMSUB 0 on all 20 topics')
  })
})
