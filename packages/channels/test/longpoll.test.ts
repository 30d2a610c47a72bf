// The long-poll transport on plain node:http (`hub.attach`), over real HTTP: a session is a
// connection like a WebSocket (same connect hook, channels, presence, broadcasts), polls wait
// and time out, a session whose client stops polling ends like a closed socket, and the answers
// are those Phoenix's protocol gives.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createHub } from '@hornbeam/channels'
import { RawClient, startServer, eventually, quietLogger } from '../../../test/helpers/wire.js'
import { LongPollClient, request } from '../../../test/helpers/longpoll.js'

const fast = { longPoll: { pollTimeoutMs: 300, sessionTimeoutMs: 400 } }

function chat(hub: ReturnType<typeof createHub>, left: string[] = []) {
  const room = hub.channel('room:*')
  room.onJoin((topic, _tp, params, socket) => {
    if (!params.username) return ['error', { reason: 'username required' }]
    const joined = socket.assign('username', params.username)
    hub.presence(topic).track(joined, `user:${params.username}`, { username: params.username })
    return ['ok', { joined: topic }, joined]
  })
  room.on('new_msg', (payload, socket) => {
    socket.broadcastFrom('new_msg', { username: socket.assigns.username, body: payload.body })
    return ['reply', { status: 'ok' }, socket]
  })
  room.onLeave((_topic, socket) => void left.push(String(socket.assigns.username)))
}

t.test('a session: opened with 410 and a token, joins, pushes, gets broadcasts, and a WebSocket user sees it', async (t) => {
  const srv = await startServer(fast)
  t.teardown(srv.close)
  chat(srv.hub)
  const endpoint = `http://127.0.0.1:${srv.port}/ws/longpoll`

  const lp = await LongPollClient.open(endpoint)
  t.match(lp.token, /^hblp1\./, 'the token is a session token')
  t.equal(srv.hub.stats().longPollSessions, 1)
  t.equal(srv.hub.stats().connections, 1, 'a session is a connection')

  // Nothing queued: the poll waits the poll timeout, then says 204.
  const empty = await lp.poll()
  t.same([empty.http, empty.status, empty.token, empty.messages], [200, 204, lp.token, []], '204 in the body, HTTP 200')
  t.equal(empty.headers.get('cache-control'), 'no-store')

  lp.start()
  t.teardown(() => lp.stop())
  const joined = await lp.join('room:lobby', { username: 'alice' })
  t.same([joined.status, joined.response], ['ok', { joined: 'room:lobby' }])
  await lp.waitFor((f) => f[3] === 'presence_state')

  const ws = await RawClient.connect(srv.url() + '?vsn=2.0.0', 'phoenix')
  t.teardown(() => ws.close())
  const wsJoin = await ws.join('room:lobby', { username: 'bob' })
  t.equal(wsJoin.status, 'ok')
  await lp.waitFor((f) => f[3] === 'presence_diff' && 'user:bob' in f[4].joins, 3000, 'alice sees bob join')

  t.same(await lp.request(joined.joinRef, 'room:lobby', 'new_msg', { body: 'hi bob' }), { status: 'ok', response: { status: 'ok' } })
  t.ok(await ws.waitFor((f) => f[3] === 'new_msg' && f[4].body === 'hi bob'), 'the WebSocket user got the long-poll user’s message')
  t.equal((await ws.push(wsJoin.joinRef, 'room:lobby', 'new_msg', { body: 'hi alice' })).status, 'ok')
  await lp.waitFor((f) => f[3] === 'new_msg' && f[4].body === 'hi alice', 3000, 'alice got bob’s message')
  t.notOk(lp.frames.some((f) => f[3] === 'new_msg' && f[4].body === 'hi bob'), 'broadcastFrom skips the sender')

  await srv.hub.broadcast('room:lobby', 'news', { n: 1 })
  await lp.waitFor((f) => f[3] === 'news' && f[4].n === 1, 3000, 'a hub broadcast')
  t.same(Object.keys(srv.hub.presence('room:lobby').list()).sort(), ['user:alice', 'user:bob'])
})

