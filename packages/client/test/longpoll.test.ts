// The client's long-poll transport and its fallback, in Node against a real hub: the seed chat
// between a long-poll user and a WebSocket user (hornbeam dialect), a session the server ends,
// and the fallback when the upgrade is refused, when a WebSocket opens but passes nothing, and
// when the runtime has no WebSocket at all.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket, { WebSocketServer } from 'ws'
import { FALLBACK_KEY, LongPoll, Presence, Socket, longPollURL, type SessionStore, type SocketOptions } from '@hornbeam/client'
import { startChat, waitFor } from './fixtures/server.js'
import { startHttpProxy } from '../../../test/helpers/http-proxy.js'

function user(url: string, username: string, options: SocketOptions) {
  const socket = new Socket(url, { reconnectAfterMs: () => 50, rejoinAfterMs: () => 50, restartWindowMs: 0, ...options })
  const channel = socket.channel('room:lobby', { username })
  const presence = new Presence(channel)
  const msgs: Array<{ username: string; body: string }> = []
  const log: string[] = []
  let joins = 0
  channel.on('new_msg', (payload) => msgs.push(payload))
  channel.join().receive('ok', () => joins++)
  socket.connect()
  return { socket, channel, msgs, log, joins: () => joins, users: () => presence.list((id) => id).sort() }
}

function reply(push: { receive(status: string, cb: (r: any) => void): unknown }): Promise<[string, any]> {
  return new Promise((resolve) => {
    push.receive('ok', (r) => resolve(['ok', r]))
    push.receive('error', (r) => resolve(['error', r]))
    push.receive('timeout', () => resolve(['timeout', null]))
  })
}

function memoryStore(): SessionStore & { items: Map<string, string> } {
  const items = new Map<string, string>()
  return { items, getItem: (k) => items.get(k) ?? null, setItem: (k, v) => void items.set(k, v) }
}

t.test('longPollURL: the WebSocket URL the socket builds, as the long-poll endpoint', async (t) => {
  t.equal(longPollURL('ws://h:1/ws/websocket?a=1'), 'http://h:1/ws/longpoll?a=1')
  t.equal(longPollURL('wss://h/ws/websocket'), 'https://h/ws/longpoll')
  t.equal(longPollURL('/ws/websocket?vsn=2.0.0'), '/ws/longpoll?vsn=2.0.0')
})

t.test('transport: LongPoll — the seed chat with a WebSocket user, in the hornbeam dialect', async (t) => {
  const srv = await startChat()
  t.teardown(srv.close)
  const alice = user(srv.url, 'alice', { transport: LongPoll })
  const bob = user(srv.url, 'bob', { transport: WebSocket })
  t.teardown(() => {
    alice.socket.disconnect()
    bob.socket.disconnect()
  })
  await waitFor(() => alice.joins() === 1 && bob.joins() === 1, 'both joined')
  t.ok(alice.socket.isLongPolling(), 'alice is on long-poll')
  t.notOk(bob.socket.isLongPolling())
  t.equal(srv.hub.stats().longPollSessions, 1)
  await waitFor(() => alice.users().length === 2 && bob.users().length === 2, 'presence both ways')
  t.same(alice.users(), ['user:alice', 'user:bob'])

  t.same(await reply(alice.channel.push('new_msg', { body: 'from long-poll' })), ['ok', { status: 'ok' }], 'push and reply over long-poll')
  await waitFor(() => bob.msgs.length === 1, 'bob got it')
  t.same(await reply(bob.channel.push('new_msg', { body: 'from a WebSocket' })), ['ok', { status: 'ok' }])
  await waitFor(() => alice.msgs.length === 1, 'alice got it')
  t.same([alice.msgs, bob.msgs], [[{ username: 'bob', body: 'from a WebSocket' }], [{ username: 'alice', body: 'from long-poll' }]], 'broadcastFrom both ways')
  t.same(await reply(alice.channel.push('new_msg', { body: '' })), ['error', { status: 'error', reason: 'empty message' }], 'an error reply')
  // Frames of one turn go in one POST, in order.
  const burst = await Promise.all([1, 2, 3].map((i) => reply(alice.channel.push('new_msg', { body: `burst ${i}` }))))
  t.same(burst.map((r) => r[0]), ['ok', 'ok', 'ok'])
  await waitFor(() => bob.msgs.length === 4, 'bob got the burst')
  t.same(bob.msgs.slice(1).map((m) => m.body), ['burst 1', 'burst 2', 'burst 3'])

  t.equal((await reply(alice.channel.leave()))[0], 'ok', 'alice leaves')
  await waitFor(() => bob.users().length === 1, 'bob sees alice leave')
})

