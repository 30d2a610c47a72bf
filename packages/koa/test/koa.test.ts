// @hornbeam/koa on Koa 3, against real listening servers.
import t from 'tap'
import { createServer } from 'node:http'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import Koa from 'koa'
import WebSocket, { WebSocketServer } from 'ws'
import { createHub } from '@hornbeam/channels'
import channelsDefault, { channels } from '@hornbeam/koa'
import { RawClient, eventually, quietLogger } from '../../../test/helpers/wire.js'
import { defineChat } from '../../../test/fixtures/chat.js'
import { route, startApp } from './fixtures/server.js'
import { authRefusal, chatFlow, longPollFlow, restRoutes } from './fixtures/scenarios.js'

const require = createRequire(import.meta.url)

t.test('chat flow: app.use(mw) + app.listen(0) alone', (t) => chatFlow(t, Koa, 'app'))
t.test('chat flow: http.createServer(app.callback()) + mw.attach(server, app)', (t) => chatFlow(t, Koa, 'attach'))
t.test('REST routes broadcast and list presence through ctx.channels', (t) => restRoutes(t, Koa))
t.test('auth middleware before ours refuses with 401 (app.listen)', (t) => authRefusal(t, Koa, 'app'))
t.test('auth middleware before ours refuses with 401 (mw.attach)', (t) => authRefusal(t, Koa, 'attach'))
t.test('long-poll at /ws/longpoll through the app (app.listen)', (t) => longPollFlow(t, Koa, 'app'))
t.test('long-poll at /ws/longpoll through the app (mw.attach)', (t) => longPollFlow(t, Koa, 'attach'))

t.test('the middleware and its bound hub methods; ctx.channels everywhere once attached', async (t) => {
  const srv = await startApp(Koa, { before: (app) => app.use(route('GET', /^\/early$/, (ctx) => (ctx.body = ctx.channels === srv.mw.hub ? 'hub' : 'none'))) })
  t.teardown(srv.close)
  t.equal(await (await srv.http('/early')).text(), 'hub', 'ctx.channels in a middleware registered before ours')
  t.equal(srv.app.context.channels, srv.mw.hub, 'app.context.channels, set when app.listen attached the server')
  t.equal(channelsDefault, channels, 'the default export is channels')
  t.equal(srv.mw.path, '/ws')
  srv.mw.channel('echo:*').on('say', (payload: any) => ['reply', { said: payload.text }])
  const c = await RawClient.connect(srv.url())
  const j = await c.join('echo:1')
  t.same(await c.push(j.joinRef, 'echo:1', 'say', { text: 'hi' }), { status: 'ok', response: { said: 'hi' } }, 'mw.channel defines channels')
  srv.mw.broadcast('echo:1', 'ping', { n: 1 })
  t.same((await c.waitFor((f) => f[3] === 'ping'))[4], { n: 1 }, 'mw.broadcast reaches it')
  t.equal(srv.server.listenerCount('upgrade'), 1, 'one upgrade listener')
  t.equal(srv.mw.attach(srv.server, srv.app), srv.mw.attach(srv.server, srv.app), 'attaching again to the same server is a no-op')
  t.equal(srv.server.listenerCount('upgrade'), 1, 'still one')
  await c.close()
})

t.test('other upgrade paths and normal routes are unaffected', async (t) => {
  const srv = await startApp(Koa, { after: (app) => app.use(route('GET', /^\/hello$/, (ctx) => (ctx.body = 'world'))) })
  t.teardown(srv.close)
  await t.rejects(RawClient.connect(srv.url('/elsewhere')), /HTTP 404/, 'unknown upgrade path: 404 while nobody else listens')
  const other = new WebSocketServer({ noServer: true })
  t.teardown(() => other.close())
  srv.server.on('upgrade', (req, socket, head) => {
    if (req.url === '/other') other.handleUpgrade(req, socket, head, (ws) => ws.send('other server'))
  })
  const ws = new WebSocket(srv.url('/other'))
  const msg = await new Promise<string>((resolve) => ws.on('message', (d) => resolve(d.toString())))
  t.equal(msg, 'other server', 'the other ws server got its upgrade')
  ws.close()
  const c = await RawClient.connect(srv.url())
  t.same(await c.request(null, 'hornbeam', 'heartbeat'), { status: 'ok', response: {} }, 'ours still works beside it')
  await c.close()
  const hello = await srv.http('/hello?x=1')
  t.same([hello.status, await hello.text()], [200, 'world'], 'a normal route')
  t.equal((await srv.http('/nothing')).status, 404, "Koa's own 404")
  t.equal((await srv.http('/ws/hornbeam.js', { method: 'POST' })).status, 404, 'only GET and HEAD serve the bundle')
})