t.test('frames queued in one turn go out in one poll answer', async (t) => {
  const srv = await startServer(fast)
  t.teardown(srv.close)
  chat(srv.hub)
  const lp = await LongPollClient.open(`http://127.0.0.1:${srv.port}/ws/longpoll`)
  // Polls one at a time (none left waiting): a poll aborted while the server had not yet seen it
  // would take what comes next and lose it with its connection.
  t.equal((await lp.send([['1', '1', 'room:lobby', 'phx_join', { username: 'alice' }]])).status, 200)
  await lp.pollUntil((f) => f[3] === 'hb_history')
  const session = srv.hub.endpoint.longPoll!.registry.get(lp.token.split('.')[2]!)!
  t.notOk(session.polling, 'no poll waiting')
  // No poll waiting: three broadcasts queue; the next poll takes them all.
  for (let i = 0; i < 3; i++) void srv.hub.broadcast('room:lobby', 'tick', { i })
  const answer = await lp.poll()
  t.equal(answer.status, 200)
  t.same(answer.messages!.map((m) => JSON.parse(m)[4].i), [0, 1, 2])
  // A poll waiting when a burst comes is answered once, with the whole burst.
  const waiting = lp.poll()
  await eventually(() => session.polling, 2000, 'the poll waits')
  for (let i = 3; i < 6; i++) void srv.hub.broadcast('room:lobby', 'tick', { i })
  t.same((await waiting).messages!.map((m) => JSON.parse(m)[4].i), [3, 4, 5])
})

t.test('a client that stops polling: the session ends after sessionTimeoutMs, as a closed socket does', async (t) => {
  const srv = await startServer(fast)
  t.teardown(srv.close)
  const left: string[] = []
  chat(srv.hub, left)
  const ws = await RawClient.connect(srv.url())
  t.teardown(() => ws.close())
  await ws.join('room:lobby', { username: 'bob' })
  const lp = await LongPollClient.open(`http://127.0.0.1:${srv.port}/ws/longpoll`, { dialect: 'hornbeam' })
  lp.start()
  await lp.join('room:lobby', { username: 'alice' })
  await ws.waitFor((f) => f[3] === 'presence_diff' && 'user:alice' in f[4].joins)
  await lp.stop()

  // Alice's client is gone: her presence leaves, her leave hook runs, her session is forgotten.
  await ws.waitFor((f) => f[3] === 'presence_diff' && 'user:alice' in f[4].leaves, 5000, 'alice leaves')
  await eventually(() => left.includes('alice'), 2000, 'the leave hook ran')
  t.equal(srv.hub.stats().longPollSessions, 0)
  t.equal(srv.hub.stats().connections, 1)
  const after = await lp.poll()
  t.same([after.http, after.status], [200, 410], 'its token now gets 410: the client opens a new session')
})

t.test('the connect hook sees the params and X-Phoenix-AuthToken, and may refuse (403)', async (t) => {
  const seen: Array<[Record<string, string>, string | undefined]> = []
  const srv = await startServer({
    ...fast,
    connect: (params, _req, info) => {
      seen.push([params, info.authToken])
      return info.authToken === 'letmein' ? { user: params.user } : false
    },
  })
  t.teardown(srv.close)
  const endpoint = `http://127.0.0.1:${srv.port}/ws/longpoll`
  const refused = await request(`${endpoint}?vsn=2.0.0&user=eve`)
  t.same([refused.http, refused.status], [200, 403], 'refused: 403 in the body, which the phoenix client takes as final')
  const lp = await LongPollClient.open(endpoint, { params: { user: 'ann', token: 'app-token' }, headers: { 'x-phoenix-authtoken': 'letmein' } })
  t.ok(lp.token)
  t.same(seen[1], [{ user: 'ann', token: 'app-token' }, 'letmein'], 'params without vsn (an app token param stays a param), and the auth token')
  t.equal(srv.hub.stats().refusedUpgrades, 1, 'the refusal is counted as an upgrade refusal is')
  const badVersion = await request(`${endpoint}?vsn=9.0.0`)
  t.same([badVersion.http, badVersion.text], [400, 'unsupported protocol version vsn=9.0.0'], 'a version no phoenix client sends: a real 400')
})