t.test('a session the server ends: the client opens a new one and rejoins', async (t) => {
  const srv = await startChat(0, { id: () => 'the-user', longPoll: { pollTimeoutMs: 200 } })
  t.teardown(srv.close)
  const alice = user(srv.url, 'alice', { transport: LongPoll })
  t.teardown(() => alice.socket.disconnect())
  await waitFor(() => alice.joins() === 1, 'joined')
  srv.hub.disconnect('the-user', 1012, 'restart')
  await waitFor(() => alice.joins() === 2 && alice.channel.state === 'joined', 'rejoined on a new session', 5000)
  t.equal(srv.hub.stats().longPollSessions, 1)
  t.same(await reply(alice.channel.push('new_msg', { body: 'still here' })), ['ok', { status: 'ok' }])
})

t.test('longPollFallbackMs: an upgrade the network refuses falls back at once, and the fallback is remembered', async (t) => {
  const srv = await startChat()
  t.teardown(srv.close)
  const proxy = await startHttpProxy({ pick: () => srv.port, upgrades: 'refuse' })
  t.teardown(() => proxy.close())
  const store = memoryStore()
  const logs: string[] = []
  const started = Date.now()
  const alice = user(`ws://127.0.0.1:${proxy.port}/ws`, 'alice', { transport: WebSocket, longPollFallbackMs: 5000, sessionStorage: store, logger: (kind, msg) => logs.push(`${kind}: ${msg}`) })
  t.teardown(() => alice.socket.disconnect())
  await waitFor(() => alice.joins() === 1, 'joined over long-poll')
  t.ok(Date.now() - started < 5000, 'without waiting for longPollFallbackMs')
  t.ok(alice.socket.isLongPolling())
  t.ok(logs.some((l) => l.startsWith('transport: falling back to long-poll: the WebSocket failed')), 'the log says why')
  t.equal(store.items.get(FALLBACK_KEY), 'true', 'remembered for the page')
  t.same(await reply(alice.channel.push('new_msg', { body: 'via the fallback' })), ['ok', { status: 'ok' }])
  // The page's next socket starts on long-poll, without trying a WebSocket.
  const before = proxy.counts.get(srv.port) ?? 0
  const next = user(`ws://127.0.0.1:${proxy.port}/ws`, 'bob', { transport: WebSocket, longPollFallbackMs: 5000, sessionStorage: store, logger: (kind, msg) => logs.push(`next ${kind}: ${msg}`) })
  t.teardown(() => next.socket.disconnect())
  await waitFor(() => next.joins() === 1, 'the next socket joined')
  t.notOk(logs.some((l) => l.startsWith('next transport: falling back')), 'no attempt to fall back from')
  t.ok((proxy.counts.get(srv.port) ?? 0) > before)
})