t.test('two middlewares on one app at different paths', async (t) => {
  const app = new Koa()
  const a = channels({ path: '/a', logger: quietLogger() })
  const b = channels({ path: '/b', logger: quietLogger() })
  app.use(a).use(b)
  a.channel('x').onJoin(() => ['ok', { hub: 'a' }])
  b.channel('x').onJoin(() => ['ok', { hub: 'b' }])
  const server = app.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const port = (server.address() as AddressInfo).port
  t.teardown(async () => {
    await Promise.all([a.close(), b.close()])
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })
  const ca = await RawClient.connect(`ws://127.0.0.1:${port}/a/websocket`)
  const cb = await RawClient.connect(`ws://127.0.0.1:${port}/b`)
  t.same((await ca.join('x')).response, { hub: 'a' })
  t.same((await cb.join('x')).response, { hub: 'b' })
  await t.rejects(RawClient.connect(`ws://127.0.0.1:${port}/c`), /HTTP 404/, 'neither: 404')
  await ca.close()
  await cb.close()
})

t.test('an error thrown by earlier middleware, or a request that never reaches us', async (t) => {
  const srv = await startApp(Koa, {
    before: (app) =>
      app.use(async (ctx, next) => {
        if (ctx.query.teapot) ctx.throw(418, 'no')
        if (ctx.query.elsewhere) return void (ctx.body = 'handled before the channels middleware')
        await next()
      }),
  })
  t.teardown(srv.close)
  await t.rejects(RawClient.connect(srv.url() + '?teapot=1'), /HTTP 418/, "ctx.throw(418): the error's status")
  await t.rejects(RawClient.connect(srv.url() + '?elsewhere=1'), /HTTP 200/, "a middleware's 200 is its answer, not an upgrade")
  // Behind a middleware that passes only other paths on, the upgrade never reaches ours: Koa's 404.
  const app = new Koa()
  const mw = channels({ logger: quietLogger() })
  app.use(async (ctx, next) => (ctx.path.startsWith('/api') ? next() : undefined))
  app.use(mw)
  const server = createServer(app.callback())
  mw.attach(server, app)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(async () => {
    await mw.close()
    server.close()
  })
  const port = (server.address() as AddressInfo).port
  await t.rejects(RawClient.connect(`ws://127.0.0.1:${port}/ws`), /HTTP 404/, 'never reached: 404')
  t.equal(mw.hub.stats().refusedUpgrades, 0, 'the hub never saw it')
})

t.test('GET <path>/hornbeam.js serves the browser client', async (t) => {
  const srv = await startApp(Koa)
  t.teardown(srv.close)
  // Built before the tests (npm run build): a missing bundle fails here, it is not the 404 case.
  const client = dirname(require.resolve('@hornbeam/client/package.json'))
  const bundle = readFileSync(join(client, 'dist/browser/hornbeam.min.js'))
  const res = await srv.http('/ws/hornbeam.js?v=1')
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^application\/javascript/)
  t.equal(res.headers.get('content-length'), String(bundle.length))
  t.ok(Buffer.from(await res.arrayBuffer()).equals(bundle), "the client's dist/browser/hornbeam.min.js, as built")
  const head = await srv.http('/ws/hornbeam.js', { method: 'HEAD' })
  t.same([head.status, head.headers.get('content-length'), await head.text()], [200, String(bundle.length), ''], 'HEAD: headers only')
  t.equal((await srv.http('/ws/other.js')).status, 404, 'only that file')

  const off = await startApp(Koa, { options: { serveClient: false, path: '/rt/' } })
  t.teardown(off.close)
  t.equal((await off.http('/rt/hornbeam.js')).status, 404, 'serveClient: false')
  const c = await RawClient.connect(off.url('/rt/websocket'))
  t.same(await c.request(null, 'hornbeam', 'heartbeat'), { status: 'ok', response: {} }, 'the endpoint still works')
  await c.close()
})

t.test('without @hornbeam/client installed, hornbeam.js is a 404 that says so', async (t) => {
  const { channels: isolated } = await t.mockImport<typeof import('@hornbeam/koa')>('@hornbeam/koa', {
    'node:module': {
      createRequire: () => ({
        resolve: (id: string) => {
          throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' })
        },
      }),
    },
  })
  const srv = await startApp(Koa, { factory: isolated })
  t.teardown(srv.close)
  const res = await srv.http('/ws/hornbeam.js')
  t.equal(res.status, 404)
  t.match(await res.text(), /@hornbeam\/client is not installed/)
  const c = await RawClient.connect(srv.url())
  t.same(await c.request(null, 'hornbeam', 'heartbeat'), { status: 'ok', response: {} }, 'the endpoint still works')
  await c.close()
})