t.test('origin: the hub’s check applies; an allowed origin gets CORS headers and a preflight', async (t) => {
  const srv = await startServer({ ...fast, checkOrigin: ['https://app.example.com'] })
  t.teardown(srv.close)
  const endpoint = `http://127.0.0.1:${srv.port}/ws/longpoll`
  const evil = await request(`${endpoint}?vsn=2.0.0`, { headers: { origin: 'https://evil.example' } })
  t.same([evil.http, evil.status, evil.headers.get('access-control-allow-origin')], [200, 403, null], 'another origin: 403, no CORS header')
  const evilPreflight = await request(endpoint, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
  t.equal(evilPreflight.headers.get('access-control-allow-origin'), null, 'no preflight for it')
  const preflight = await request(endpoint, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-phoenix-authtoken' },
  })
  t.equal(preflight.http, 204)
  t.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example.com')
  t.equal(preflight.headers.get('access-control-allow-headers'), 'content-type, x-phoenix-authtoken')
  t.match(preflight.headers.get('access-control-allow-methods'), /POST/)
  const ok = await LongPollClient.open(endpoint, { headers: { origin: 'https://app.example.com' } })
  t.ok(ok.token, 'the allowed origin opens a session')
})

t.test('shutdown answers a waiting poll with 410; longPoll: false serves nothing', async (t) => {
  const srv = await startServer({ longPoll: { pollTimeoutMs: 30_000 } })
  const lp = await LongPollClient.open(`http://127.0.0.1:${srv.port}/ws/longpoll`)
  const waiting = lp.poll()
  await eventually(() => srv.hub.stats().longPollRequests === 2, 2000, 'the poll arrived')
  await srv.hub.close()
  t.same((await waiting).status, 410, 'the waiting poll is answered 410 (the client reconnects)')
  srv.server.closeAllConnections()
  await new Promise((resolve) => srv.server.close(resolve))

  const hub = createHub({ logger: quietLogger(), longPoll: false })
  const server = createServer((_req, res) => res.end('the app'))
  hub.attach(server, { path: '/ws' })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await hub.close()
    server.close()
  })
  const answer = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/ws/longpoll?vsn=2.0.0`)
  t.same([answer.http, answer.text], [200, 'the app'], 'the app answers the path')
  t.equal(hub.endpoint.longPoll, undefined)
})

t.test('hub.attach serves long-poll beside the app’s own handler, and unmounting gives the path back', async (t) => {
  const hub = createHub({ logger: quietLogger() })
  const server = createServer((req, res) => res.end(`app: ${req.url}`))
  const unmount = hub.attach(server, { path: '/rt' })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await hub.close()
    server.close()
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.equal((await request(`${base}/rt/longpoll?vsn=2.0.0`)).status, 410, 'long-poll on <path>/longpoll')
  t.equal((await request(`${base}/other`)).text, 'app: /other', 'the app keeps its other paths')
  unmount()
  t.equal((await request(`${base}/rt/longpoll`)).text, 'app: /rt/longpoll', 'after unmount the app has it again')
})

t.test('hub.attach before the app’s request listener is added: long-poll is still the hub’s, the rest the app’s', async (t) => {
  const hub = createHub({ logger: quietLogger() })
  const server = createServer()
  hub.attach(server, { path: '/ws' })
  server.on('request', (req, res) => res.end(`app: ${req.url}`))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await hub.close()
    server.close()
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const opened = await request(`${base}/ws/longpoll?vsn=2.0.0`)
  t.same([opened.http, opened.status], [200, 410], 'the hub answered, and only the hub')
  t.equal((await request(`${base}/else`)).text, 'app: /else')
})

t.test('a session whose client does not poll is a slow consumer past maxBufferedBytes, as a WebSocket is', async (t) => {
  const srv = await startServer({ ...fast, maxBufferedBytes: 4096 })
  t.teardown(srv.close)
  chat(srv.hub)
  const lp = await LongPollClient.open(`http://127.0.0.1:${srv.port}/ws/longpoll`)
  t.equal((await lp.send([['1', '1', 'room:lobby', 'phx_join', { username: 'alice' }]])).status, 200)
  await lp.pollUntil((f) => f[3] === 'hb_history')
  for (let i = 0; i < 20; i++) void srv.hub.broadcast('room:lobby', 'big', { i, pad: 'x'.repeat(500) })
  t.equal(srv.hub.stats().slowConsumers, 1, 'counted as a slow consumer')
  t.equal(srv.hub.stats().connections, 0, 'and closed')
  const last = await lp.poll()
  t.equal(last.status, 200, 'what was queued before the bound is still handed over')
  t.ok(last.messages!.length > 0 && last.messages!.length < 20, `some of it (${last.messages!.length} frames)`)
  t.equal((await lp.poll()).status, 410, 'then the session is gone')
})
