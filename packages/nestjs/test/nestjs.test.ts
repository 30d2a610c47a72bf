// @hornbeam/nestjs on NestJS 12, platform-express and platform-fastify, against real listening
// apps (port 0): the chat as a decorated channel class with injected services, a controller
// broadcasting through ChannelsService, auth on the upgrade, the connect provider, app.close().
import t from 'tap'
import { RawClient, broadcastMarker, eventually, quietLogger, POSITION } from '../../../test/helpers/wire.js'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fixtureFile, loadFixture } from './helpers/fixtures.js'
import { platforms, rawUpgrade, startNest, type NestServer } from './helpers/nest.js'
import { longPollChat } from '../../../test/helpers/longpoll.js'

// NestJS 12 and this package through require(): see helpers/fixtures.ts.
const require = createRequire(import.meta.url)
const { ChannelsService } = require('@hornbeam/nestjs') as typeof import('@hornbeam/nestjs')
const fx = loadFixture<typeof import('./fixtures/chat-app.js')>('chat-app')
const opts = { timeout: 30000 }
// Sixteen Nest apps and two child processes: room for a busy machine.
t.setTimeout(300_000)

/** The connections the server still has open (refused upgrades must not linger). */
const openConnections = (srv: NestServer) =>
  new Promise<number>((resolve) => srv.app.getHttpServer().getConnections((_err: unknown, n: number) => resolve(n)))

