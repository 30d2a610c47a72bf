// The official `phoenix` npm client, unchanged, with `transport: LongPoll` in Node (Node 20's
// fetch and AbortController are what its Ajax uses there), running the seed's chat with a user on
// a WebSocket: join, push and reply, broadcastFrom both ways, presence both ways, leave.
import t from 'tap'
import WebSocket from 'ws'
// @ts-expect-error the phoenix package ships no types
import { Socket, LongPoll, Presence } from 'phoenix'
import { startServer, eventually } from './helpers/wire.js'
import { defineChat } from './fixtures/chat.js'

function receive(push: any): Promise<[string, any]> {
  return new Promise((resolve) => {
    push.receive('ok', (r: any) => resolve(['ok', r]))
    push.receive('error', (r: any) => resolve(['error', r]))
    push.receive('timeout', () => resolve(['timeout', null]))
  })
}

function watch(channel: any) {
  const presence = new Presence(channel)
  const msgs: any[] = []
  channel.on('new_msg', (p: any) => msgs.push(p))
  return { presence, msgs, users: () => presence.list((id: string) => id).sort() }
}

t.test('phoenix.js LongPoll in Node: the seed chat with a WebSocket user', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  const left: string[] = []
  defineChat(srv.hub, left)
  const url = `ws://127.0.0.1:${srv.port}/ws`
  const transports: string[] = []
  const alice = new Socket(url, { transport: LongPoll, reconnectAfterMs: () => 100 })
  alice.onOpen(() => transports.push(alice.transportName(alice.transport)))
  const bob = new Socket(url, { transport: WebSocket, heartbeatIntervalMs: 500 })
  alice.connect()
  bob.connect()
  t.teardown(() => {
    alice.disconnect()
    bob.disconnect()
  })

  t.same(await receive(alice.channel('room:lobby', {}).join()), ['error', { reason: 'username required' }], 'a join refused over long-poll')
  const aliceCh = alice.channel('room:lobby', { username: 'alice' })
  const a = watch(aliceCh)
  t.same(await receive(aliceCh.join()), ['ok', { room_id: 'lobby', message: 'Welcome to lobby!' }], 'alice joins over long-poll')
  t.same(transports, ['LongPoll'])
  t.equal(srv.hub.stats().longPollSessions, 1)

  const bobCh = bob.channel('room:lobby', { username: 'bob' })
  const b = watch(bobCh)
  t.equal((await receive(bobCh.join()))[0], 'ok', 'bob joins over a WebSocket')

  await eventually(() => a.users().length === 2 && b.users().length === 2, 5000, 'presence both ways')
  t.same(a.users(), ['user:alice', 'user:bob'], 'alice (long-poll) sees bob')
  t.same(b.users(), ['user:alice', 'user:bob'], 'bob (WebSocket) sees alice')

  t.same(await receive(aliceCh.push('new_msg', { body: 'hello from long-poll' })), ['ok', { status: 'ok' }], 'push and reply over long-poll')
  await eventually(() => b.msgs.length === 1, 3000, 'bob got it')
  t.same(b.msgs, [{ username: 'alice', body: 'hello from long-poll' }], 'broadcastFrom long-poll → WebSocket')
  t.same(await receive(bobCh.push('new_msg', { body: 'hello from a WebSocket' })), ['ok', { status: 'ok' }])
  await eventually(() => a.msgs.length === 1, 3000, 'alice got it')
  t.same(a.msgs, [{ username: 'bob', body: 'hello from a WebSocket' }], 'broadcastFrom WebSocket → long-poll, the sender left out')
  t.same(await receive(aliceCh.push('new_msg', { body: '' })), ['error', { status: 'error', reason: 'empty message' }], 'an error reply')
  t.same(await receive(aliceCh.push('get_history', {})), ['ok', { messages: [{ username: 'system', body: 'Welcome to the chat!' }] }])

  // Several pushes in one turn travel in one POST (phoenix.js batches them) and are answered in order.
  const burst = await Promise.all([1, 2, 3].map((i) => receive(aliceCh.push('new_msg', { body: `burst ${i}` }))))
  t.same(burst, [1, 2, 3].map(() => ['ok', { status: 'ok' }]))
  await eventually(() => b.msgs.length === 4, 3000, 'bob got the burst')
  t.same(b.msgs.slice(1).map((m) => m.body), ['burst 1', 'burst 2', 'burst 3'], 'in order')

  t.equal((await receive(aliceCh.leave()))[0], 'ok', 'alice leaves')
  await eventually(() => b.users().length === 1, 3000, 'bob sees alice leave')
  t.same(b.users(), ['user:bob'])
  await eventually(() => left.some((line) => line.includes('alice')), 2000, 'her leave hook ran')
  t.equal((await receive(bobCh.leave()))[0], 'ok', 'bob leaves')
})

t.test('phoenix.js LongPoll reopens a session the server ended, and rejoins', async (t) => {
  const srv = await startServer({ id: () => 'user-1', longPoll: { pollTimeoutMs: 200, sessionTimeoutMs: 30_000 } })
  t.teardown(srv.close)
  let joins = 0
  srv.hub.channel('room:*').onJoin(() => (joins++, ['ok']))
  const socket = new Socket(`ws://127.0.0.1:${srv.port}/ws`, { transport: LongPoll, reconnectAfterMs: () => 50, rejoinAfterMs: () => 50 })
  socket.connect()
  t.teardown(() => socket.disconnect())
  const channel = socket.channel('room:1')
  await receive(channel.join())
  // Polls time out (204) and the client polls again, without noticing.
  const before = srv.hub.stats().longPollRequests
  await eventually(() => srv.hub.stats().longPollRequests >= before + 3, 3000, 'a few empty polls')
  t.equal(joins, 1, 'still the first session')
  // The server ends the session (as on a restart): the next poll gets 410, and the client opens
  // a new session and rejoins.
  srv.hub.disconnect('user-1', 1012, 'restart')
  await eventually(() => joins === 2 && channel.state === 'joined', 5000, 'rejoined on a new session')
  t.equal(srv.hub.stats().longPollSessions, 1, 'one session: the old one is gone')
})

t.test('phoenix.js LongPoll pushes an ArrayBuffer (base64 in the batch); bytes come back in their JSON form', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  const got: unknown[] = []
  const room = srv.hub.channel('room:*')
  room.on('echo', (payload, socket) => {
    got.push(payload)
    socket.broadcast('echoed', payload)
    return ['reply', payload, socket]
  })
  const socket = new Socket(`ws://127.0.0.1:${srv.port}/ws`, { transport: LongPoll })
  socket.connect()
  t.teardown(() => socket.disconnect())
  const channel = socket.channel('room:1')
  const broadcasts: unknown[] = []
  channel.on('echoed', (p: unknown) => broadcasts.push(p))
  t.equal((await receive(channel.join()))[0], 'ok')
  const bytes = new Uint8Array([0, 1, 2, 200, 255])
  const [status, response] = await receive(channel.push('echo', bytes.buffer))
  t.ok(Buffer.isBuffer(got[0]), 'the handler got a Buffer: the base64 line was a binary push')
  t.same([...(got[0] as Buffer)], [...bytes])
  // Polled messages are text for phoenix.js (it JSON.parses each), so bytes come as {hb_binary}.
  t.same([status, response], ['ok', { hb_binary: Buffer.from(bytes).toString('base64') }], 'the binary reply in its JSON form')
  await eventually(() => broadcasts.length === 1, 3000, 'the broadcast of bytes')
  t.same(broadcasts[0], { hb_binary: Buffer.from(bytes).toString('base64') })
})
