// @hornbeam/hono against real listening node-server servers (port 0): the seed's chat, REST routes
// through c.var.channels, the app's middleware on the upgrade, the connect hook, graceful close.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { serve, upgradeWebSocket } from '@hono/node-server'
import { Hono } from 'hono'
import WebSocket, { WebSocketServer } from 'ws'
import { createHub, type Hub } from '@hornbeam/channels'
import { createChannels, type Channels, type ChannelsEnv, type ChannelsOptions } from '@hornbeam/hono'
import { RawClient, eventually, sleep, quietLogger, broadcastMarker, watchLongTimers, POSITION } from '../../../test/helpers/wire.js'
import { defineChat } from '../../../test/fixtures/chat.js'
import { longPollChat, request } from '../../../test/helpers/longpoll.js'
// @ts-expect-error the phoenix package ships no types
import { Socket as PhoenixSocket } from 'phoenix'

const opts = { timeout: 15000 }

type AppEnv = ChannelsEnv & { Variables: { user?: string } }
type App = Hono<AppEnv>

interface Started {
  app: App
  channels: Channels
  hub: Hub
  server: Server
  port: number
  url: (path?: string) => string
  http: (path: string, init?: RequestInit) => Promise<Response>
}

/** Listens on port 0 until the test ends. */
async function listen(t: Tap, app: { fetch: App['fetch'] }, websocket?: Channels['websocket'] | { server: WebSocketServer }) {
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', websocket }, () => resolve(s as Server))
  })
  t.teardown(() => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve))))
  return server
}
type Tap = { teardown: (fn: () => unknown) => void }

/**
 * A Hono app: `channels.middleware` first, then `before` (auth), then `channels.routes(app)`, then
 * `after` (the app's routes); served with `channels.websocket`.
 */
async function start(
  t: Tap,
  options: ChannelsOptions<AppEnv> = {},
  setup: { before?: (app: App, channels: Channels) => void; after?: (app: App, channels: Channels) => void } = {},
): Promise<Started> {
  const channels = createChannels<AppEnv>({ logger: quietLogger(), ...options })
  const app: App = new Hono<AppEnv>()
  app.use(channels.middleware)
  setup.before?.(app, channels)
  channels.routes(app)
  setup.after?.(app, channels)
  const server = await listen(t, app, channels.websocket)
  t.teardown(() => channels.close())
  const port = (server.address() as AddressInfo).port
  return {
    app,
    channels,
    hub: channels.hub,
    server,
    port,
    url: (path = '/ws/websocket') => `ws://127.0.0.1:${port}${path}`,
    http: (path, init) => fetch(`http://127.0.0.1:${port}${path}`, init),
  }
}

const opened = (ws: WebSocket) => new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)))

t.test('the seed chat flow through Hono, on /ws and /ws/websocket', opts, async (t) => {
  const leaves: string[] = []
  const { hub, channels, url } = await start(t, {}, { after: (_app, channels) => void defineChat(channels.hub, leaves) })
  const alice = await RawClient.connect(url('/ws'))
  const bob = await RawClient.connect(url('/ws/websocket'))

  t.same((await alice.join('room:lobby', {})).response, { reason: 'username required' }, 'no username: refused')
  const a = await alice.join('room:lobby', { username: 'alice' })
  t.same([a.status, a.response], ['ok', { room_id: 'lobby', message: 'Welcome to lobby!' }])
  const b = await bob.join('room:lobby', { username: 'bob' })
  t.equal(b.status, 'ok')
  const state = await bob.waitFor((f) => f[3] === 'presence_state')
  t.same(Object.keys(state[4]).sort(), ['user:alice', 'user:bob'], 'presence_state after the join reply')
  await alice.waitFor((f) => f[3] === 'presence_diff' && 'user:bob' in f[4].joins)

  t.same(await alice.push(a.joinRef, 'room:lobby', 'new_msg', { body: 'hi bob' }), { status: 'ok', response: { status: 'ok' } })
  const got = await bob.waitFor((f) => f[3] === 'new_msg')
  t.same(got, [null, got[1], 'room:lobby', 'new_msg', { username: 'alice', body: 'hi bob' }])
  t.match(got[1], POSITION)
  alice.send(a.joinRef, alice.nextRef(), 'room:lobby', 'typing', { typing: true })
  t.same((await bob.waitFor((f) => f[3] === 'typing'))[4], { username: 'alice', typing: true })
  const history = await bob.push(b.joinRef, 'room:lobby', 'get_history')
  t.same(history.response, { messages: [{ username: 'system', body: 'Welcome to the chat!' }] })
  // A marker broadcast now reaches alice after any echo of her messages would have.
  await broadcastMarker(hub, 'room:lobby', [alice])
  t.equal(alice.events('room:lobby', 'new_msg').length + alice.events('room:lobby', 'typing').length, 0, 'nothing echoed')

  await bob.push(b.joinRef, 'room:lobby', 'hb_leave')
  await alice.waitFor((f) => f[3] === 'presence_diff' && 'user:bob' in f[4].leaves)
  t.same(leaves, ['User bob left room:lobby'])
  t.same(Object.keys(channels.presence('room:lobby').list()), ['user:alice'], 'channels.presence')
  t.equal(hub.stats().connections, 2)
  await alice.close()
  await bob.close()
})

