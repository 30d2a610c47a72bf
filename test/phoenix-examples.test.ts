// The official `phoenix` npm client, unchanged, against every chat example as it runs (its own
// process, its framework, the phoenix dialect on /ws): the seed's chat flow from that client.
import t from 'tap'
import WebSocket from 'ws'
// @ts-expect-error the phoenix package ships no types
import { Socket, Presence } from 'phoenix'
import { startExample } from './helpers/examples.js'

const examples: Array<[name: string, env: Record<string, string>]> = [
  ['chat-fastify', {}],
  ['chat-express', {}],
  ['chat-koa', {}],
  ['chat-hono', {}],
  ['chat-nest', {}],
  ['chat-nest', { PLATFORM: 'fastify' }],
]

function reply(push: any): Promise<[string, any]> {
  return new Promise((resolve) => {
    push.receive('ok', (r: any) => resolve(['ok', r]))
    push.receive('error', (r: any) => resolve(['error', r]))
    push.receive('timeout', () => resolve(['timeout', null]))
  })
}

function next(channel: any, event: string): Promise<any> {
  return new Promise((resolve) => {
    const ref = channel.on(event, (payload: any) => {
      channel.off(event, ref)
      resolve(payload)
    })
  })
}

for (const [name, env] of examples) {
  const label = env.PLATFORM ? `${name} (${env.PLATFORM})` : name
  t.test(`phoenix.js against ${label}: refused join, two users, presence, messages, typing, history`, async (t) => {
    const ex = await startExample(name, env)
    t.teardown(ex.stop)
    const url = `${ex.url.replace('http', 'ws')}/ws`
    const sockets = ['alice', 'bob'].map(() => {
      const socket = new Socket(url, { transport: WebSocket, heartbeatIntervalMs: 1000 })
      socket.connect()
      return socket
    })
    t.teardown(() => sockets.forEach((s) => s.disconnect()))
    const [aliceSocket, bobSocket] = sockets

    const nobody = aliceSocket.channel('room:lobby', {})
    t.same(await reply(nobody.join()), ['error', { reason: 'username required' }], 'no username: refused')
    nobody.leave()

    const alice = aliceSocket.channel('room:lobby', () => ({ username: 'alice' }))
    const presence = new Presence(alice)
    const bothOnline = new Promise<string[]>((resolve) => {
      presence.onSync(() => {
        const names = presence.list((key: string) => key).sort()
        if (names.length === 2) resolve(names)
      })
    })
    t.same(await reply(alice.join()), ['ok', { room_id: 'lobby', message: 'Welcome to lobby!' }], 'alice joins')
    const bob = bobSocket.channel('room:lobby', { username: 'bob' })
    t.equal((await reply(bob.join()))[0], 'ok', 'bob joins')
    t.same(await bothOnline, ['user:alice', 'user:bob'], 'alice sees both in presence')

    const arrived = next(alice, 'new_msg')
    t.same(await reply(bob.push('new_msg', { body: 'hello' })), ['ok', { status: 'ok' }], 'the push is answered')
    t.same(await arrived, { username: 'bob', body: 'hello' }, 'broadcastFrom reaches alice')
    t.same(await reply(bob.push('new_msg', { body: '' })), ['error', { status: 'error', reason: 'empty message' }], 'an empty message is refused with an error reply')

    const typing = next(alice, 'typing')
    bob.push('typing', { typing: true })
    t.same(await typing, { username: 'bob', typing: true }, 'typing reaches alice')
    t.same(await reply(alice.push('get_history', {})), ['ok', { messages: [{ username: 'system', body: 'Welcome to the chat!' }] }], 'history')

    const bobLeft = new Promise<void>((resolve) => presence.onLeave((key: string) => key === 'user:bob' && resolve()))
    bob.leave()
    await bobLeft
    t.same(presence.list((key: string) => key), ['user:alice'], 'bob left the list')
  })
}
