// The client against a real hub and HTTP server, with `ws` as the transport (Node 20).
import t from 'tap'
import WebSocket from 'ws'
import { Presence, Socket, type Channel, type SocketOptions } from '@hornbeam/client'
import { startChat, waitFor } from './fixtures/server.js'

interface Client {
  username: string
  socket: Socket
  channel: Channel
  presence: Presence
  events: string[]
  joinOks: number
  users(): string[]
  refs(): string[]
}

/** A client as the seed writes it: socket, channel, presence with the seed's callbacks, join. */
function client(url: string, username: string, options: SocketOptions = {}, graceMs?: number): Client {
  // The restart window is tested on its own (socket.test.ts): here a restart reconnects at once.
  const socket = new Socket(url, { transport: WebSocket, params: { token: 'demo' }, reconnectAfterMs: () => 50, restartWindowMs: 0, ...options })
  const channel = socket.channel('room:lobby', { username })
  const presence = new Presence(channel, graceMs === undefined ? {} : { rejoinGraceMs: graceMs })
  const c: Client = {
    username,
    socket,
    channel,
    presence,
    events: [],
    joinOks: 0,
    users: () => presence.list((id, { metas }) => metas[0]!.username as string).sort(),
    refs: () => presence.list((id, { metas }) => metas.map((m) => m.hb_ref!)).flat().sort(),
  }
  presence.onJoin((id, current, newPres) => c.events.push(`join ${id}${current ? ' (another meta)' : ''}`))
  presence.onLeave((id, current, leftPres) => c.events.push(`leave ${id}${current.metas.length ? ' (a meta)' : ''}`))
  channel.join().receive('ok', () => c.joinOks++)
  socket.connect()
  return c
}

t.test('join, push with reply, broadcast between two clients', async (t) => {
  const srv = await startChat()
  const alice = client(srv.url, 'alice')
  const bob = client(srv.url, 'bob')
  t.teardown(async () => {
    alice.socket.disconnect()
    bob.socket.disconnect()
    await srv.close()
  })
  await waitFor(() => alice.channel.state === 'joined' && bob.channel.state === 'joined', 'both joined')

  const received: unknown[] = []
  bob.channel.on('new_msg', (payload) => received.push(payload))
  const mine: unknown[] = []
  alice.channel.on('new_msg', (payload) => mine.push(payload))

  const reply = await new Promise((resolve, reject) => {
    alice.channel.push('new_msg', { body: 'hello bob' }).receive('ok', resolve).receive('error', reject).receive('timeout', reject)
  })
  t.same(reply, { status: 'ok' }, "the seed's reply")
  await waitFor(() => received.length === 1, 'bob gets the message')
  t.same(received, [{ username: 'alice', body: 'hello bob' }])

  const refused = await new Promise((resolve) => alice.channel.push('new_msg', { body: '' }).receive('error', resolve))
  t.same(refused, { status: 'error', reason: 'empty message' })

  const unknown = await new Promise((resolve) => alice.channel.push('no_such_event', {}).receive('error', resolve))
  t.match(unknown, { reason: /no handler/ })
  // A marker the hub broadcasts now reaches alice after any echo of her message would have.
  const marked = new Promise((resolve) => alice.channel.on('marker', resolve))
  srv.hub.broadcast('room:lobby', 'marker', {})
  await marked
  t.same(mine, [], 'broadcastFrom does not echo to the sender')
})

t.test('presence: both clients see each other, onJoin and onLeave fire once each', async (t) => {
  const srv = await startChat()
  const alice = client(srv.url, 'alice')
  t.teardown(async () => {
    alice.socket.disconnect()
    await srv.close()
  })
  await waitFor(() => alice.users().length === 1, 'alice sees herself')
  const bob = client(srv.url, 'bob')
  t.teardown(() => bob.socket.disconnect())
  await waitFor(() => alice.users().length === 2 && bob.users().length === 2, 'both see both')
  t.same(alice.users(), ['alice', 'bob'])
  t.same(bob.users(), ['alice', 'bob'])
  t.same(alice.events, ['join user:alice', 'join user:bob'])
  t.same(bob.events.sort(), ['join user:alice', 'join user:bob'])
  t.same(alice.refs(), Object.values(srv.hub.presence('room:lobby').list()).flatMap((p) => p.metas.map((m) => m.hb_ref)).sort(), 'the same hb_refs as the server')

  const left = await new Promise((resolve) => bob.channel.leave().receive('ok', () => resolve(true)))
  t.ok(left)
  await waitFor(() => alice.users().length === 1, 'alice sees bob leave')
  t.same(alice.events, ['join user:alice', 'join user:bob', 'leave user:bob'])
})

