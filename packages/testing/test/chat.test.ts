// The chat example's channel, tested entirely through the test kit: no socket is opened (net's
// listen and connect throw here, so an accidental one fails the test). It covers what the wire
// tests cover: the refused join, two users, presence both ways, broadcastFrom, replies, typing,
// history, leave hooks, a dropped connection, a rejoin, and time (the batching window, the idle
// timeout) moved by the kit's clock.
import net from 'node:net'
import t from 'tap'
import { createHub } from '@hornbeam/channels'
import { channelTest, ConnectRefused } from '@hornbeam/testing'
import { defineChat } from '../../../test/fixtures/chat.js'

for (const method of ['listen'] as const) {
  net.Server.prototype[method] = () => {
    throw new Error('the test kit opened a socket (net.Server.listen)')
  }
}
net.Socket.prototype.connect = () => {
  throw new Error('the test kit opened a socket (net.Socket.connect)')
}

function chat(options: Parameters<typeof channelTest>[1] = {}) {
  const leaves: string[] = []
  const kit = channelTest(() => {
    const hub = createHub({ logger: { debug() {}, info() {}, warn() {}, error() {} }, presence: { batchMs: 50 } })
    defineChat(hub, leaves)
    return hub
  }, options)
  return { kit, leaves }
}

t.test('the chat, without a socket: join, presence, messages, typing, history, leave', async (t) => {
  const { kit, leaves } = chat()
  t.teardown(() => kit.close())
  const alice = await kit.connect()
  const bob = await kit.connect()
  const a = alice.channel('room:lobby')
  const b = bob.channel('room:lobby')

  t.same(await a.join({}), { status: 'error', response: { reason: 'username required' } }, 'no username: refused')
  t.same(await a.join({ username: 'x'.repeat(33) }), { status: 'error', response: { reason: 'username too long (at most 32 characters)' } })
  t.same(await a.join({ username: 'alice' }), { status: 'ok', response: { room_id: 'lobby', message: 'Welcome to lobby!' } })
  t.equal((await b.join({ username: 'bob' })).status, 'ok')
  t.same(Object.keys(b.presence()).sort(), ['user:alice', 'user:bob'], "bob's presence_state lists both")
  await a.receive('presence_diff')
  t.same(Object.keys(a.presence()).sort(), ['user:alice', 'user:bob'], 'alice hears bob join')

  t.same(await a.push('new_msg', { body: 'hi bob' }), { status: 'ok', response: { status: 'ok' } })
  t.same(await b.receive('new_msg'), { username: 'alice', body: 'hi bob' })
  t.same(b.broadcasts('new_msg'), [{ username: 'alice', body: 'hi bob' }], 'as a broadcast')
  t.same(await a.push('new_msg', { body: '' }), { status: 'error', response: { status: 'error', reason: 'empty message' } }, "the chat's error reply")

  a.cast('typing', { typing: true })
  t.same(await b.receive('typing'), { username: 'alice', typing: true })
  t.same(await b.push('get_history'), { status: 'ok', response: { messages: [{ username: 'system', body: 'Welcome to the chat!' }] } })
  // A marker after everything alice sent: had she been sent her own, it would be there first.
  kit.hub.broadcast('room:lobby', 'marker', {})
  await a.receive('marker')
  t.same(a.received('new_msg').concat(a.received('typing')), [], 'broadcastFrom: nothing echoed to the sender')

  t.same(await b.leave(), { status: 'ok', response: {} })
  t.same(leaves, ['User bob left room:lobby'], 'the leave hook ran')
  await a.receive('presence_diff')
  t.same(Object.keys(a.presence()), ['user:alice'], 'alice hears bob leave')

  bob.close()
  alice.close()
  t.same(leaves, ['User bob left room:lobby', 'User alice left room:lobby'], 'a closed connection ends its channels')
  t.same(kit.hub.presence('room:lobby').list(), {}, 'and its presences')
})

t.test('a rejoin replaces the channel; a refused connect says why', async (t) => {
  const kit = channelTest(() => {
    const hub = createHub({ connect: (params) => (params.token === 'ok' ? { token: params.token } : false) })
    defineChat(hub)
    return hub
  })
  t.teardown(() => kit.close())
  await t.rejects(kit.connect({ token: 'no' }), ConnectRefused, 'the connect hook refused: 403')
  const c = await kit.connect({ token: 'ok' })
  const room = c.channel('room:lobby')
  await room.join({ username: 'carol' })
  const first = room.joinRef
  await room.join({ username: 'carol' })
  t.not(room.joinRef, first)
  t.equal(c.frames.filter((f) => f.event === 'hb_close' && f.joinRef === first).length, 1, 'the old join was closed')
  t.equal(kit.hub.presence('room:lobby').get('user:carol')?.metas.length, 1, 'one presence after the rejoin')
})

t.test('time, moved by the kit clock: the presence batching window and the idle timeout', async (t) => {
  const { kit } = chat({ clock: true })
  t.teardown(() => kit.close())
  const alice = await kit.connect()
  const bob = await kit.connect()
  const a = alice.channel('room:lobby')
  await a.join({ username: 'alice' })
  await bob.channel('room:lobby').join({ username: 'bob' })
  t.same(a.received('presence_diff'), [], 'inside the 50 ms window: no diff yet')
  kit.clock!.tick(50)
  t.same(Object.keys(a.presence()).sort(), ['user:alice', 'user:bob'], 'the window closed: one diff')
  t.equal(a.received('presence_diff').length, 1)
  // Silent past the idle timeout (60 s) and one sweep (every 2.5 s): both closed with 1001.
  kit.clock!.tick(63_000)
  t.same(alice.closed, { code: 1001, reason: 'idle timeout' })
  t.same(bob.closed, { code: 1001, reason: 'idle timeout' })
})