t.test('graceful close: 1012, leave hooks ran and presence empty before it resolves', async (t) => {
  const srv = await startApp(Koa)
  const order: string[] = []
  defineChat(srv.mw.hub, order)
  const alice = await RawClient.connect(srv.url())
  const bob = await RawClient.connect(srv.url())
  await alice.join('room:lobby', { username: 'alice' })
  await bob.join('room:lobby', { username: 'bob' })
  t.equal(Object.keys(srv.mw.presence('room:lobby').list()).length, 2)
  await srv.mw.close()
  order.push('closed')
  t.same(order.slice(-1), ['closed'])
  t.same(order.slice(0, 2).sort(), ['User alice left room:lobby', 'User bob left room:lobby'], 'leave hooks ran first')
  t.same(srv.mw.presence('room:lobby').list(), {}, 'presence empty')
  t.equal(srv.mw.hub.stats().presence.entries, 0, 'no presence entry left (hub.stats)')
  t.equal((await alice.waitForClose()).code, 1012)
  t.equal((await bob.waitForClose()).code, 1012)
  await t.rejects(RawClient.connect(srv.url()), /HTTP 503/, 'no longer accepting')
  await srv.close()
})

t.test('given a shared hub, mw.close() closes only its own sockets', async (t) => {
  const hub = createHub({ logger: quietLogger() })
  t.teardown(() => hub.close())
  hub.channel('room:*').on('ping', () => ['reply', { pong: true }])
  const other = createServer()
  hub.attach(other)
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => (other.closeAllConnections(), other.close(resolve))))
  const srv = await startApp(Koa, { options: { hub } })
  t.teardown(srv.close)
  const mine = await RawClient.connect(srv.url())
  const theirs = await RawClient.connect(`ws://127.0.0.1:${(other.address() as AddressInfo).port}/ws/websocket`)
  t.teardown(() => theirs.close())
  const { joinRef } = await theirs.join('room:1')
  await mine.join('room:1')
  t.equal(hub.stats().connections, 2)
  await srv.mw.close()
  t.equal((await mine.waitForClose()).code, 1012, "the middleware's socket got 1012")
  t.same(await theirs.push(joinRef, 'room:1', 'ping'), { status: 'ok', response: { pong: true } }, 'the other socket lives on')
  t.equal(hub.stats().connections, 1)
})

t.test('an upgrade held up by middleware before ours is refused after handshakeTimeoutMs', async (t) => {
  const srv = await startApp(Koa, { options: { handshakeTimeoutMs: 300 }, before: (app) => app.use(() => new Promise(() => {})) })
  t.teardown(srv.close)
  await t.rejects(RawClient.connect(srv.url()), /HTTP 503/)
})

t.test("a WebSocket's socket is the hub's alone: a reset is no Koa app error", async (t) => {
  const errors: Error[] = []
  const srv = await startApp(Koa, { before: (app) => app.on('error', (err: Error) => errors.push(err)) })
  t.teardown(srv.close)
  defineChat(srv.mw.hub)
  const alice = await RawClient.connect(srv.url())
  await alice.join('room:lobby', { username: 'alice' })
  const closed = new Promise((resolve) => alice.ws.once('close', resolve))
  ;(alice.ws as unknown as { _socket: import('node:net').Socket })._socket.resetAndDestroy()
  await closed
  await eventually(() => srv.mw.hub.stats().connections === 0, 2000, 'the hub saw the socket go')
  t.same(srv.mw.presence('room:lobby').list(), {}, 'untracked')
  t.same(errors, [], "Koa's response listeners were taken off the socket with it")
})

t.test('CommonJS: require() is the factory, with named exports and .default, and app.listen works', async (t) => {
  const cjs = require('@hornbeam/koa')
  t.equal(typeof cjs, 'function', 'require() is the middleware factory')
  t.equal(cjs.channels, cjs)
  t.equal(cjs.default, cjs)
  // The CommonJS build found Koa's listen already wrapped (by the ES module build): one wrapper,
  // which finds middleware of either build.
  const srv = await startApp(Koa, { factory: cjs })
  t.teardown(srv.close)
  const c = await RawClient.connect(srv.url())
  t.same(await c.request(null, 'hornbeam', 'heartbeat'), { status: 'ok', response: {} })
  t.equal(srv.server.listenerCount('upgrade'), 1, 'attached once')
  await c.close()
})
