// @hornbeam/fastify against real listening Fastify servers (port 0): the seed's chat, REST routes
// through request.channels, the app's hooks on the upgrade, the connect hook, graceful close.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import WebSocket from 'ws'
import channels, { type ChannelsPluginOptions } from '@hornbeam/fastify'
import { RawClient, eventually, sleep, quietLogger, broadcastMarker, watchLongTimers, POSITION } from '../../../test/helpers/wire.js'
import { defineChat } from '../../../test/fixtures/chat.js'
import { LongPollClient, longPollChat, request } from '../../../test/helpers/longpoll.js'
// @ts-expect-error the phoenix package ships no types
import { Socket as PhoenixSocket } from 'phoenix'

const opts = { timeout: 15000 }

interface App {
  app: FastifyInstance
  port: number
  url: (path?: string) => string
  http: (path: string, init?: RequestInit) => Promise<Response>
}

/** A Fastify app with the plugin, listening on port 0; `setup` runs before and after register. */
async function start(
  t: { teardown: (fn: () => unknown) => void },
  options: ChannelsPluginOptions = {},
  setup: { before?: (app: FastifyInstance) => void | Promise<void>; after?: (app: FastifyInstance) => void | Promise<void> } = {},
): Promise<App> {
  const app = Fastify()
  await setup.before?.(app)
  await app.register(channels, { logger: quietLogger(), ...options })
  await setup.after?.(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  t.teardown(() => app.close())
  return {
    app,
    port,
    url: (path = '/ws/websocket') => `ws://127.0.0.1:${port}${path}`,
    http: (path, init) => fetch(`http://127.0.0.1:${port}${path}`, init),
  }
}

t.test('the seed chat flow through Fastify, on /ws and /ws/websocket', opts, async (t) => {
  const leaves: string[] = []
  const { app, url } = await start(t, {}, { after: (app) => void defineChat(app.channels, leaves) })
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
  await broadcastMarker(app.channels, 'room:lobby', [alice])
  t.equal(alice.events('room:lobby', 'new_msg').length + alice.events('room:lobby', 'typing').length, 0, 'nothing echoed')

  await bob.push(b.joinRef, 'room:lobby', 'hb_leave')
  await alice.waitFor((f) => f[3] === 'presence_diff' && 'user:bob' in f[4].leaves)
  t.same(leaves, ['User bob left room:lobby'])
  t.same(Object.keys(app.presence('room:lobby').list()), ['user:alice'], 'app.presence')
  await alice.close()
  await bob.close()
})

t.test('the phoenix dialect (vsn=2.0.0) through Fastify', opts, async (t) => {
  const { url } = await start(t, {}, { after: (app) => void defineChat(app.channels) })
  const c = await RawClient.connect(url() + '?vsn=2.0.0', 'phoenix')
  const j = await c.join('room:1', { username: 'p' })
  t.equal(j.status, 'ok')
  t.same(await c.request(null, 'phoenix', 'heartbeat'), { status: 'ok', response: {} })
  await c.close()
  await t.rejects(RawClient.connect(url() + '?vsn=9.9.9'), /HTTP 400/, 'an unknown version is an HTTP 400')
})

t.test('the official phoenix client, with an auth token read by the connect hook', opts, async (t) => {
  const { app, port } = await start(t, {
    connect: (_params, request, info) => {
      t.equal(request.routeOptions.url, '/ws/websocket', 'a FastifyRequest')
      return info.authToken === 'secret' && { user: 'tok' }
    },
  })
  defineChat(app.channels)
  const socket = new PhoenixSocket(`ws://127.0.0.1:${port}/ws`, { transport: WebSocket, authToken: 'secret', reconnectAfterMs: () => 60_000 })
  t.teardown(() => socket.disconnect())
  socket.connect()
  const channel = socket.channel('room:p', { username: 'phx' })
  const joined = await new Promise<any>((resolve, reject) => {
    channel.join().receive('ok', resolve).receive('error', reject).receive('timeout', () => reject(new Error('join timeout')))
  })
  t.same(joined, { room_id: 'p', message: 'Welcome to p!' })
  const reply = await new Promise<any>((resolve) => channel.push('get_history', {}).receive('ok', resolve))
  t.equal(reply.messages[0].username, 'system')
  t.same(Object.keys(app.presence('room:p').list()), ['user:phx'])
})

t.test('REST routes reach the sockets through request.channels', opts, async (t) => {
  const { app, url, http } = await start(t, {}, {
    after: (app) => {
      defineChat(app.channels)
      app.post<{ Params: { id: string }; Body: { body: string } }>('/rooms/:id/messages', async (request, reply) => {
        request.channels.broadcast(`room:${request.params.id}`, 'new_msg', { username: 'api', body: request.body.body })
        return reply.code(202).send({ sent: true })
      })
      app.get<{ Params: { id: string } }>('/rooms/:id/presence', async (request) => {
        return request.channels.presence(`room:${request.params.id}`).list()
      })
    },
  })
  const alice = await RawClient.connect(url())
  const bob = await RawClient.connect(url())
  const other = await RawClient.connect(url())
  await alice.join('room:42', { username: 'alice' })
  await bob.join('room:42', { username: 'bob' })
  await other.join('room:7', { username: 'carol' })

  const res = await http('/rooms/42/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ body: 'from REST' }),
  })
  t.equal(res.status, 202)
  for (const c of [alice, bob]) {
    t.same((await c.waitFor((f) => f[3] === 'new_msg'))[4], { username: 'api', body: 'from REST' }, 'subscriber got it')
  }
  // The same hub's marker on room:7 reaches other after anything broadcast to it before.
  await broadcastMarker(app.channels, 'room:7', [other])
  t.equal(other.events('room:7', 'new_msg').length, 0, 'another topic did not')

  const list = await (await http('/rooms/42/presence')).json()
  t.same(Object.keys(list).sort(), ['user:alice', 'user:bob'])
  t.equal(list['user:alice'].metas[0].username, 'alice')
  t.type(list['user:alice'].metas[0].hb_ref, 'string')
  await bob.close()
  await eventually(async () => !('user:bob' in (await (await http('/rooms/42/presence')).json())), 2000, 'bob untracked')
  await alice.close()
  await other.close()
})

