// Three node processes against the shared Redis, a client on each: broadcasts, broadcastFrom,
// presence convergence, per-topic subscriptions (PUBSUB NUMSUB), and a SIGKILLed node's presences
// leaving the survivors within the down period.
import t from 'tap'
import { eventually, type RawClient } from '../../../test/helpers/wire.js'
import { clientPool, clientPresence, inspector, numsub, spawnCluster, uniqueId } from './fixtures/cluster.js'

const DOWN_PERIOD_MS = 1500 // as in fixtures/node-server.mjs

t.test('three nodes, one Redis', async (t) => {
  const run = uniqueId()
  const topic = `room:${run}`
  const channel = `hornbeam:topic:${topic}`
  const redis = inspector(t)
  const nodes = await spawnCluster(t, 3)
  const pool = clientPool(t)
  const clients: RawClient[] = []
  const joins: string[] = []
  for (const [i, node] of nodes.entries()) {
    const client = await node.client()
    pool.push(client)
    clients.push(client)
    const reply = await client.join(topic, { user: `u${i}` })
    t.equal(reply.status, 'ok', `u${i} joined on node ${i}`)
    t.equal(reply.response.node, node.nodeId)
    joins.push(reply.joinRef)
  }

  // A marker from every node, waited for by every client: Redis delivers each node's messages
  // in the order it ran the PUBLISHes, and a node delivers to its own clients in order, so every
  // earlier message to these clients (a duplicate, an echo, a skipped sender) has arrived.
  let markers = 0
  const markerFromEveryNode = async () => {
    const round = ++markers
    for (const node of nodes) await node.broadcast(topic, 'marker', { round, from: node.nodeId })
    const got = (c: RawClient, from: string) => c.events(topic, 'marker').some((f) => f[4].round === round && f[4].from === from)
    await eventually(() => clients.every((c) => nodes.every((n) => got(c, n.nodeId))), 3000, `markers of round ${round}`)
  }

  await t.test('the topic channel has one subscriber per serving node', async (t) => {
    await eventually(async () => (await numsub(redis, channel)) === 3, 3000, 'NUMSUB 3')
    t.equal(await numsub(redis, channel), 3)
    for (const node of nodes) t.ok((await node.stats()).subscriptions.includes(`topic:${topic}`))
  })

  await t.test('presence converges on all three nodes', async (t) => {
    const want = ['u0', 'u1', 'u2']
    await eventually(async () => {
      const lists = await Promise.all(nodes.map((n) => n.presenceKeys(topic)))
      return lists.every((keys) => keys.join() === want.join())
    }, 5000, 'presence on every node')
    for (const node of nodes) t.same(await node.presenceKeys(topic), want, `node ${node.nodeId} sees everyone`)
    // And the clients' own view, built from presence_state + presence_diff, agrees.
    for (const client of clients) {
      await eventually(() => clientPresence(client, topic).join() === want.join(), 3000, 'client presence')
    }
    t.pass('every client sees u0, u1, u2')
  })

  await t.test('a broadcast from any node reaches every subscriber exactly once', async (t) => {
    for (const [i, node] of nodes.entries()) await node.broadcast(topic, 'news', { from: i, run })
    await eventually(() => clients.every((c) => c.events(topic, 'news').length >= 3), 3000, 'three news each')
    await markerFromEveryNode() // duplicates, if there were any, came before
    for (const [i, client] of clients.entries()) {
      const got = client.events(topic, 'news').map((f) => f[4].from)
      t.same(got, [0, 1, 2], `client ${i} got each broadcast once, in order`)
    }
  })

  await t.test('broadcastFrom skips only its sender, on every node', async (t) => {
    for (const [i, client] of clients.entries()) {
      const reply = await client.push(joins[i]!, topic, 'say', { from: i })
      t.equal(reply.status, 'ok')
    }
    await eventually(() => clients.every((c) => c.events(topic, 'said').length >= 2), 3000, 'two said each')
    await markerFromEveryNode() // a copy for a sender, or a second one, came before
    for (const [i, client] of clients.entries()) {
      const from = client.events(topic, 'said').map((f) => f[4].from).sort()
      t.same(from, [0, 1, 2].filter((j) => j !== i), `client ${i} heard the other two, not itself, once each`)
    }
  })

  await t.test('a topic reaches only the nodes that serve it', async (t) => {
    const lonely = `room:${run}-lonely`
    const lonelyChannel = `hornbeam:topic:${lonely}`
    const c = await nodes[0]!.client()
    pool.push(c)
    const { joinRef } = await c.join(lonely, { user: 'solo' })
    await eventually(async () => (await numsub(redis, lonelyChannel)) === 1, 3000, 'NUMSUB 1')
    const before = await Promise.all(nodes.map((n) => n.stats()))
    // Published from node 1 (which does not serve it): only node 0 is subscribed.
    await nodes[1]!.broadcast(lonely, 'ping', { n: 1 })
    await c.waitFor((f) => f[2] === lonely && f[3] === 'ping', 3000, 'ping on node 0')
    const after = await Promise.all(nodes.map((n) => n.stats()))
    t.equal(await numsub(redis, lonelyChannel), 1, 'exactly one subscriber: the one node serving it')
    t.notOk(after[1].subscriptions.includes(`topic:${lonely}`), 'node 1 is not subscribed')
    t.notOk(after[2].subscriptions.includes(`topic:${lonely}`), 'node 2 is not subscribed')
    // Heartbeats and deltas flow on `control` meanwhile, so compare what was received beyond them:
    // node 2 got no broadcast message (its hub counted no frames for the lonely topic).
    t.equal(after[2].hub.topics[lonely], undefined, 'node 2 has no local subscriber')
    t.ok(after[0].adapter.received > before[0].adapter.received, 'node 0 received it')
    const channels = (await redis.call('PUBSUB', 'CHANNELS', `hornbeam:topic:room:${run}*`)) as string[]
    t.same(channels.sort(), [channel, lonelyChannel].sort(), 'PUBSUB CHANNELS lists the two live topics')
    await c.request(joinRef, lonely, 'hb_leave')
    await eventually(async () => (await numsub(redis, lonelyChannel)) === 0, 3000, 'NUMSUB back to 0')
    t.pass('the last leave unsubscribed the node')
  })

  await t.test('a node killed with SIGKILL leaves the others within the down period', async (t) => {
    const victim = nodes[2]!
    await victim.kill('SIGKILL')
    const killedAt = Date.now()
    await eventually(async () => {
      const lists = await Promise.all(nodes.slice(0, 2).map((n) => n.presenceKeys(topic)))
      return lists.every((keys) => keys.join() === 'u0,u1')
    }, DOWN_PERIOD_MS + 3000, 'u2 gone on nodes 0 and 1')
    t.comment(`u2 left the survivors ${Date.now() - killedAt} ms after SIGKILL (down period ${DOWN_PERIOD_MS} ms)`)
    // Why: each survivor marked the dead node down (no goodbye from a SIGKILL), once it had been
    // silent past the down period, as the survivor itself measured (logged in /stats).
    for (const [i, node] of nodes.slice(0, 2).entries()) {
      const stats = await node.stats()
      t.match(stats.hub.presence, { downPeers: 1 }, `node ${i} holds the dead node as a down peer`)
      const down = stats.downs.filter((d: { replica: string }) => d.replica === victim.nodeId).at(-1)
      t.ok(down?.silentMs > DOWN_PERIOD_MS, `node ${i}: after ${down?.silentMs} ms of silence, more than the down period`)
    }
    for (const client of clients.slice(0, 2)) {
      await eventually(() => clientPresence(client, topic).join() === 'u0,u1', 2000, 'clients saw u2 leave')
    }
    t.pass('the clients on the survivors got the presence_diff')
    // Redis dropped the dead node's subscriber connection with its socket.
    await eventually(async () => (await numsub(redis, channel)) === 2, 3000, 'NUMSUB 2')
  })

  await t.test('when every client leaves, no node is subscribed to the topic', async (t) => {
    for (const [i, client] of clients.slice(0, 2).entries()) await client.request(joins[i]!, topic, 'hb_leave')
    await eventually(async () => (await numsub(redis, channel)) === 0, 3000, 'NUMSUB 0')
    t.equal(await numsub(redis, channel), 0)
    t.ok(nodes[0]!.alive && nodes[1]!.alive, 'the survivors still run')
  })
})