t.test('the phoenix dialect (vsn=2.0.0); an unknown version is an HTTP 400', opts, async (t) => {
  const { hub, url } = await start(t, {}, { after: (_app, channels) => void defineChat(channels.hub) })
  const c = await RawClient.connect(url() + '?vsn=2.0.0', 'phoenix')
  t.equal((await c.join('room:1', { username: 'p' })).status, 'ok')
  t.same(await c.request(null, 'phoenix', 'heartbeat'), { status: 'ok', response: {} })
  await c.close()
  await t.rejects(RawClient.connect(url() + '?vsn=9.9.9'), /HTTP 400/)
  t.equal(hub.stats().refusedUpgrades, 1, 'counted by the hub')
})

t.test('the official phoenix client; the connect hook gets the Hono context after the app middleware', opts, async (t) => {
  const seen: Array<{ path: string; hub: boolean; user?: string; raw: boolean; token?: string }> = []
  const { channels, port } = await start(t, {
    connect: (_params, c, info) => {
      seen.push({ path: c.req.path, hub: c.var.channels === channels.hub, user: c.var.user, raw: typeof c.env.incoming.headers === 'object', token: info.authToken })
      return info.authToken === 'secret' && { user: c.var.user }
    },
  }, {
    before: (app) => app.use('/ws/*', async (c, next) => (c.set('user', 'from-middleware'), next())),
    after: (_app, channels) => {
      defineChat(channels.hub)
      channels.channel('whoami').onJoin((_topic, _tp, _params, socket) => ['ok', socket.assigns])
    },
  })
  const socket = new PhoenixSocket(`ws://127.0.0.1:${port}/ws`, { transport: WebSocket, authToken: 'secret', reconnectAfterMs: () => 60_000 })
  t.teardown(() => socket.disconnect())
  socket.connect()
  const join = (topic: string, params: object) =>
    new Promise<any>((resolve, reject) => {
      socket.channel(topic, params).join().receive('ok', resolve).receive('error', reject).receive('timeout', () => reject(new Error('join timeout')))
    })
  t.same(await join('room:p', { username: 'phx' }), { room_id: 'p', message: 'Welcome to p!' })
  t.match(await join('whoami', {}), { user: 'from-middleware' }, 'the connect assigns reach the channel')
  t.same(seen, [{ path: '/ws/websocket', hub: true, user: 'from-middleware', raw: true, token: 'secret' }])
  t.same(Object.keys(channels.presence('room:p').list()), ['user:phx'])
})