for (const when of ['before', 'after'] as const) {
  t.test(`an onRequest auth hook (added ${when} the plugin) refuses the upgrade with 401`, opts, async (t) => {
    let connects = 0
    let joins = 0
    const auth = (app: FastifyInstance) => {
      app.addHook('onRequest', async (request, reply) => {
        if (request.url.startsWith('/ws') && request.headers.authorization !== 'Bearer good') {
          return reply.code(401).send({ error: 'unauthorized' })
        }
      })
    }
    const { app, url, http } = await start(t, { connect: () => (connects++, { user: 'u' }) }, {
      [when]: auth,
      after: (app: FastifyInstance) => {
        if (when === 'after') auth(app)
        app.get('/health', async () => ({ ok: true }))
        // websocket routes need @fastify/websocket registered first: the plugin did that
        app.get('/echo', { websocket: true }, (socket) => void socket.on('message', (m) => socket.send(`echo ${m}`)))
      },
    })
    app.channel('room:*').onJoin(() => (joins++, ['ok']))

    await t.rejects(RawClient.connect(url('/ws')), /HTTP 401/, 'no credentials: HTTP 401')
    await t.rejects(RawClient.connect(url('/ws/websocket?token=x')), /HTTP 401/, 'on /ws/websocket too')
    t.equal(connects, 0, 'the connect hook did not run')
    t.equal(joins, 0, 'no channel code ran')
    t.equal(app.channels.stats().connections, 0)

    const ok = new WebSocket(url(), { headers: { authorization: 'Bearer good' } })
    await new Promise((resolve, reject) => (ok.once('open', resolve), ok.once('error', reject)))
    t.equal(connects, 1, 'with credentials: the connect hook ran')
    await eventually(() => app.channels.stats().connections === 1, 1000, 'accepted')
    ok.close()

    const echo = new WebSocket(url('/echo'))
    const [reply] = await new Promise<[string]>((resolve, reject) => {
      echo.once('open', () => echo.send('x'))
      echo.once('message', (d) => resolve([d.toString()]))
      echo.once('error', reject)
    })
    t.equal(reply, 'echo x', 'another websocket route is unaffected')
    echo.close()
    t.same(await (await http('/health')).json(), { ok: true }, 'normal routes are unaffected')
    t.equal((await http('/ws')).status, 401, 'plain GET /ws goes through the hook too')
    await t.rejects(RawClient.connect(url('/nowhere')), /HTTP 404/, 'an unknown upgrade path is a 404')
  })
}

