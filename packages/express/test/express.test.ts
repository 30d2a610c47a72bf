// @hornbeam/express on Express 5, against real listening servers.
import t from 'tap'
import { createServer } from 'node:http'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import express from 'express'
import WebSocket, { WebSocketServer } from 'ws'
import { RawClient, quietLogger } from '../../../test/helpers/wire.js'
import { defineChat } from '../../../test/fixtures/chat.js'
import { channelsMiddleware } from '@hornbeam/express'
import { startApp } from './fixtures/server.js'
import { authRefusal, chatFlow, longPollFlow, restRoutes } from './fixtures/scenarios.js'

t.test('chat flow: app.use(mw) + app.listen(0) alone', (t) => chatFlow(t, express, 'app'))
t.test('chat flow: http.createServer(app) + mw.attach(server)', (t) => chatFlow(t, express, 'attach'))
t.test('REST routes broadcast and list presence through req.channels', (t) => restRoutes(t, express))
t.test('auth middleware before ours refuses with 401 (app.listen)', (t) => authRefusal(t, express, 'app'))
t.test('auth middleware before ours refuses with 401 (mw.attach)', (t) => authRefusal(t, express, 'attach'))
t.test('long-poll at /ws/longpoll through the app (app.listen)', (t) => longPollFlow(t, express, 'app'))
t.test('long-poll at /ws/longpoll through the app (mw.attach)', (t) => longPollFlow(t, express, 'attach'))

t.test('app.channel on the parent app defines channels', async (t) => {
  const srv = await startApp(express)
  t.teardown(srv.close)
  srv.app.channel('echo:*').on('say', (payload: any) => ['reply', { said: payload.text }])
  const c = await RawClient.connect(srv.url())
  const j = await c.join('echo:1')
  t.same(await c.push(j.joinRef, 'echo:1', 'say', { text: 'hi' }), { status: 'ok', response: { said: 'hi' } })
  srv.mw.broadcast('echo:1', 'ping', { n: 1 })
  t.same((await c.waitFor((f) => f[3] === 'ping'))[4], { n: 1 }, 'mw.broadcast reaches it')
  await c.close()
})

t.test('other upgrade paths and normal routes are unaffected', async (t) => {
  const srv = await startApp(express, { after: (app) => app.get('/hello', (_req: any, res: any) => res.send('world')) })
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
  t.equal(await (await srv.http('/hello')).text(), 'world', 'a normal route')
})

t.test('two middlewares on one app at different paths', async (t) => {
  const app = express()
  const a = channelsMiddleware({ path: '/a', logger: quietLogger() })
  const b = channelsMiddleware({ path: '/b', logger: quietLogger() })
  app.use(a, b)
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

t.test('nested apps: outer.listen reaches a middleware mounted on an inner app', async (t) => {
  const outer = express()
  const inner = express()
  const mw = channelsMiddleware({ logger: quietLogger() })
  inner.use(mw)
  outer.use((req, res, next) => (req.query.deny ? res.status(403).end() : next()))
  outer.use(inner)
  mw.channel('x').onJoin(() => ['ok'])
  const server = outer.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const port = (server.address() as AddressInfo).port
  t.teardown(async () => {
    await mw.close()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })
  const c = await RawClient.connect(`ws://127.0.0.1:${port}/ws`)
  t.equal((await c.join('x')).status, 'ok')
  await c.close()
  await t.rejects(RawClient.connect(`ws://127.0.0.1:${port}/ws?deny=1`), /HTTP 403/, "the outer app's middleware ran")
})

t.test('an error from earlier middleware, or a request that never reaches us', async (t) => {
  const srv = await startApp(express, {
    before: (app) =>
      app.use((req: any, _res: any, next: any) => next(req.query.teapot ? Object.assign(new Error('no'), { status: 418 }) : undefined)),
  })
  t.teardown(srv.close)
  await t.rejects(RawClient.connect(srv.url() + '?teapot=1'), /HTTP 418/, "next(err): the error's status")
  const app = express()
  const mw = channelsMiddleware({ logger: quietLogger() })
  app.use('/api', mw)
  const server = createServer(app)
  mw.attach(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(async () => {
    await mw.close()
    server.close()
  })
  const port = (server.address() as AddressInfo).port
  await t.rejects(RawClient.connect(`ws://127.0.0.1:${port}/ws`), /HTTP 404/, 'mounted under /api, path /ws: 404')
})

t.test('GET <path>/hornbeam.js serves the browser client', async (t) => {
  const srv = await startApp(express)
  t.teardown(srv.close)
  // Built before the tests (npm run build): a missing bundle fails here, it is not the 404 case
  // (that one is the next test, with @hornbeam/client made unresolvable on purpose).
  const client = dirname(createRequire(import.meta.url).resolve('@hornbeam/client/package.json'))
  const bundle = readFileSync(join(client, 'dist/browser/hornbeam.min.js'), 'utf8')
  const res = await srv.http('/ws/hornbeam.js')
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^application\/javascript/)
  t.equal(await res.text(), bundle, "the client's dist/browser/hornbeam.min.js, as built")
  t.equal((await srv.http('/ws/other.js')).status, 404, 'only that file')
})

t.test('without @hornbeam/client installed, hornbeam.js is a 404 that says so', async (t) => {
  const { channelsMiddleware: isolated } = await t.mockImport<typeof import('@hornbeam/express')>('@hornbeam/express', {
    'node:module': {
      createRequire: () => ({
        resolve: (id: string) => {
          throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' })
        },
      }),
    },
  })
  const app = express()
  const mw = isolated({ logger: quietLogger() })
  app.use(mw)
  const server = app.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  t.teardown(async () => {
    await mw.close()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })
  const port = (server.address() as AddressInfo).port
  const res = await fetch(`http://127.0.0.1:${port}/ws/hornbeam.js`)
  t.equal(res.status, 404)
  t.match(await res.text(), /@hornbeam\/client is not installed/)
  const c = await RawClient.connect(`ws://127.0.0.1:${port}/ws`)
  t.same(await c.request(null, 'hornbeam', 'heartbeat'), { status: 'ok', response: {} }, 'the endpoint still works')
  await c.close()
})

t.test('graceful close: 1012, leave hooks ran and presence empty before it resolves', async (t) => {
  const srv = await startApp(express)
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
  t.equal((await alice.waitForClose()).code, 1012)
  t.equal((await bob.waitForClose()).code, 1012)
  await t.rejects(RawClient.connect(srv.url()), /HTTP 503/, 'no longer accepting')
  await srv.close()
})

t.test('an upgrade held up by middleware before ours is refused after handshakeTimeoutMs', async (t) => {
  const srv = await startApp(express, { options: { handshakeTimeoutMs: 300 }, before: (app) => app.use((_req: any, _res: any, _next: any) => {}) })
  t.teardown(srv.close)
  await t.rejects(RawClient.connect(srv.url()), /HTTP 503/)
})