for (const platform of platforms) {
  t.test(`${platform}: the chat flow through a decorated channel class with injected services`, opts, async (t) => {
    const srv = await startNest(t, platform, fx.chatAppModule({ channels: { logger: quietLogger() } }))
    const chat = srv.get<InstanceType<typeof fx.ChatService>>(fx.ChatService)
    const alice = await RawClient.connect(srv.url('/ws'))
    const bob = await RawClient.connect(srv.url('/ws/websocket'))
    t.teardown(() => Promise.all([alice.close(), bob.close()]))

    const refused = await alice.join('room:lobby', {})
    t.same([refused.status, refused.response], ['error', { reason: 'username required' }], 'no username: refused')
    const a = await alice.join('room:lobby', { username: 'alice' })
    t.same([a.status, a.response], ['ok', { room_id: 'lobby', message: 'Welcome to lobby!' }], 'alice joined')
    const b = await bob.join('room:lobby', { username: 'bob' })
    t.equal(b.status, 'ok', 'bob joined')
    const state = await bob.waitFor((f) => f[3] === 'presence_state')
    t.same(Object.keys(state[4]).sort(), ['user:alice', 'user:bob'], 'bob sees both in presence_state')
    await alice.waitFor((f) => f[3] === 'presence_diff' && 'user:bob' in f[4].joins, 2000, 'bob join diff')

    t.same(await alice.push(a.joinRef, 'room:lobby', 'new_msg', { body: 'hello bob' }), { status: 'ok', response: { status: 'ok' } }, 'reply')
    const got = await bob.waitFor((f) => f[3] === 'new_msg')
    t.same(got, [null, got[1], 'room:lobby', 'new_msg', { username: 'alice', body: 'hello bob' }], 'broadcastFrom reached bob')
    t.match(got[1], POSITION, 'with its history position')
    t.same(
      await alice.push(a.joinRef, 'room:lobby', 'new_msg', { body: '' }),
      { status: 'error', response: { status: 'error', reason: 'empty message' } },
      'an error reply',
    )
    alice.send(a.joinRef, alice.nextRef(), 'room:lobby', 'typing', { typing: true })
    t.same((await bob.waitFor((f) => f[3] === 'typing'))[4], { username: 'alice', typing: true }, 'typing relayed, noreply')
    const history = await bob.push(b.joinRef, 'room:lobby', 'get_history', {})
    t.same(history, { status: 'ok', response: { messages: [{ username: 'system', body: 'Welcome to the chat!' }] } }, 'async hook, injected service')
    await broadcastMarker(srv.hub, 'room:lobby', [alice])
    t.equal(alice.events('room:lobby', 'new_msg').length + alice.events('room:lobby', 'typing').length, 0, 'the sender gets no echo')

    await bob.push(b.joinRef, 'room:lobby', 'hb_leave', {})
    await alice.waitFor((f) => f[3] === 'presence_diff' && 'user:bob' in f[4].leaves, 2000, 'bob leave diff')
    t.same(chat.leaves, ['User bob left room:lobby'], 'the leave hook ran, through the injected service')
    t.same(chat.reasons, ['leave'], 'with its reason')
    t.same(Object.keys(srv.hub.presence('room:lobby').list()), ['user:alice'])
    const stats = srv.hub.stats()
    t.match(stats, { connections: 2, joins: 2, joinsRefused: 1, crashes: 0 }, 'hub.stats()')
  })

  t.test(`${platform}: long-poll at /ws/longpoll, through the platform's adapter, beside a WebSocket user`, opts, async (t) => {
    const srv = await startNest(t, platform, fx.chatAppModule({ channels: { logger: quietLogger() } }))
    await longPollChat(t, `http://127.0.0.1:${srv.port}`)
    t.equal(srv.hub.stats().longPollSessions, 1)
  })

  t.test(`${platform}: a controller broadcasts through ChannelsService; neighbouring routes untouched`, opts, async (t) => {
    const srv = await startNest(t, platform, fx.chatAppModule({ channels: { logger: quietLogger() } }))
    const alice = await RawClient.connect(srv.url())
    const other = await RawClient.connect(srv.url())
    t.teardown(() => Promise.all([alice.close(), other.close()]))
    await alice.join('room:42', { username: 'alice' })
    await other.join('room:7', { username: 'carol' })

    const posted = await srv.http('/rooms/42/announce', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ body: 'from REST' }),
    })
    t.same([posted.status, await posted.json()], [202, { sent: true }], 'POST /rooms/:id/announce')
    const got = await alice.waitFor((f) => f[3] === 'new_msg')
    t.same(got[4], { username: 'announcement', body: 'from REST' }, 'the socket got the broadcast')
    await broadcastMarker(srv.hub, 'room:7', [other])
    t.equal(other.events('room:7', 'new_msg').length, 0, 'another topic did not')

    const list = await (await srv.http('/rooms/42/presence')).json()
    t.same(Object.keys(list), ['user:alice'], 'presence through ChannelsService')
    t.same(await (await srv.http('/hello')).json(), { hello: 'world' }, 'a neighbouring route')
    const missing = await srv.http('/nowhere')
    t.equal(missing.status, 404, "an unknown route: Nest's 404")
    t.match(await missing.json(), { statusCode: 404 }, "in Nest's JSON form")
    t.equal((await srv.http('/ws/hornbeam.js')).status, 200, 'the client bundle under the path')
    // A plain GET on the endpoint: on Express it goes on to Nest, on Fastify the endpoint is a route.
    t.equal((await srv.http('/ws')).status, platform === 'express' ? 404 : 426, 'a plain GET /ws')
    await t.rejects(RawClient.connect(srv.url('/elsewhere')), /HTTP 404/, 'an upgrade elsewhere: 404')
    t.equal(srv.hub.stats().refusedUpgrades, 0, 'not counted by the hub')
  })

  t.test(`${platform}: a Nest middleware refuses the upgrade with 401 before the hub sees it`, opts, async (t) => {
    const srv = await startNest(t, platform, fx.chatAppModule({ channels: { logger: quietLogger() }, connect: 'forRoot', auth: true }))
    const users = srv.get<InstanceType<typeof fx.UsersService>>(fx.UsersService)

    await t.rejects(RawClient.connect(srv.url('/ws')), /HTTP 401/, 'no token: 401')
    await t.rejects(RawClient.connect(srv.url('/ws/websocket?token=bad')), /HTTP 401/, 'a bad token: 401')
    const raw = await rawUpgrade(srv.port, '/ws/websocket?token=nope')
    t.equal(raw.status, 401)
    t.match(JSON.parse(raw.body), { statusCode: 401, message: 'who are you?' }, "Nest's exception response")
    t.ok(raw.closed, 'then the socket closes')
    t.same(users.refused, ['/ws', '/ws/websocket', '/ws/websocket'], 'the middleware refused them')
    t.same(users.lookups, [], 'the connect provider never ran')
    t.match(srv.hub.stats(), { connections: 0, joins: 0, refusedUpgrades: 0 }, 'nor did anything in the hub')
    await eventually(async () => (await openConnections(srv)) === 0, 10000, 'refused sockets closed')

    const good = await RawClient.connect(srv.url('/ws/websocket?token=good'))
    t.teardown(() => good.close())
    const j = await good.join('room:1', { username: 'ada' })
    t.equal(j.status, 'ok', 'a good token connects')
    t.same((await good.push(j.joinRef, 'room:1', 'whoami')).response, { user: 'u1' }, 'with the assigns of the connect provider')
    t.same(users.lookups, ['good'])
    t.same(await (await srv.http('/hello')).json(), { hello: 'world' }, 'other routes pass the middleware')
  })

  t.test(`${platform}: middleware added with app.use() before listen refuses the upgrade`, opts, async (t) => {
    const seen: string[] = []
    const srv = await startNest(t, platform, fx.chatAppModule({ channels: { logger: quietLogger() }, connect: 'forRoot' }), {
      // Node's own request and response, as both platforms give them to app.use() middleware.
      before: (app) =>
        void app.use((req: { url: string; headers: Record<string, string> }, res: any, next: () => void) => {
          seen.push(req.url)
          if (req.headers.upgrade && !req.url.includes('token=good')) {
            res.statusCode = 401
            res.setHeader('content-type', 'text/plain')
            return void res.end('sign in first')
          }
          next()
        }),
    })
    const users = srv.get<InstanceType<typeof fx.UsersService>>(fx.UsersService)
    const raw = await rawUpgrade(srv.port, '/ws/websocket?token=bad')
    t.same(raw, { status: 401, body: 'sign in first', closed: true }, "the middleware's response, then the socket closes")
    await t.rejects(RawClient.connect(srv.url('/ws')), /HTTP 401/)
    t.same(users.lookups, [], 'the connect provider never ran')
    t.equal(srv.hub.stats().refusedUpgrades, 0)
    const good = await RawClient.connect(srv.url('/ws?token=good'))
    t.teardown(() => good.close())
    t.same(users.lookups, ['good'], 'let through: the connect provider ran')
    t.ok(seen.includes('/ws?token=good'), 'the middleware saw it first')
    t.same(await (await srv.http('/hello')).json(), { hello: 'world' })
  })

  for (const how of ['forRoot', 'forRootAsync'] as const) {
    t.test(`${platform}: the connect provider uses an injected service (${how})`, opts, async (t) => {
      const srv = await startNest(t, platform, fx.chatAppModule({ channels: { logger: quietLogger() }, connect: how }))
      const users = srv.get<InstanceType<typeof fx.UsersService>>(fx.UsersService)
      await t.rejects(RawClient.connect(srv.url('/ws?token=bad')), /HTTP 403/, 'refused by the provider: 403')
      t.same(users.lookups, ['bad'], 'it asked the injected UsersService')
      t.equal(srv.hub.stats().refusedUpgrades, 1, 'the hub counted the refusal')
      const c = await RawClient.connect(srv.url('/ws?token=good'))
      t.teardown(() => c.close())
      const j = await c.join('room:1', { username: 'ada' })
      t.same((await c.push(j.joinRef, 'room:1', 'whoami')).response, { user: 'u1' }, 'its assigns reach the channel')
      if (how === 'forRootAsync') {
        // The factory's id hook names the connection after the user.
        srv.get<InstanceType<typeof ChannelsService>>(ChannelsService).disconnect('u1', 4001, 'bye')
        t.same(await c.waitForClose(), { code: 4001, reason: 'bye' }, 'ChannelsService.disconnect(user)')
      }
    })
  }

  t.test(`${platform}: app.close() closes the hub gracefully: 1012, leave hooks, presence untracked`, opts, async (t) => {
    const srv = await startNest(t, platform, fx.chatAppModule({ channels: { logger: quietLogger() } }))
    const chat = srv.get<InstanceType<typeof fx.ChatService>>(fx.ChatService)
    const alice = await RawClient.connect(srv.url())
    const bob = await RawClient.connect(srv.url())
    await alice.join('room:lobby', { username: 'alice' })
    await bob.join('room:other', { username: 'bob' })
    t.equal(Object.keys(srv.hub.presence('room:lobby').list()).length, 1)
    t.equal(srv.hub.stats().connections, 2)
    await srv.close()
    t.same(chat.leaves.sort(), ['User alice left room:lobby', 'User bob left room:other'], 'leave hooks ran before app.close() resolved')
    t.same(chat.reasons, ['shutdown', 'shutdown'])
    t.same(srv.hub.presence('room:lobby').list(), {}, 'presence untracked')
    t.same(srv.hub.presence('room:other').list(), {})
    t.match(srv.hub.stats(), { connections: 0, channels: 0 })
    for (const c of [alice, bob]) t.equal((await c.waitForClose()).code, 1012, 'clients get 1012')
  })
}

