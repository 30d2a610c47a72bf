// Long-poll across nodes without sticky sessions: a request whose token names another node is
// relayed to it through the cluster adapter and served there. In process over a MemoryBus (the
// relay, its counters, what a gone or silent node's sessions get, secrets that differ), and two
// nodes over Redis behind an HTTP-aware proxy that sends every request to a node picked at random.
import t from 'tap'
import { createHmac } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'
// @ts-expect-error the phoenix package ships no types
import { Socket, LongPoll, Presence } from 'phoenix'
import { createHub, MemoryBus, memoryAdapter, type Hub, type HubOptions, type PubSubAdapter } from '@hornbeam/channels'
import { redisAdapter } from '@hornbeam/redis'
import { RawClient, eventually, quietLogger } from './helpers/wire.js'
import { LongPollClient } from './helpers/longpoll.js'
import { startHttpProxy } from './helpers/http-proxy.js'
import { defineChat } from './fixtures/chat.js'

interface Node {
  hub: Hub
  port: number
  endpoint: string
}

async function node(t: Tap.Test, adapter: PubSubAdapter, options: HubOptions = {}): Promise<Node> {
  const hub = createHub({ logger: quietLogger(), adapter, ...options })
  await hub.ready()
  const server = createServer((_req, res) => res.end('app'))
  hub.attach(server, { path: '/ws' })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await hub.close()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const port = (server.address() as AddressInfo).port
  return { hub, port, endpoint: `http://127.0.0.1:${port}/ws/longpoll` }
}

const quick = { pollTimeoutMs: 400, relayTimeoutMs: 300 }

function echo(hub: Hub) {
  hub.channel('room:*').on('echo', (p, s) => ['reply', p, s])
}

/** A long-poll client whose requests go to `other`'s endpoint, with a token for a session on `holder`. */
async function openOn(holder: Node, other: Node) {
  const lp = await LongPollClient.open(holder.endpoint)
  return { lp, relayed: LongPollClient.at(lp.endpoint.replace(`:${holder.port}/`, `:${other.port}/`), lp.token) }
}

t.test('MemoryBus: polls and sends for a session on A, sent to B, are relayed to A and served there', async (t) => {
  const bus = new MemoryBus()
  const a = await node(t, memoryAdapter({ bus }), { longPoll: quick })
  const b = await node(t, memoryAdapter({ bus }), { longPoll: quick })
  echo(a.hub)
  echo(b.hub)
  const { relayed } = await openOn(a, b)
  relayed.start()
  t.teardown(() => relayed.stop())
  const { joinRef } = await relayed.join('room:lobby')
  t.same(await relayed.request(joinRef, 'room:lobby', 'echo', { via: 'B' }), { status: 'ok', response: { via: 'B' } }, 'push and reply through B')
  // A WebSocket user on B broadcasts: A's session (polled through B) gets it.
  const ws = await RawClient.connect(`ws://127.0.0.1:${b.port}/ws/websocket`)
  t.teardown(() => ws.close())
  await ws.join('room:lobby')
  await b.hub.broadcast('room:lobby', 'news', { from: 'B' })
  await relayed.waitFor((f) => f[3] === 'news' && f[4].from === 'B', 3000, 'the broadcast, relayed back')
  await eventually(() => relayed.polls.includes(204), 3000, 'an empty poll, relayed')
  t.equal(a.hub.stats().longPollSessions, 1, 'the session is on A')
  t.equal(b.hub.stats().longPollSessions, 0)
  t.ok(b.hub.stats().longPollRelayed >= 4, `B relayed its requests (${b.hub.stats().longPollRelayed})`)
  t.equal(a.hub.stats().longPollRelayServed, b.hub.stats().longPollRelayed, 'A served each of them')
  t.equal(a.hub.stats().longPollRequests, 1, 'A itself got only the GET that opened the session')
  t.equal(b.hub.stats().longPollRelayFailed, 0)
})