t.test('REST routes reach the sockets through c.var.channels', opts, async (t) => {
  const { hub, url, http } = await start(t, {}, {
    after: (app, channels) => {
      defineChat(channels.hub)
      app.post('/rooms/:id/messages', async (c) => {
        const { body } = await c.req.json<{ body: string }>()
        await c.var.channels.broadcast(`room:${c.req.param('id')}`, 'new_msg', { username: 'api', body })
        return c.json({ sent: true }, 202)
      })
      app.get('/rooms/:id/presence', (c) => c.json(c.var.channels.presence(`room:${c.req.param('id')}`).list()))
    },
  })
  const alice = await RawClient.connect(url())
  const bob = await RawClient.connect(url())
  const other = await RawClient.connect(url())
  await alice.join('room:42', { username: 'alice' })
  await bob.join('room:42', { username: 'bob' })
  await other.join('room:7', { username: 'carol' })

  const res = await http('/rooms/42/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body: 'from REST' }) })
  t.equal(res.status, 202)
  for (const c of [alice, bob]) t.same((await c.waitFor((f) => f[3] === 'new_msg'))[4], { username: 'api', body: 'from REST' }, 'subscriber got it')
  await broadcastMarker(hub, 'room:7', [other])
  t.equal(other.events('room:7', 'new_msg').length, 0, 'another topic did not')

  const list = await (await http('/rooms/42/presence')).json()
  t.same(Object.keys(list).sort(), ['user:alice', 'user:bob'])
  t.equal(list['user:alice'].metas[0].username, 'alice')
  await bob.close()
  await eventually(async () => !('user:bob' in (await (await http('/rooms/42/presence')).json())), 2000, 'bob untracked')
  await alice.close()
  await other.close()
})

t.test('an auth middleware before the routes refuses the upgrade with 401; neighbouring routes are untouched', opts, async (t) => {
  let connects = 0
  let joins = 0
  const { hub, channels, url, http } = await start(t, { connect: () => (connects++, { user: 'u' }) }, {
    before: (app) =>
      app.use('/ws/*', async (c, next) => {
        if (c.req.header('authorization') !== 'Bearer good') return c.json({ error: 'unauthorized' }, 401)
        await next()
      }),
    after: (app) => {
      app.get('/health', (c) => c.json({ ok: true }))
      app.get('/echo', upgradeWebSocket(() => ({ onMessage: (event, ws) => ws.send(`echo ${event.data}`) })))
    },
  })
  channels.channel('room:*').onJoin(() => (joins++, ['ok']))

  await t.rejects(RawClient.connect(url('/ws')), /HTTP 401/, 'no credentials: HTTP 401')
  await t.rejects(RawClient.connect(url('/ws/websocket?token=x')), /HTTP 401/, 'on /ws/websocket too')
  t.equal(connects, 0, 'the connect hook did not run')
  t.equal(joins, 0, 'no channel code ran')
  t.same([hub.stats().connections, hub.stats().refusedUpgrades], [0, 0], 'the hub never saw them')

  const ok = new WebSocket(url(), { headers: { authorization: 'Bearer good' } })
  await opened(ok)
  t.equal(connects, 1, 'with credentials: the connect hook ran')
  t.equal(hub.stats().connections, 1, 'accepted')
  ok.close()

  const echo = new WebSocket(url('/echo'))
  echo.once('open', () => echo.send('x'))
  const reply = await new Promise<string>((resolve, reject) => (echo.once('message', (d) => resolve(d.toString())), echo.once('error', reject)))
  t.equal(reply, 'echo x', "the app's own upgradeWebSocket route, through the same ws server")
  echo.close()
  t.same(await (await http('/health')).json(), { ok: true }, 'normal routes are unaffected')
  t.equal((await http('/ws')).status, 401, 'plain GET /ws goes through the middleware too')
  await t.rejects(RawClient.connect(url('/nowhere')), /HTTP 404/, 'an unknown upgrade path is a 404')
  t.equal(hub.stats().connections, 0)
})

t.test('the connect hook: false refuses with 403; a plain GET is a 426 and runs no hook', opts, async (t) => {
  let connects = 0
  const { hub, url, http } = await start(t, { connect: (params) => (connects++, params.token === 'good' && { token: params.token }) })
  hub.channel('room:*').onJoin((_topic, _tp, _params, socket) => ['ok', socket.assigns])
  await t.rejects(RawClient.connect(url() + '?token=bad'), /HTTP 403/)
  const c = await RawClient.connect(url() + '?token=good')
  t.same((await c.join('room:1')).response, { token: 'good' }, 'connect assigns reach the channel')
  const plain = await http('/ws')
  t.same([plain.status, plain.headers.get('upgrade'), await plain.text()], [426, 'websocket', 'this endpoint speaks WebSocket'])
  t.equal(connects, 2, 'no connect hook for the plain GET')
  t.equal(hub.stats().refusedUpgrades, 1)
  await c.close()
})

t.test("a cross-origin browser upgrade is refused with 403 (the hub's checkOrigin)", opts, async (t) => {
  const { url, port } = await start(t)
  const evil = new WebSocket(url(), { origin: 'https://evil.example' })
  evil.on('error', () => {})
  const status = await new Promise<number>((resolve) => evil.once('unexpected-response', (req, res) => (resolve(res.statusCode ?? 0), req.destroy())))
  t.equal(status, 403)
  const same = new WebSocket(url(), { origin: `http://127.0.0.1:${port}` })
  await opened(same)
  t.pass('same origin accepted')
  same.close()
})

t.test('headers set by earlier middleware go out with the 101', opts, async (t) => {
  const { url } = await start(t, {}, { before: (app) => app.use('/ws/*', async (c, next) => (c.header('set-cookie', 'sid=abc; HttpOnly'), next())) })
  const ws = new WebSocket(url())
  let headers: Record<string, unknown> = {}
  ws.once('upgrade', (res) => (headers = res.headers))
  await opened(ws)
  t.same(headers['set-cookie'], ['sid=abc; HttpOnly'])
  ws.close()
})

t.test("the hub gets ws's own WebSocket, without node-server's relay listeners", opts, async (t) => {
  const { hub, url } = await start(t, {}, { after: (_app, channels) => void defineChat(channels.hub) })
  const accepted: WebSocket[] = []
  hub.endpoint.wss.on('connection', (ws: WebSocket) => accepted.push(ws))
  const c = await RawClient.connect(url())
  await eventually(() => accepted.length === 1, 2000, 'the connection event')
  const [ws] = accepted as [WebSocket]
  t.ok(ws instanceof WebSocket, 'a ws WebSocket')
  // node-server adds its listeners in microtasks after onOpen: a join's round trip comes later.
  t.equal((await c.join('room:x', { username: 'x' })).status, 'ok')
  t.same(['message', 'close', 'error'].map((e) => ws.listenerCount(e)), [1, 1, 1], "the hub's listeners only")
  await c.close()
})

t.test('your own ws server in serve() works too (subprotocols of your own routes)', opts, async (t) => {
  const channels = createChannels({ logger: quietLogger() })
  t.teardown(() => channels.close())
  defineChat(channels.hub)
  const app = new Hono<ChannelsEnv>()
  app.use(channels.middleware)
  channels.routes(app)
  app.get('/chat', upgradeWebSocket(() => ({ onOpen: (_event, ws) => ws.send(`protocol ${ws.protocol}`) })))
  const server = await listen(t, app, { server: new WebSocketServer({ noServer: true, maxPayload: channels.hub.options.maxPayload }) })
  const base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`
  const c = await RawClient.connect(`${base}/ws/websocket`)
  t.equal((await c.join('room:1', { username: 'own' })).status, 'ok')
  const own = new WebSocket(`${base}/chat`, ['chat.v1'])
  t.equal(await new Promise<string>((resolve) => own.once('message', (d) => resolve(d.toString()))), 'protocol chat.v1')
  own.close()
  await c.close()
})

t.test('channels.close(): 1012 to clients, leave hooks ran and presence empty before it resolves', opts, async (t) => {
  const order: string[] = []
  const { channels, hub, url, server } = await start(t, {}, {
    after: (_app, channels) =>
      channels.channel('room:*')
        .onJoin((topic, _tp, params, socket) => (channels.presence(topic).track(socket, String(params.u), {}), ['ok']))
        .onLeave(async (topic, _socket, reason) => {
          await sleep(30)
          order.push(`leave ${topic} ${reason}`)
        }),
  })
  const a = await RawClient.connect(url())
  const b = await RawClient.connect(url())
  await a.join('room:1', { u: 'a' })
  await b.join('room:2', { u: 'b' })
  t.equal(Object.keys(channels.presence('room:1').list()).length, 1)
  const timers = watchLongTimers()
  await channels.close()
  const longTimers = timers.stop()
  order.push('closed')
  t.same(longTimers, [], 'closed promptly: it waited on no timer of a second or more')
  t.same(order.slice(-1), ['closed'])
  t.same(order.slice(0, 2).sort(), ['leave room:1 shutdown', 'leave room:2 shutdown'], 'leave hooks ran before close resolved')
  t.same([channels.presence('room:1').list(), channels.presence('room:2').list()], [{}, {}], 'presence untracked')
  for (const c of [a, b]) t.equal((await c.waitForClose()).code, 1012, 'clients see 1012')
  t.equal(hub.stats().connections, 0)
  await t.rejects(RawClient.connect(url()), /HTTP 503/, 'new upgrades: 503')
  await new Promise((resolve) => server.close(resolve))
  t.pass('then the server closes: no socket held it open')
})

t.test('mounting an existing hub: close() closes its own sockets, the hub stays yours', opts, async (t) => {
  const hub = createHub({ logger: quietLogger() })
  t.teardown(() => hub.close())
  hub.channel('room:*').onJoin(() => ['ok', { hub: 'mine' }]).on('ping', () => ['reply', { pong: true }])
  const other = await RawClient.connect(`ws://127.0.0.1:${(await startPlain(t, hub)).port}/ws/websocket`)
  const { channels, url } = await start(t, { hub, path: '/live/' })
  t.equal(channels.hub, hub)
  const c = await RawClient.connect(url('/live/websocket'))
  t.same((await c.join('room:1')).response, { hub: 'mine' })
  const { joinRef } = await other.join('room:1')
  await channels.close()
  t.equal((await c.waitForClose()).code, 1012)
  t.same(await other.push(joinRef, 'room:1', 'ping'), { status: 'ok', response: { pong: true } }, 'the other socket lives on')
  t.equal(hub.stats().connections, 1)
  await other.close()
})

/** The same hub behind a plain node:http server. */
async function startPlain(t: Tap, hub: Hub): Promise<{ port: number }> {
  const { createServer } = await import('node:http')
  const server = createServer()
  hub.attach(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve))))
  return { port: (server.address() as AddressInfo).port }
}