for (const platform of platforms) {
  // A cold start of NestJS as ES modules takes seconds on a busy machine: the test's own timeout.
  t.test(`${platform}: enableShutdownHooks() and SIGTERM close the hub gracefully (the ES module build, plain node)`, { timeout: 90000 }, async (t) => {
    const child = spawn(process.execPath, [fixtureFile('server', 'mjs'), platform], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stderr.on('data', (d) => (out += d))
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
    t.teardown(() => void child.kill('SIGKILL'))
    const listening = new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d
        const m = /listening on (http:\/\/[\d.:]+)/.exec(out)
        if (m) resolve(m[1]!)
      })
      void exited.then(({ code }) => reject(new Error(`the app exited with ${code}: ${out}`)))
    })
    const url = (await listening).replace('http', 'ws')
    const alice = await RawClient.connect(`${url}/ws/websocket`)
    await alice.join('room:lobby', { username: 'alice' })
    const started = Date.now()
    child.kill('SIGTERM')
    t.equal((await alice.waitForClose(5000)).code, 1012, 'the client got 1012')
    const { code, signal } = await exited
    t.comment(`exited ${Date.now() - started} ms after SIGTERM`)
    // Nest re-raises the signal once shut down; with nothing left open, the process may end first.
    t.ok(code === 0 || signal === 'SIGTERM', `the process ended (code ${code}, signal ${signal})`)
    t.match(out, /shutdown SIGTERM: \["User alice left room:lobby"\] \["shutdown"\]/, 'the leave hook ran before onApplicationShutdown')
    t.notMatch(out, /ERROR|Error/, out)
  })
}
