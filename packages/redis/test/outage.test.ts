// A private redis-server goes away under three connected nodes and comes back on the same port:
// local delivery goes on during the outage, then the cluster heals (broadcasts cross nodes again,
// presence agrees everywhere, including changes made during the outage) and nothing crashed.
import t from 'tap'
import { eventually, type RawClient } from '../../../test/helpers/wire.js'
import { clientPool, clientPresence, inspector, numsub, RedisServer, spawnCluster, uniqueId } from './fixtures/cluster.js'

const DOWN_PERIOD_MS = 1500 // as in fixtures/node-server.mjs

t.test('Redis stops and starts again under a three-node cluster', async (t) => {
  const redisServer = await RedisServer.start(t)
  const nodes = await spawnCluster(t, 3, redisServer.url)
  const pool = clientPool(t)
  const topic = `room:${uniqueId()}`
  const channel = `hornbeam:topic:${topic}`

  // Two clients on node 0 (a and b), one each on nodes 1 and 2.
  const placement = [0, 0, 1, 2]
  const users = ['a', 'b', 'c', 'd']
  const clients: RawClient[] = []
  const joinRefs: string[] = []
  for (const [i, n] of placement.entries()) {
    const client = await nodes[n]!.client()
    pool.push(client)
    clients.push(client)
    const reply = await client.join(topic, { user: users[i] })
    t.equal(reply.status, 'ok')
    joinRefs.push(reply.joinRef)
  }
  const everyone = async (want: string[]) => {
    const lists = await Promise.all(nodes.map((node) => node.presenceKeys(topic)))
    return lists.every((keys) => keys.join() === want.join())
  }
  const redisBefore = inspector(t, redisServer.url)
  await eventually(async () => (await numsub(redisBefore, channel)) === 3, 3000, 'NUMSUB 3 before the outage')
  await eventually(() => everyone(['a', 'b', 'c', 'd']), 5000, 'presence before the outage')
  await redisBefore.quit()

  // -- the outage
  await redisServer.stop()
  t.comment('redis-server stopped')
  await eventually(async () => (await Promise.all(nodes.map((n) => n.stats()))).every((s) => !s.adapter.connected), 3000, 'every node saw the outage')

  // Local delivery still works: b hears a's broadcastFrom, an HTTP broadcast reaches node 0's clients.
  const said = await clients[0]!.push(joinRefs[0]!, topic, 'say', { during: 'outage' })
  t.equal(said.status, 'ok', 'a handler runs and replies during the outage')
  await clients[1]!.waitFor((f) => f[2] === topic && f[3] === 'said' && f[4].during === 'outage', 2000, 'local said')
  t.pass('b (same node) got a\'s message during the outage')
  await nodes[0]!.broadcast(topic, 'local', { during: 'outage' })
  await clients[0]!.waitFor((f) => f[3] === 'local', 2000, 'local broadcast to a')
  await clients[1]!.waitFor((f) => f[3] === 'local', 2000, 'local broadcast to b')
  t.pass('an HTTP broadcast reached node 0\'s own clients during the outage')
  // A presence change during the outage: b leaves on node 0, a newcomer joins on node 2.
  await clients[1]!.request(joinRefs[1]!, topic, 'hb_leave')
  const e = await nodes[2]!.client()
  pool.push(e)
  t.equal((await e.join(topic, { user: 'e' })).status, 'ok', 'joins work during the outage')
  t.same(await nodes[0]!.presenceKeys(topic), ['a', 'c', 'd'], 'node 0 saw b leave at once')

  // The split: every node marks the other two down once they have been silent for the down period.
  await eventually(async () => (await Promise.all(nodes.map((n) => n.stats()))).every((s) => s.hub.presence.downPeers === 2), DOWN_PERIOD_MS + 3000, 'every node marked the others down')
  t.same(await nodes[0]!.presenceKeys(topic), ['a'], 'split: node 0 sees only its own users')
  t.same(await nodes[2]!.presenceKeys(topic), ['d', 'e'], 'split: node 2 sees only its own users')
  const midStats = await nodes[0]!.stats()
  t.equal(midStats.adapter.connected, false, 'node 0 knows it is disconnected')
  t.ok(midStats.adapter.dropped > 0, `node 0 dropped (and counted) ${midStats.adapter.dropped} cluster messages`)
  t.equal(midStats.adapter.pendingPublishes, 0, 'nothing queued')

  // -- Redis is back, on the same port
  const restartedAt = Date.now()
  await redisServer.start()
  t.comment('redis-server started again')
  await eventually(async () => (await Promise.all(nodes.map((n) => n.stats()))).every((s) => s.adapter.connected), 5000, 'nodes reconnected')
  await eventually(() => everyone(['a', 'c', 'd', 'e']), 5000, 'presence healed on every node')
  t.comment(`healed ${Date.now() - restartedAt} ms after redis-server restarted`)
  for (const node of nodes) t.same(await node.presenceKeys(topic), ['a', 'c', 'd', 'e'], `node ${node.nodeId}: no ghost (b), no lost user (e)`)

  // Exactly the live topic channels are subscribed again: node 0 still serves the topic through a.
  const redisAfter = inspector(t, redisServer.url)
  await eventually(async () => (await numsub(redisAfter, channel)) === 3, 3000, 'NUMSUB 3 after the restart')
  const channels = (await redisAfter.call('PUBSUB', 'CHANNELS', 'hornbeam:*')) as string[]
  const expected = ['hornbeam:control', channel, ...nodes.map((n) => `hornbeam:node:${n.nodeId}`)]
  t.same(channels.sort(), expected.sort(), 'PUBSUB CHANNELS: control, the topic and the three node channels, nothing else')

  // Broadcasts cross nodes again, once each.
  const receivers = [clients[0]!, clients[2]!, clients[3]!, e]
  await nodes[1]!.broadcast(topic, 'after', { n: 1 })
  await eventually(() => receivers.every((c) => c.events(topic, 'after').length >= 1), 3000, 'broadcast after healing')
  await clients[2]!.push(joinRefs[2]!, topic, 'say', { from: 'c' })
  await eventually(() => [clients[0]!, clients[3]!, e].every((c) => c.events(topic, 'said').some((f) => f[4].from === 'c')), 3000, 'said after healing')
  // A marker from every node after those (Redis delivers a node's messages in the order it ran
  // them, a node its own in order): copies, or c hearing itself, would have come first.
  for (const node of nodes) await node.broadcast(topic, 'marker', { from: node.nodeId })
  const marked = (c: RawClient) => nodes.every((n) => c.events(topic, 'marker').some((f) => f[4].from === n.nodeId))
  await eventually(() => receivers.every(marked), 3000, 'a marker from every node on every receiver')
  for (const c of receivers) t.equal(c.events(topic, 'after').length, 1, 'one copy each')
  t.equal(clients[2]!.events(topic, 'said').filter((f) => f[4].from === 'c').length, 0, 'the sender did not hear itself')

  // And the clients' views converged too (presence_state + presence_diff).
  for (const c of receivers) {
    await eventually(() => clientPresence(c, topic).join() === 'a,c,d,e', 3000, 'client presence healed')
  }
  t.pass('every client\'s presence view is a, c, d, e')

  for (const [i, node] of nodes.entries()) {
    t.ok(node.alive, `node ${i} still runs`)
    t.equal(node.child.exitCode, null)
    t.equal(node.child.signalCode, null)
    const s = await node.stats()
    t.same(s.errors, [], `node ${i} logged no errors`)
    t.ok(s.adapter.reconnects >= 1, `node ${i} reconnected (${s.adapter.reconnects})`)
  }
})