t.test('the connect hook gets the FastifyRequest; false refuses with 403', opts, async (t) => {
  const seen: Array<{ url: string | undefined; method: string; ws: boolean; hasRaw: boolean; query: unknown; user?: string }> = []
  const { app, url } = await start(t, {
    connect: (params, request: FastifyRequest) => {
      seen.push({
        url: request.routeOptions.url,
        method: request.method,
        ws: request.ws,
        hasRaw: typeof request.raw.headers === 'object',
        query: request.query,
        user: (request as FastifyRequest & { user?: string }).user,
      })
      if (params.token !== 'good') return false
      return { user: (request as FastifyRequest & { user?: string }).user, token: params.token }
    },
  }, {
    before: (app) => {
      app.decorateRequest('user', '')
      app.addHook('onRequest', async (request) => {
        ;(request as FastifyRequest & { user?: string }).user = 'from-auth-hook'
      })
    },
  })
  app.channel('room:*').onJoin((_topic, _tp, _params, socket) => ['ok', socket.assigns])
  await t.rejects(RawClient.connect(url() + '?token=bad'), /HTTP 403/)
  const c = await RawClient.connect(url() + '?token=good')
  t.same((await c.join('room:1')).response, { user: 'from-auth-hook', token: 'good' }, 'connect assigns reach the channel')
  t.same(seen[1], { url: '/ws/websocket', method: 'GET', ws: true, hasRaw: true, query: { token: 'good' }, user: 'from-auth-hook' })
  t.equal(seen.length, 2)
  const plain = await fetch(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`)
  t.equal(plain.status, 426, 'a plain GET on the endpoint: 426 Upgrade Required')
  t.equal(seen.length, 2, 'and no connect hook for it')
  await c.close()
})

t.test('a cross-origin browser upgrade is refused with 403 (the hub\'s checkOrigin)', opts, async (t) => {
  const { url, port } = await start(t)
  const evil = new WebSocket(url(), { origin: 'https://evil.example' })
  evil.on('error', () => {})
  const status = await new Promise<number>((resolve) =>
    evil.once('unexpected-response', (req, res) => (resolve(res.statusCode ?? 0), req.destroy())))
  t.equal(status, 403)
  const same = new WebSocket(url(), { origin: `http://127.0.0.1:${port}` })
  await new Promise((resolve, reject) => (same.once('open', resolve), same.once('error', reject)))
  t.pass('same origin accepted')
  same.close()
})

t.test('fastify.close(): 1012 to clients, leave hooks ran and presence empty before it resolves', opts, async (t) => {
  const app = Fastify()
  await app.register(channels, { logger: quietLogger() })
  const order: string[] = []
  app.channel('room:*')
    .onJoin((topic, _tp, params, socket) => (app.presence(topic).track(socket, params.u, {}), ['ok']))
    .onLeave(async (topic, socket, reason) => {
      await sleep(30)
      order.push(`leave ${topic} ${reason}`)
    })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws/websocket`
  const a = await RawClient.connect(url)
  const b = await RawClient.connect(url)
  await a.join('room:1', { u: 'a' })
  await b.join('room:2', { u: 'b' })
  t.equal(Object.keys(app.presence('room:1').list()).length, 1)
  const started = Date.now()
  const timers = watchLongTimers()
  await app.close()
  const longTimers = timers.stop()
  order.push('closed')
  t.comment(`closed in ${Date.now() - started} ms`)
  t.same(longTimers, [], 'closed promptly: it waited on no timer of a second or more')
  t.same(order.slice(-1), ['closed'])
  t.same(order.slice(0, 2).sort(), ['leave room:1 shutdown', 'leave room:2 shutdown'], 'leave hooks ran before close resolved')
  t.same(app.presence('room:1').list(), {}, 'presence empty')
  t.same(app.presence('room:2').list(), {})
  for (const c of [a, b]) t.equal((await c.waitForClose()).code, 1012, 'clients see 1012')
  t.equal(app.channels.stats().connections, 0)
})

t.test('@fastify/websocket registered by the user first: used, not registered twice', opts, async (t) => {
  const { default: websocket } = await import('@fastify/websocket')
  const app = Fastify()
  await app.register(websocket, { options: { perMessageDeflate: false, maxPayload: 4096 } })
  app.get('/echo', { websocket: true }, (socket) => void socket.on('message', (m) => socket.send(`echo ${m}`)))
  const wss = app.websocketServer
  await app.register(channels, { logger: quietLogger(), maxPayload: 4096 })
  t.equal(app.websocketServer, wss, 'the same ws server')
  const leaves: string[] = []
  defineChat(app.channels, leaves)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const theirs = app.server.listeners('upgrade').filter((l) => l.name !== 'hornbeamHandshakeGuard')
  t.equal(theirs.length, 1, 'one upgrade listener: @fastify/websocket was not registered twice')
  const port = (app.server.address() as AddressInfo).port

  const alice = await RawClient.connect(`ws://127.0.0.1:${port}/ws`)
  const bob = await RawClient.connect(`ws://127.0.0.1:${port}/ws`)
  const a = await alice.join('room:x', { username: 'alice' })
  await bob.join('room:x', { username: 'bob' })
  await alice.push(a.joinRef, 'room:x', 'new_msg', { body: 'yo' })
  t.same((await bob.waitFor((f) => f[3] === 'new_msg'))[4], { username: 'alice', body: 'yo' })
  const echo = new WebSocket(`ws://127.0.0.1:${port}/echo`)
  await new Promise((resolve) => echo.once('open', resolve))
  const echoClosed = new Promise<number>((resolve) => echo.once('close', (code) => resolve(code)))

  await app.close()
  for (const c of [alice, bob]) t.equal((await c.waitForClose()).code, 1012, 'channel sockets get 1012, not ws’s bare close')
  t.same(leaves.sort(), ['User alice left room:x', 'User bob left room:x'], 'leave hooks ran')
  t.same(app.presence('room:x').list(), {})
  t.ok(await echoClosed, 'the user’s own websocket route is closed by @fastify/websocket as before')
})

t.test('injectWS: join, push and a refused upgrade, without listening', opts, async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(channels, { logger: quietLogger(), connect: (params) => params.token === 'ok' && { token: 'ok' } })
  defineChat(app.channels)
  await app.ready()

  const ws = await app.injectWS('/ws/websocket?token=ok')
  const frames: any[] = []
  ws.on('message', (d) => frames.push(JSON.parse(d.toString())))
  const waitFor = (pred: (f: any[]) => boolean) => eventually(() => frames.some(pred), 2000).then(() => frames.find(pred))
  ws.send(JSON.stringify(['1', '1', 'room:lobby', 'hb_join', { username: 'inj' }]))
  const joined = await waitFor((f) => f[1] === '1' && f[3] === 'hb_reply')
  t.same(joined[4], { status: 'ok', response: { room_id: 'lobby', message: 'Welcome to lobby!' } })
  await waitFor((f) => f[3] === 'presence_state')
  ws.send(JSON.stringify(['1', '2', 'room:lobby', 'get_history', {}]))
  const history = await waitFor((f) => f[1] === '2')
  t.equal(history[4].response.messages[0].body, 'Welcome to the chat!')
  t.same(Object.keys(app.presence('room:lobby').list()), ['user:inj'])

  await t.rejects(app.injectWS('/ws/websocket?token=no'), /Unexpected server response: 403/, 'refused: 403')
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
  await app.close()
  t.equal(await closed, 1012)
  t.same(app.presence('room:lobby').list(), {})
})

