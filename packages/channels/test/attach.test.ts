// hub.attach on plain node:http: endpoint paths, other upgrade listeners, hooks, idle timeout,
// disconnect(id), graceful close.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket, { WebSocketServer } from 'ws'
import { createHub, MemoryBus, memoryAdapter } from '@hornbeam/channels'
import { RawClient, startServer, sleep, eventually, quietLogger, broadcastMarker } from '../../../test/helpers/wire.js'

t.test('both path and path/websocket are accepted; plain HTTP still works', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  for (const p of ['/ws', '/ws/websocket']) {
    const c = await RawClient.connect(srv.url(p))
    t.same(await c.request(null, 'hornbeam', 'heartbeat'), { status: 'ok', response: {} }, p)
    await c.close()
  }
  const res = await fetch(`http://127.0.0.1:${srv.port}/ws`)
  t.equal(await res.text(), 'http ok', 'a plain GET goes to the app')
})

t.test('other upgrade paths: refused with 404 when nobody else listens, left alone otherwise', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  await t.rejects(RawClient.connect(`ws://127.0.0.1:${srv.port}/elsewhere`), /HTTP 404/)
  const other = new WebSocketServer({ noServer: true })
  srv.server.on('upgrade', (req, socket, head) => {
    if (req.url === '/elsewhere') other.handleUpgrade(req, socket, head, (ws) => ws.send('other server'))
  })
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/elsewhere`)
  const [msg] = await new Promise<[string]>((resolve) => ws.on('message', (d) => resolve([d.toString()])))
  t.equal(msg, 'other server', 'the other listener got its upgrade')
  ws.close()
  const c = await RawClient.connect(srv.url())
  t.ok(c, 'ours still works beside it')
  await c.close()
  other.close()
})

t.test('two hubs on one server at different paths', async (t) => {
  const server = createServer()
  const a = createHub({ logger: quietLogger() })
  const b = createHub({ logger: quietLogger() })
  a.channel('x').onJoin(() => ['ok', { hub: 'a' }])
  b.channel('x').onJoin(() => ['ok', { hub: 'b' }])
  const detachA = a.attach(server, { path: '/a' })
  b.attach(server, { path: '/b/' })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  t.teardown(async () => {
    await Promise.all([a.close(), b.close()])
    server.closeAllConnections()
    server.close()
  })
  const ca = await RawClient.connect(`ws://127.0.0.1:${port}/a/websocket`)
  const cb = await RawClient.connect(`ws://127.0.0.1:${port}/b`)
  t.same((await ca.join('x')).response, { hub: 'a' })
  t.same((await cb.join('x')).response, { hub: 'b' })
  await ca.close()
  await cb.close()
  detachA()
  await t.rejects(RawClient.connect(`ws://127.0.0.1:${port}/a`), /HTTP 404/, 'detached')
})

t.test('connect hook: false refuses with 403 and nothing else runs; assigns otherwise', async (t) => {
  let joins = 0
  const srv = await startServer({
    connect: async (params, request) => {
      if (params.token !== 'good') return false
      return { user: 'u1', ua: (request as import('node:http').IncomingMessage).headers['user-agent'] ?? 'none' }
    },
  })
  t.teardown(srv.close)
  srv.hub.channel('room:*').onJoin((_t, _tp, _p, s) => (joins++, ['ok', s.assigns]))
  await t.rejects(RawClient.connect(srv.url() + '?token=bad'), /HTTP 403/)
  t.equal(srv.hub.stats().connections, 0)
  const c = await RawClient.connect(srv.url() + '?token=good')
  const j = await c.join('room:1')
  t.equal(j.response.user, 'u1')
  t.equal(joins, 1)
  await c.close()
})

t.test('a throwing connect hook refuses with 403', async (t) => {
  const srv = await startServer({ connect: () => { throw new Error('db down') } })
  t.teardown(srv.close)
  await t.rejects(RawClient.connect(srv.url()), /HTTP 403/)
})

t.test('idle timeout closes a silent socket; heartbeats keep one alive', async (t) => {
  const srv = await startServer({ idleTimeoutMs: 300 })
  t.teardown(srv.close)
  srv.hub.channel('room:*').onJoin((topic, _tp, p, s) => (srv.hub.presence(topic).track(s, p.u, {}), ['ok']))
  // chatty joins first: without its heartbeats it would be idle longer than silent, so the sweep
  // that closes silent would close chatty too.
  const chatty = await RawClient.connect(srv.url())
  const silent = await RawClient.connect(srv.url())
  t.teardown(() => chatty.close())
  await chatty.join('room:1', { u: 'chatty' })
  await silent.join('room:1', { u: 'silent' })
  const beat = setInterval(() => chatty.send(null, chatty.nextRef(), 'hornbeam', 'heartbeat', {}), 100)
  t.teardown(() => clearInterval(beat))
  const closed = await silent.waitForClose(2000)
  t.same(closed, { code: 1001, reason: 'idle timeout' })
  await eventually(() => srv.hub.presence('room:1').get('silent') === undefined, 1000, 'silent untracked')
  // A close for chatty would have been written in that sweep, before the answer to this probe.
  await chatty.probe()
  t.notOk(chatty.closeEvent, 'the heartbeating socket is still open')
  t.ok(srv.hub.presence('room:1').get('chatty'))
})