t.test('MemoryBus: a relayed poll whose client went away is stopped on the holder; the next message waits for the next poll', async (t) => {
  // A long poll timeout: the abandoned poll would still wait on A when the message comes.
  const settings = { longPoll: { pollTimeoutMs: 30_000, relayTimeoutMs: 300 } }
  const bus = new MemoryBus()
  const a = await node(t, memoryAdapter({ bus }), settings)
  const b = await node(t, memoryAdapter({ bus }), settings)
  echo(a.hub)
  echo(b.hub)
  const { relayed } = await openOn(a, b)
  // Joined with one request at a time: after it, no poll of this client is on its way or waiting.
  const joinRef = relayed.nextRef()
  t.equal((await relayed.send([[joinRef, joinRef, 'room:lobby', 'phx_join', {}]])).status, 200)
  await relayed.pollUntil((f) => f[3] === 'hb_history', 3000, 'the join, through B')
  const served = a.hub.stats().longPollRelayServed
  const abort = new AbortController()
  const abandoned = relayed.poll(abort.signal).catch(() => 'aborted')
  await eventually(() => a.hub.stats().longPollRelayServed === served + 1, 3000, 'the poll, relayed, waiting on A')
  // The client gives up on its waiting poll (the page went away, a proxy cut it): B hears the close.
  abort.abort()
  t.equal(await abandoned, 'aborted')
  await eventually(() => a.hub.stats().longPollRelayCancelled === 1, 3000, 'the holder stopped the relayed poll')
  await a.hub.broadcast('room:lobby', 'news', { n: 1 })
  // Not taken by the abandoned poll: the client's next poll gets it.
  await relayed.pollUntil((f) => f[3] === 'news', 3000, 'the broadcast, on the next poll')
  t.equal(relayed.frames.filter((f) => f[3] === 'news').length, 1, 'once')
})

t.test('MemoryBus: a holder that does not answer: 500 while it is alive, 410 once it is down or gone', async (t) => {
  const bus = new MemoryBus()
  const adapterA = memoryAdapter({ bus })
  // Down well after a relayed request times out (300 ms), so "alive" still holds when it does.
  const presence = { heartbeatMs: 100, downPeriodMs: 1500 }
  const longPoll = { ...quick, secret: 'shared' }
  const a = await node(t, adapterA, { longPoll, presence })
  const b = await node(t, memoryAdapter({ bus }), { longPoll, presence })
  const { relayed } = await openOn(a, b)
  // A well-signed token naming a node nobody has heard of (gone before B started, say).
  const body = 'hblp1.nosuchnode.AAAAAAAAAAAAAAAAAAAAAA'
  const ghost = LongPollClient.at(relayed.endpoint, `${body}.${createHmac('sha256', 'shared').update(body).digest('base64url')}`)
  const unknown = await ghost.send([[null, '1', 'phoenix', 'heartbeat', {}]])
  t.same([unknown.http, unknown.status], [200, 410], 'no answer from a node nobody knows: 410, the client opens a new session')
  t.equal(b.hub.stats().longPollRelayFailed, 1)
  await eventually(() => b.hub.stats().presence.peers === 1, 3000, 'B knows A')
  adapterA.sever()
  const silent = await relayed.send([[null, '1', 'phoenix', 'heartbeat', {}]])
  t.same([silent.http, silent.status], [200, 500], 'A still counts as alive: 500, the client retries')
  await eventually(() => b.hub.stats().presence.downPeers === 1, 5000, 'B sees A down')
  const started = Date.now()
  const down = await relayed.poll()
  t.same([down.http, down.status], [200, 410], 'A is down: 410, the client opens a new session')
  t.ok(Date.now() - started < quick.relayTimeoutMs, 'at once, without waiting for the relay timeout')
  t.equal(b.hub.stats().longPollRelayFailed, 2, 'the unanswered ones are counted')
})

t.test('MemoryBus: nodes with different secrets refuse each other’s tokens (410); a cluster without a secret says so once', async (t) => {
  const bus = new MemoryBus()
  const lines: string[] = []
  const logger = { ...quietLogger(), warn: (_o: unknown, m?: string) => void lines.push(String(m)) }
  const a = await node(t, memoryAdapter({ bus }), { longPoll: { ...quick, secret: 'secret of A' } })
  const b = await node(t, memoryAdapter({ bus }), { longPoll: { ...quick, secret: 'secret of B' } })
  const { relayed } = await openOn(a, b)
  const answer = await relayed.poll()
  t.same([answer.http, answer.status], [200, 410], 'B cannot verify A’s token: 410')
  t.equal(b.hub.stats().longPollRelayed, 0, 'nothing was relayed')
  const hub = createHub({ adapter: memoryAdapter({ bus }), logger })
  t.teardown(() => hub.close())
  t.equal(lines.filter((line) => /longPoll\.secret/.test(line)).length, 1, 'one warning naming longPoll.secret')
})