t.test('longPollFallbackMs: a WebSocket that opens but passes nothing falls back after the time', async (t) => {
  const srv = await startChat()
  t.teardown(srv.close)
  // A "proxy" that completes the upgrade and then passes nothing, and forwards plain HTTP.
  const silent = new WebSocketServer({ noServer: true })
  const blackhole = createServer()
  blackhole.on('upgrade', (req, socket, head) => silent.handleUpgrade(req, socket, head, () => {}))
  await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve))
  const holePort = (blackhole.address() as AddressInfo).port
  t.teardown(() => {
    for (const client of silent.clients) client.terminate()
    silent.close()
    blackhole.close()
  })
  const proxy = await startHttpProxy({ pick: (req) => (req.headers.upgrade ? holePort : srv.port) })
  t.teardown(() => proxy.close())
  const store = memoryStore()
  const logs: string[] = []
  const alice = user(`ws://127.0.0.1:${proxy.port}/ws`, 'alice', { transport: WebSocket, longPollFallbackMs: 300, sessionStorage: store, logger: (kind, msg) => logs.push(`${kind}: ${msg}`) })
  t.teardown(() => alice.socket.disconnect())
  await waitFor(() => alice.joins() === 1, 'joined over long-poll', 5000)
  t.ok(logs.includes('transport: connected'), 'the WebSocket had opened')
  t.ok(logs.includes('transport: falling back to long-poll: the WebSocket did not answer a heartbeat in time'))
  t.ok(alice.socket.isLongPolling())
})

t.test('longPollFallbackMs in a runtime without WebSocket (Node 20): long-poll at once; a working WebSocket is kept', async (t) => {
  const srv = await startChat()
  t.teardown(srv.close)
  t.equal(typeof (globalThis as { WebSocket?: unknown }).WebSocket, 'undefined', 'this Node has no global WebSocket')
  const store = memoryStore()
  const alice = user(srv.url, 'alice', { longPollFallbackMs: 1000, sessionStorage: store })
  t.teardown(() => alice.socket.disconnect())
  await waitFor(() => alice.joins() === 1, 'joined')
  t.ok(alice.socket.isLongPolling())
  // With a WebSocket that works, nothing falls back, nothing is remembered.
  const logs: string[] = []
  const bob = user(srv.url, 'bob', { transport: WebSocket, longPollFallbackMs: 200, sessionStorage: store, logger: (kind, msg) => logs.push(`${kind}: ${msg}`) })
  t.teardown(() => bob.socket.disconnect())
  await waitFor(() => bob.joins() === 1, 'bob joined')
  t.same(await reply(bob.channel.push('new_msg', { body: 'x' })), ['ok', { status: 'ok' }])
  // The heartbeat's answer disarms the fallback for good.
  await waitFor(() => logs.includes('transport: the WebSocket answered a heartbeat: no long-poll fallback'), 'the health check passed; ' + JSON.stringify(logs))
  t.notOk(bob.socket.isLongPolling())
  t.notOk(logs.some((l) => l.includes('falling back')))
  t.equal(store.items.size, 0)
})

t.test("transport: LongPoll with dialect 'phoenix': bytes out as base64 lines of the batch, back in their JSON form, Uint8Array to the app", async (t) => {
  const srv = await startChat()
  t.teardown(() => srv.close())
  const received: unknown[] = []
  srv.hub.channel('bin:*').on('echo', (payload, socket) => {
    received.push(payload)
    socket.broadcast('echoed', payload)
    return ['reply', payload, socket]
  })
  const socket = new Socket(srv.url, { transport: LongPoll, dialect: 'phoenix' })
  t.teardown(() => socket.disconnect())
  socket.connect()
  const channel = socket.channel('bin:1')
  const echoed: unknown[] = []
  channel.on('echoed', (payload) => echoed.push(payload))
  t.equal((await reply(channel.join()))[0], 'ok')
  const bytes = new Uint8Array([0, 1, 2, 200, 255])
  const [status, response] = await reply(channel.push('echo', bytes))
  t.same(received[0], Buffer.from(bytes), 'the handler got a Buffer: a binary push, base64 in the batch')
  t.equal(status, 'ok')
  t.ok(response instanceof Uint8Array, 'the reply, in its JSON form on the wire, reaches the app as a Uint8Array')
  t.same([...response], [...bytes])
  await waitFor(() => echoed.length === 1, 'the broadcast of bytes')
  t.same([...(echoed[0] as Uint8Array)], [...bytes])
})