t.test('mounting an existing hub: fastify.close() closes its own sockets, the hub stays yours', opts, async (t) => {
  const { createHub } = await import('@hornbeam/channels')
  const hub = createHub({ logger: quietLogger() })
  t.teardown(() => hub.close())
  hub.channel('room:*').onJoin(() => ['ok', { hub: 'mine' }])
  const app = Fastify()
  await app.register(channels, { hub, path: '/live/' })
  t.equal(app.channels, hub)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const c = await RawClient.connect(`ws://127.0.0.1:${port}/live/websocket`)
  t.same((await c.join('room:1')).response, { hub: 'mine' })
  await app.close()
  t.equal((await c.waitForClose()).code, 1012)
  t.equal(hub.stats().connections, 0)
  t.ok(hub.presence('room:1'), 'the hub itself is still usable')
})

t.test('GET <path>/hornbeam.js serves the browser bundle', opts, async (t) => {
  const { http } = await start(t, { path: '/rt' })
  // Built before the tests (npm run build): a missing bundle fails here, it is not the 404 case
  // (that one is the next test, with @hornbeam/client made unresolvable on purpose).
  const client = dirname(createRequire(import.meta.url).resolve('@hornbeam/client/package.json'))
  const bundle = readFileSync(join(client, 'dist/browser/hornbeam.min.js'), 'utf8')
  const res = await http('/rt/hornbeam.js')
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^application\/javascript/)
  t.equal(await res.text(), bundle, "the client's dist/browser/hornbeam.min.js, as built")
})