t.test("a refused join reports the server's reason", async (t) => {
  const srv = await startChat()
  const socket = new Socket(srv.url, { transport: WebSocket })
  t.teardown(async () => {
    socket.disconnect()
    await srv.close()
  })
  const channel = socket.channel('room:lobby', {})
  socket.connect()
  const resp = await new Promise<any>((resolve) => channel.join().receive('error', resolve))
  t.same(resp, { reason: 'username required' })
  t.equal(channel.state, 'errored')
  const unmatched = socket.channel('nowhere:1', { username: 'x' })
  const resp2 = await new Promise<any>((resolve) => unmatched.join().receive('error', resolve))
  t.same(resp2, { reason: 'unmatched topic' })
})

t.test('the server restarts on the same port: everyone reconnects, rejoins, and presence stays right', async (t) => {
  let srv = await startChat()
  const port = srv.port
  const grace = 800
  const alice = client(srv.url, 'alice', {}, grace)
  const bob = client(srv.url, 'bob', {}, grace)
  const carol = client(srv.url, 'carol', {}, grace)
  const all = [alice, bob, carol]
  t.teardown(async () => {
    for (const c of all) c.socket.disconnect()
    await srv.close()
  })
  await waitFor(() => all.every((c) => c.users().length === 3), 'everyone sees everyone')
  const refsBefore = alice.refs()
  for (const c of all) c.events.length = 0
  const opens = all.map(() => 0)
  all.forEach((c, i) => c.socket.onOpen(() => opens[i]!++))
  const closes = all.map(() => 0)
  all.forEach((c, i) => c.socket.onClose(() => closes[i]!++))
  const pushesWhileDown: Array<Promise<unknown>> = []

  await srv.close()
  await waitFor(() => all.every((c) => c.channel.state === 'errored'), 'channels errored')
  // carol gives up while the server is down; alice pushes a message that waits for the rejoin.
  carol.socket.disconnect()
  pushesWhileDown.push(new Promise((resolve) => alice.channel.push('new_msg', { body: 'sent while down' }, 5000).receive('ok', resolve)))
  // A few failed reconnects: the close of the server's shutdown, then two refused attempts each.
  await waitFor(() => closes[0]! >= 3 && closes[1]! >= 3, 'alice and bob failed to reconnect twice')
  srv = await startChat(port)

  await waitFor(() => alice.joinOks === 2 && bob.joinOks === 2, 'alice and bob rejoined')
  t.same(opens, [1, 1, 0], 'alice and bob reconnected once; carol did not')
  t.same(await Promise.all(pushesWhileDown), [{ status: 'ok' }], 'the push made while the server was down was answered after the rejoin')

  const serverRefs = () => Object.values(srv.hub.presence('room:lobby').list()).flatMap((p) => p.metas.map((m) => m.hb_ref!)).sort()
  await waitFor(() => serverRefs().length === 2, 'the new server tracks alice and bob')
  // Within the grace period carol is still listed: she might be on her way back.
  for (const c of [alice, bob]) {
    t.same(c.events, [], `${c.username}: no onJoin and no onLeave for users who never left`)
  }
  await waitFor(() => alice.users().length === 2 && bob.users().length === 2, 'carol leaves after the grace period', grace + 2000)
  for (const c of [alice, bob]) {
    t.same(c.users(), ['alice', 'bob'], `${c.username} lists alice and bob`)
    t.same(c.refs(), serverRefs(), `${c.username} holds the new server's hb_refs`)
    t.same(c.events, ['leave user:carol'], `${c.username}: the only event is carol, who really left`)
  }
  t.notSame(alice.refs(), refsBefore.filter((r) => !r.includes('carol')), 'every ref changed')

  // And the channel works as before.
  const reply = await new Promise((resolve) => bob.channel.push('new_msg', { body: 'back' }).receive('ok', resolve))
  t.same(reply, { status: 'ok' })
})

t.test('a heartbeat the server never answers reconnects (server frozen, TCP up)', async (t) => {
  const tcp: Array<import('node:net').Socket> = []
  const srv = await startChat(0, { connect: (_params, request) => void tcp.push(request.socket) })
  // Each heartbeat goes out only once the one before was answered (or the socket would close).
  let heartbeats = 0
  const logger = (kind: string, msg: string) => void (kind === 'push' && / heartbeat /.test(msg) && heartbeats++)
  const socket = new Socket(srv.url, { transport: WebSocket, heartbeatIntervalMs: 100, reconnectAfterMs: () => 20, logger })
  const closes: number[] = []
  socket.onClose((e) => closes.push(e.code))
  let opens = 0
  socket.onOpen(() => opens++)
  t.teardown(async () => {
    socket.disconnect()
    await srv.close()
  })
  socket.connect()
  await waitFor(() => opens === 1, 'open')
  await waitFor(() => heartbeats >= 4, 'three heartbeats answered')
  t.same(closes, [], 'answered heartbeats keep the connection')
  // Freeze: the server stops reading this connection from now on.
  for (const socket of tcp) socket.pause()
  await waitFor(() => closes.length === 1, 'the heartbeat times out', 2000)
  t.same(closes, [4000])
  await waitFor(() => opens === 2, 'reconnected')
})