t.test('GET <path>/hornbeam.js serves the browser bundle; serveClient: false does not', opts, async (t) => {
  const { http } = await start(t, { path: '/rt' })
  const client = dirname(createRequire(import.meta.url).resolve('@hornbeam/client/package.json'))
  const bundle = readFileSync(join(client, 'dist/browser/hornbeam.min.js'))
  const res = await http('/rt/hornbeam.js')
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^application\/javascript/)
  t.same(Buffer.from(await res.arrayBuffer()).equals(bundle), true, "the client's dist/browser/hornbeam.min.js, byte for byte")
  t.equal((await http('/rt/hornbeam.js', { method: 'HEAD' })).status, 200, 'HEAD too')
  const off = await start(t, { serveClient: false })
  t.equal((await off.http('/ws/hornbeam.js')).status, 404, 'not served')
})

t.test('an upgrade held up by a later middleware is refused after handshakeTimeoutMs', opts, async (t) => {
  const { url } = await start(t, { handshakeTimeoutMs: 300 }, { before: (app) => app.use('/ws/*', () => new Promise<never>(() => {})) })
  await t.rejects(RawClient.connect(url()), /HTTP 503/)
})

t.test('serve() without websocket: the upgrade is a 500 that says what is missing', opts, async (t) => {
  const logger = quietLogger()
  const channels = createChannels({ logger })
  t.teardown(() => channels.close())
  const app = new Hono<ChannelsEnv>()
  app.use(channels.middleware)
  channels.routes(app)
  const server = await listen(t, app)
  await t.rejects(RawClient.connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`), /HTTP 500/)
  t.match(logger.errors, [{}], 'logged')
})

t.test('CommonJS: require() is createChannels, carrying its named exports', opts, async (t) => {
  const script = `
    const assert = require('node:assert')
    const createChannels = require('@hornbeam/hono')
    assert.equal(typeof createChannels, 'function')
    assert.equal(createChannels.createChannels, createChannels)
    assert.equal(createChannels.default, createChannels)
    const { Hono } = require('hono')
    const channels = createChannels({ path: '/rt' })
    const app = channels.routes(new Hono())
    app.use(channels.middleware)
    assert.equal(typeof channels.websocket.server.handleUpgrade, 'function')
    channels.close().then(() => console.log('ok'))
  `
  const run = spawnSync(process.execPath, ['--no-experimental-require-module', '-e', script], { cwd: import.meta.dirname, encoding: 'utf8' })
  t.equal(run.stdout.trim(), 'ok', run.stderr)
})

t.test('long-poll at /ws/longpoll: the seed chat with a WebSocket user, after the app middleware, with Hono’s c for the connect hook', opts, async (t) => {
  const seen: any[] = []
  const { port } = await start(
    t,
    { connect: (_params, c) => void seen.push(c) ?? {} },
    {
      before: (app) =>
        app.use(async (c, next) => {
          if (c.req.header('x-deny') === '1') return c.text('no entry', 401)
          c.set('user', 'u1')
          await next()
        }),
      after: (_app, channels) => void defineChat(channels.hub),
    },
  )
  const base = `http://127.0.0.1:${port}`
  const denied = await request(`${base}/ws/longpoll?vsn=2.0.0`, { headers: { 'x-deny': '1' } })
  t.same([denied.http, denied.text], [401, 'no entry'], 'the middleware before the routes answered first')
  await longPollChat(t, base)
  t.ok(seen.length >= 1 && seen.every((c) => c.var.user === 'u1' && typeof c.req.header === 'function'), 'the connect hook got Hono’s context')
})