t.test('id hook + disconnect(id) closes all of one user’s sockets, on every node', async (t) => {
  const bus = new MemoryBus()
  const opts = { connect: (p: Record<string, string>) => ({ user: p.user }), id: (s: any) => `user:${s.assigns.user}` }
  const a = await startServer({ ...opts, adapter: memoryAdapter({ bus }) })
  const b = await startServer({ ...opts, adapter: memoryAdapter({ bus }) })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const ann1 = await RawClient.connect(a.url() + '?user=ann')
  const ann2 = await RawClient.connect(b.url() + '?user=ann')
  const bob = await RawClient.connect(b.url() + '?user=bob')
  t.teardown(() => bob.close())
  a.hub.disconnect('user:ann')
  t.equal((await ann1.waitForClose()).reason, 'disconnected')
  t.equal((await ann2.waitForClose()).reason, 'disconnected', 'on the other node too')
  // b closed ann2 on that message; a close for bob would have come before this probe's answer.
  await bob.probe()
  t.notOk(bob.closeEvent, 'bob untouched')
})

t.test('broadcasts cross hubs on a shared memory bus, once each', async (t) => {
  const bus = new MemoryBus()
  const a = await startServer({ adapter: memoryAdapter({ bus }) })
  const b = await startServer({ adapter: memoryAdapter({ bus }) })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  for (const s of [a, b]) s.hub.channel('room:*').on('say', (p, socket) => (socket.broadcastFrom('said', p), ['noreply']))
  const ca = await RawClient.connect(a.url())
  const cb = await RawClient.connect(b.url())
  const cb2 = await RawClient.connect(b.url())
  t.teardown(() => Promise.all([ca.close(), cb.close(), cb2.close()]))
  const ja = await ca.join('room:1')
  await cb.join('room:1')
  const jb2 = await cb2.join('room:1')
  a.hub.broadcast('room:1', 'hello', { from: 'a' })
  for (const c of [ca, cb, cb2]) await c.waitFor((f) => f[3] === 'hello')
  cb2.send(jb2.joinRef, cb2.nextRef(), 'room:1', 'say', { x: 1 })
  await ca.waitFor((f) => f[3] === 'said')
  await cb.waitFor((f) => f[3] === 'said')
  // A marker from each node, after those messages, reaches every client on the paths they took
  // (local, and over the bus, in order per channel): duplicates would have come first.
  await broadcastMarker(a.hub, 'room:1', [ca, cb, cb2])
  await broadcastMarker(b.hub, 'room:1', [ca, cb, cb2])
  for (const c of [ca, cb, cb2]) t.equal(c.events('room:1', 'hello').length, 1, 'exactly once')
  t.equal(cb2.events('room:1', 'said').length, 0, 'broadcastFrom skipped its sender across nodes')
  t.ok(ja)
})

t.test('hub.close: 1012 to clients, leave hooks run, presence gone, then resolves', async (t) => {
  const srv = await startServer()
  const order: string[] = []
  srv.hub.channel('room:*')
    .onJoin((topic, _tp, p, s) => (srv.hub.presence(topic).track(s, p.u, {}), ['ok']))
    .onLeave(async (topic, _s, reason) => {
      await sleep(20)
      order.push(`leave ${topic} ${reason}`)
    })
  t.teardown(srv.close)
  const c = await RawClient.connect(srv.url())
  await c.join('room:1', { u: 'x' })
  // The hub closes while the HTTP server still listens: an upgrade then gets the hub's 503, not
  // the refused connection of a server that is gone.
  await srv.hub.close()
  order.push('closed')
  t.same(order, ['leave room:1 shutdown', 'closed'], 'leave hooks ran before close resolved')
  t.same(srv.hub.presence('room:1').list(), {})
  t.equal((await c.waitForClose()).code, 1012)
  t.ok(srv.server.listening, 'the HTTP server still listens')
  await t.rejects(RawClient.connect(srv.url()), /HTTP 503/, 'no longer accepting')
})