t.test('without @hornbeam/client installed, hornbeam.js is a 404 that says so', opts, async (t) => {
  const { channels: isolated } = await t.mockImport<typeof import('@hornbeam/fastify')>('@hornbeam/fastify', {
    'node:module': {
      createRequire: () => ({
        resolve: (id: string) => {
          throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' })
        },
      }),
    },
  })
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(isolated, { logger: quietLogger() })
  const res = await app.inject('/ws/hornbeam.js')
  t.equal(res.statusCode, 404)
  t.match(res.body, /@hornbeam\/client is not installed/)
  const ws = await app.injectWS('/ws')
  t.ok(ws, 'the endpoint still works')
  ws.terminate()
})

t.test('an upgrade held up by an app hook is refused after handshakeTimeoutMs', opts, async (t) => {
  const { url } = await start(t, { handshakeTimeoutMs: 300 }, {
    before: (app) => void app.addHook('onRequest', (_request, _reply, _done) => {}), // never calls done
  })
  await t.rejects(RawClient.connect(url()), /HTTP 503/)
})

t.test('long-poll at /ws/longpoll: the seed chat with a WebSocket user, after the app’s hooks, with Fastify’s request for the connect hook', opts, async (t) => {
  const requests: unknown[] = []
  const { port } = await start(
    t,
    { connect: (_params, request) => void requests.push(request) ?? {} },
    {
      before: (app) => {
        app.addHook('onRequest', async (request, reply) => {
          if (request.headers['x-deny'] === '1') return reply.code(401).send('no entry')
        })
      },
      after: (app) => void defineChat(app.channels),
    },
  )
  const base = `http://127.0.0.1:${port}`
  const denied = await fetch(`${base}/ws/longpoll?vsn=2.0.0`, { headers: { 'x-deny': '1' } })
  t.same([denied.status, await denied.text()], [401, 'no entry'], 'the app’s onRequest hook answered first')
  await longPollChat(t, base)
  t.ok(requests.length >= 2 && requests.every((r) => typeof (r as FastifyRequest).raw === 'object' && 'routeOptions' in (r as object)), 'the connect hook got FastifyRequests')
  // A JSON body (a content type Fastify would parse) reaches the core untouched.
  const lp = await LongPollClient.open(`${base}/ws/longpoll`)
  lp.start()
  t.teardown(() => lp.stop())
  const sent = await request(lp.url(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(['1', '1', 'room:x', 'phx_join', { username: 'carol' }]) })
  t.same([sent.http, sent.status], [200, 200])
  t.equal((await lp.waitFor((f) => f[1] === '1'))[4].status, 'ok', 'a one-frame JSON body is a frame')
})
