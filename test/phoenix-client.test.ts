// The official `phoenix` npm client, unchanged, against the phoenix dialect: Socket, Channel,
// Push with replies and timeouts, Presence with onJoin / onLeave / onSync.
import t from 'tap'
import WebSocket from 'ws'
// @ts-expect-error the phoenix package ships no types
import { Socket, Presence } from 'phoenix'
import { startServer, eventually } from './helpers/wire.js'
import { defineChat } from './fixtures/chat.js'

function connect(url: string, params: Record<string, string> = {}) {
  const socket = new Socket(url, { transport: WebSocket, params, heartbeatIntervalMs: 200, reconnectAfterMs: () => 100 })
  socket.connect()
  return socket
}

function receive(push: any): Promise<[string, any]> {
  return new Promise((resolve) => {
    push.receive('ok', (r: any) => resolve(['ok', r]))
    push.receive('error', (r: any) => resolve(['error', r]))
    push.receive('timeout', () => resolve(['timeout', null]))
  })
}

t.test('phoenix.js chat: join, push replies, broadcasts, presence callbacks, leave', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  defineChat(srv.hub)
  // The slow handler answers only once the test lets it: after the client's push timed out.
  let finishSlow!: () => void
  const slowMayFinish = new Promise<void>((resolve) => (finishSlow = resolve))
  srv.hub.channel('slow:1').on('wait', async () => {
    await slowMayFinish
    return ['reply', {}]
  })
  t.teardown(() => finishSlow())
  const url = `ws://127.0.0.1:${srv.port}/ws`
  const alice = connect(url)
  const bob = connect(url)
  t.teardown(() => {
    alice.disconnect()
    bob.disconnect()
  })

  const refused = await receive(alice.channel('room:lobby', {}).join())
  t.same(refused, ['error', { reason: 'username required' }])

  const aliceCh = alice.channel('room:lobby', { username: 'alice' })
  const presence = new Presence(aliceCh)
  const joined: string[] = []
  const left: string[] = []
  let syncs = 0
  presence.onJoin((id: string, current: any) => !current && joined.push(id))
  presence.onLeave((id: string, current: any) => current.metas.length === 0 && left.push(id))
  presence.onSync(() => syncs++)
  const got: any[] = []
  aliceCh.on('new_msg', (p: any) => got.push(p))
  t.same(await receive(aliceCh.join()), ['ok', { room_id: 'lobby', message: 'Welcome to lobby!' }])

  const bobCh = bob.channel('room:lobby', { username: 'bob' })
  t.equal((await receive(bobCh.join()))[0], 'ok')
  await eventually(() => presence.list().length === 2, 2000, 'alice sees two users')
  t.same(joined.sort(), ['user:alice', 'user:bob'])
  t.ok(syncs >= 2, 'onSync fired')

  t.same(await receive(bobCh.push('new_msg', { body: 'hi alice' })), ['ok', { status: 'ok' }])
  await eventually(() => got.length === 1, 2000, 'alice got the message')
  t.same(got[0], { username: 'bob', body: 'hi alice' })
  t.same(await receive(bobCh.push('new_msg', { body: '' })), ['error', { status: 'error', reason: 'empty message' }], 'error reply')
  t.same(await receive(bobCh.push('get_history', {})), ['ok', { messages: [{ username: 'system', body: 'Welcome to the chat!' }] }])

  const slow = alice.channel('slow:1')
  await receive(slow.join())
  t.same(await receive(slow.push('wait', {}, 100)), ['timeout', null], 'push timeout')
  finishSlow()

  t.equal((await receive(bobCh.leave()))[0], 'ok')
  await eventually(() => left.includes('user:bob'), 2000, 'alice saw bob leave')
  t.same(presence.list((id: string) => id), ['user:alice'])
})

t.test('phoenix.js rejoins after a crash and reconnects after the server drops it', async (t) => {
  const srv = await startServer({ id: () => 'phoenix-user' })
  t.teardown(srv.close)
  let joins = 0
  const ch = srv.hub.channel('crashy:1')
  ch.onJoin(() => (joins++, ['ok']))
  ch.on('boom', () => {
    throw new Error('boom')
  })
  const socket = connect(`ws://127.0.0.1:${srv.port}/ws`, { user: 'x' })
  t.teardown(() => socket.disconnect())
  const channel = socket.channel('crashy:1')
  const errors: unknown[] = []
  channel.onError(() => errors.push('error'))
  await receive(channel.join())
  channel.push('boom', {})
  // The server's join hook runs before its reply is on the way: wait for the client to be joined.
  await eventually(() => joins === 2 && channel.state === 'joined', 3000, 'the client rejoined after phx_error')
  t.equal(errors.length, 1)
  t.equal(channel.state, 'joined')
  // The server goes away and comes back on the same hub: the client reconnects and rejoins.
  srv.hub.disconnect('phoenix-user', 1012, 'restart')
  await eventually(() => joins === 3 && channel.state === 'joined', 3000, 'rejoined after reconnect')
  t.equal(channel.state, 'joined')
})