t.test('Redis: two nodes behind a proxy that picks a node at random per request; the phoenix LongPoll user and a WebSocket user chat', async (t) => {
  if (!process.env.REDIS_URL) throw new Error('REDIS_URL is not set: start a private redis-server and set it (npm test does)')
  const keyPrefix = `hbtest:lp:${Date.now().toString(36)}:`
  const options: HubOptions = { longPoll: { secret: 'shared by both nodes', pollTimeoutMs: 500 } }
  const a = await node(t, redisAdapter({ url: process.env.REDIS_URL, keyPrefix }), options)
  const b = await node(t, redisAdapter({ url: process.env.REDIS_URL, keyPrefix }), options)
  defineChat(a.hub)
  defineChat(b.hub)
  const ports = [a.port, b.port]
  const proxy = await startHttpProxy({ pick: () => ports[Math.floor(Math.random() * 2)]! })
  t.teardown(() => proxy.close())
  await eventually(() => a.hub.stats().presence.peers === 1 && b.hub.stats().presence.peers === 1, 5000, 'the nodes know each other')

  const alice = new Socket(`ws://127.0.0.1:${proxy.port}/ws`, { transport: LongPoll, reconnectAfterMs: () => 100 })
  const bob = new Socket(`ws://127.0.0.1:${b.port}/ws`, { transport: WebSocket })
  const opened: string[] = []
  alice.onOpen(() => opened.push('open'))
  alice.connect()
  bob.connect()
  t.teardown(() => {
    alice.disconnect()
    bob.disconnect()
  })
  const join = (socket: any, username: string) => {
    const channel = socket.channel('room:lobby', { username })
    const presence = new Presence(channel)
    const msgs: any[] = []
    channel.on('new_msg', (p: any) => msgs.push(p))
    return { channel, msgs, users: () => presence.list((id: string) => id).sort(), joined: receive(channel.join()) }
  }
  const al = join(alice, 'alice')
  t.equal((await al.joined)[0], 'ok', 'alice joins over long-poll, through the proxy')
  const bo = join(bob, 'bob')
  t.equal((await bo.joined)[0], 'ok', 'bob joins over a WebSocket on B')
  await eventually(() => al.users().length === 2 && bo.users().length === 2, 5000, 'presence both ways, across nodes')
  t.same(await receive(al.channel.push('new_msg', { body: 'from long-poll' })), ['ok', { status: 'ok' }])
  await eventually(() => bo.msgs.length === 1, 5000, 'bob got alice’s message')
  t.same(await receive(bo.channel.push('new_msg', { body: 'from a WebSocket' })), ['ok', { status: 'ok' }])
  await eventually(() => al.msgs.length === 1, 5000, 'alice got bob’s message')
  t.same([al.msgs, bo.msgs], [[{ username: 'bob', body: 'from a WebSocket' }], [{ username: 'alice', body: 'from long-poll' }]], 'broadcastFrom both ways')

  // One session, served by both nodes: the one holding it, and the other, relaying to it.
  const holder = a.hub.stats().longPollSessions === 1 ? a : b
  const other = holder === a ? b : a
  t.equal(holder.hub.stats().longPollSessions + other.hub.stats().longPollSessions, 1, 'one long-poll session in the cluster')
  await eventually(() => other.hub.stats().longPollRelayed >= 3 && holder.hub.stats().longPollRequests >= 3, 10_000, 'requests reached both nodes')
  const [hs, os] = [holder.hub.stats(), other.hub.stats()]
  t.ok(hs.longPollRequests > 0 && os.longPollRequests > 0, `both nodes got requests of the session (holder ${hs.longPollRequests}, other ${os.longPollRequests})`)
  t.ok(hs.longPollRelayServed >= os.longPollRelayed - 2, `the holder served what the other relayed (${hs.longPollRelayServed} of ${os.longPollRelayed}; a poll and a send may be in flight)`)
  t.same(opened, ['open'], 'alice’s session never had to be reopened')
  t.equal(os.longPollRelayFailed, 0)
  t.ok((proxy.counts.get(a.port) ?? 0) > 0 && (proxy.counts.get(b.port) ?? 0) > 0, 'the proxy sent requests to both')

  t.equal((await receive(al.channel.leave()))[0], 'ok', 'alice leaves')
  await eventually(() => bo.users().length === 1, 5000, 'bob sees alice leave')
  t.same(bo.users(), ['user:bob'])
})

function receive(push: any): Promise<[string, any]> {
  return new Promise((resolve) => {
    push.receive('ok', (r: any) => resolve(['ok', r]))
    push.receive('error', (r: any) => resolve(['error', r]))
    push.receive('timeout', () => resolve(['timeout', null]))
  })
}
