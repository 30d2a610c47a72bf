// Each example started as its README says (a child process on a free port): the page, the
// client bundle, and for rest-realtime the REST ↔ socket round trip.
import t from 'tap'
import { Socket } from '@hornbeam/client'
import WebSocket from 'ws'
import { startExample } from './helpers/examples.js'
import { eventually, RawClient } from './helpers/wire.js'

for (const name of ['chat-fastify', 'chat-express', 'chat-koa', 'chat-hono', 'chat-nest']) {
  t.test(`${name}: serves the page and the client bundle`, async (t) => {
    const ex = await startExample(name)
    t.teardown(ex.stop)
    const page = await fetch(ex.url + '/')
    t.equal(page.status, 200)
    const html = await page.text()
    t.match(html, /<script src="\/ws\/hornbeam\.js"><\/script>/, 'the page loads the bundle the server serves')
    t.match(html, /new Hornbeam\.Socket\('\/ws'/)
    const bundle = await fetch(ex.url + '/ws/hornbeam.js')
    t.equal(bundle.status, 200)
    t.match(bundle.headers.get('content-type') ?? '', /javascript/)
    t.match(await bundle.text(), /Hornbeam/)

    // And the chat answers over the wire, username required.
    const socket = new Socket(ex.url.replace('http', 'ws') + '/ws', { transport: WebSocket as any })
    socket.connect()
    t.teardown(() => socket.disconnect())
    const refused = await new Promise((resolve) => socket.channel('room:lobby', {}).join().receive('error', resolve))
    t.same(refused, { reason: 'username required' })
  })
}

t.test('rest-realtime: REST writes appear on sockets, socket joins appear in REST reads', async (t) => {
  const ex = await startExample('rest-realtime')
  t.teardown(ex.stop)
  const socket = new Socket(ex.url.replace('http', 'ws') + '/ws', { transport: WebSocket as any })
  socket.connect()
  t.teardown(() => socket.disconnect())
  const channel = socket.channel('board:news', { name: 'ada' })
  const created: any[] = []
  channel.on('message_created', (m: any) => created.push(m))
  const joined: any = await new Promise((resolve, reject) => channel.join().receive('ok', resolve).receive('error', reject))
  t.same(joined, { board: 'news', messages: [] })

  const online = await (await fetch(ex.url + '/boards/news/online')).json()
  t.same(online, [{ name: 'ada', connections: 1 }], 'the socket join shows in GET /online')

  const res = await fetch(ex.url + '/boards/news/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ author: 'grace', body: 'hello sockets' }),
  })
  t.equal(res.status, 201)
  await eventually(() => created.length === 1, 3000, 'the REST write reached the socket')
  t.match(created[0], { author: 'grace', body: 'hello sockets', board: 'news' })
  t.equal((await (await fetch(ex.url + '/boards/news/messages')).json()).length, 1)
  t.equal((await fetch(ex.url + '/boards/news/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 400)
})

t.test('chat-fastify: request logs carry no query string (clients send their token there)', async (t) => {
  const ex = await startExample('chat-fastify', { LOG_LEVEL: 'info' })
  t.teardown(ex.stop)
  const ws = new WebSocket(ex.url.replace('http', 'ws') + '/ws/websocket?token=sekrit-token&vsn=2.0.0')
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)))
  ws.close()
  await eventually(() => /"url":"\/ws\/websocket\?…"/.test(ex.output()), 5000, 'the upgrade request logged')
  t.notMatch(ex.output(), /sekrit-token/, 'the token is not in the logs')
})

t.test('the examples keep serving after an unhandled rejection (logged)', async (t) => {
  const { spawn } = await import('node:child_process')
  const { root } = await import('./helpers/examples.js')
  const script = (install: boolean) => `
    import { keepServingOnUnhandledRejection } from './dist/chat.js'
    ${install ? "keepServingOnUnhandledRejection((err) => console.log('logged: ' + err.message))" : ''}
    Promise.reject(new Error('a handler forgot to await'))
    setTimeout(() => console.log('still serving'), 50)
  `
  const run = (install: boolean) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script(install)], { cwd: `${root}/examples/chat-fastify`, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (out += d))
      child.on('exit', (code) => resolve({ code, out }))
    })
  const kept = await run(true)
  t.equal(kept.code, 0)
  t.match(kept.out, /logged: a handler forgot to await[\s\S]*still serving/)
  const bare = await run(false)
  t.not(bare.code, 0, 'without it, Node exits on the rejection')
  t.notMatch(bare.out, /still serving/)
})

// chat-nest has no server.cjs.
for (const name of ['chat-express', 'chat-fastify', 'chat-koa', 'chat-hono']) {
  t.test(`${name}/server.cjs: the chat as a plain CommonJS app (no require(esm))`, async (t) => {
    const ex = await startExample(name, {}, { script: 'server.cjs', nodeArgs: ['--no-experimental-require-module'] })
    t.teardown(ex.stop)
    t.match(await (await fetch(ex.url + '/')).text(), /Hornbeam Channels Chat/, 'the page')
    t.equal((await fetch(ex.url + '/ws/hornbeam.js')).status, 200, 'the client bundle')
    const ws = ex.url.replace('http', 'ws') + '/ws/websocket'
    const alice = await RawClient.connect(ws)
    const bob = await RawClient.connect(ws)
    t.teardown(() => Promise.all([alice.close(), bob.close()]))
    t.same((await alice.join('room:lobby', {})).response, { reason: 'username required' })
    const a = await alice.join('room:lobby', { username: 'alice' })
    t.same(a.response, { room_id: 'lobby', message: 'Welcome to lobby!' })
    const b = await bob.join('room:lobby', { username: 'bob' })
    t.same(Object.keys((await bob.waitFor((f) => f[3] === 'presence_state'))[4]).sort(), ['user:alice', 'user:bob'])
    t.same(await alice.push(a.joinRef, 'room:lobby', 'new_msg', { body: 'hi bob' }), { status: 'ok', response: { status: 'ok' } })
    t.same((await bob.waitFor((f) => f[3] === 'new_msg'))[4], { username: 'alice', body: 'hi bob' })
    t.same((await bob.push(b.joinRef, 'room:lobby', 'get_history')).response, { messages: [{ username: 'system', body: 'Welcome to the chat!' }] })
  })
}

t.test('chat-express on a busy port reports the listen error as it is', async (t) => {
  const { createServer } = await import('node:net')
  const busy = createServer()
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => busy.close())
  const port = String((busy.address() as import('node:net').AddressInfo).port)
  await t.rejects(startExample('chat-express', { PORT: port }), /chat could not listen on 127\.0\.0\.1:\d+: listen EADDRINUSE: address already in use/)
})

for (const name of ['chat-koa', 'chat-hono']) {
  t.test(`${name} on a busy port reports the listen error as it is`, async (t) => {
    const { createServer } = await import('node:net')
    const busy = createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    t.teardown(() => busy.close())
    const port = String((busy.address() as import('node:net').AddressInfo).port)
    await t.rejects(startExample(name, { PORT: port }), /chat could not listen on 127\.0\.0\.1:\d+: listen EADDRINUSE: address already in use/)
  })
}

t.test('chat-nest on a busy port reports the listen error as it is (both platforms)', async (t) => {
  const { createServer } = await import('node:net')
  const busy = createServer()
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => busy.close())
  const port = String((busy.address() as import('node:net').AddressInfo).port)
  t.test('chat-fastify with REDIS_CLUSTER: two processes form one chat over a Redis Cluster', async (t) => {
  // Never skipped: `npm test` starts a local Redis Cluster for the run and sets REDIS_CLUSTER.
  if (!process.env.REDIS_CLUSTER) throw new Error('REDIS_CLUSTER is not set: run the tests with `npm test`, which starts a local Redis Cluster for the run')
  const env = { REDIS_CLUSTER: process.env.REDIS_CLUSTER }
  const [one, two] = await Promise.all([startExample('chat-fastify', env), startExample('chat-fastify', env)])
  t.teardown(() => Promise.all([one.stop(), two.stop()]))
  const room = `room:c${Date.now()}`
  const alice = await RawClient.connect(one.url.replace('http', 'ws') + '/ws/websocket')
  const bob = await RawClient.connect(two.url.replace('http', 'ws') + '/ws/websocket')
  t.teardown(() => Promise.all([alice.close(), bob.close()]))
  await alice.join(room, { username: 'alice' })
  const b = await bob.join(room, { username: 'bob' })
  await alice.waitFor((f) => f[3] === 'presence_diff' && 'user:bob' in f[4].joins, 10_000)
  await bob.push(b.joinRef, room, 'new_msg', { body: 'across shards' })
  t.same((await alice.waitFor((f) => f[3] === 'new_msg', 10_000))[4], { username: 'bob', body: 'across shards' })
})

t.test('chat-fastify: a malformed REDIS_CLUSTER, or both REDIS_URL and REDIS_CLUSTER, stop the start-up with one line', async (t) => {
  await t.rejects(startExample('chat-fastify', { REDIS_CLUSTER: '127.0.0.1' }), /exited with 1: REDIS_CLUSTER: "127\.0\.0\.1" is not host:port/)
  await t.rejects(startExample('chat-fastify', { REDIS_CLUSTER: '127.0.0.1:7000', REDIS_URL: 'redis://127.0.0.1:7000' }), /exited with 1: set REDIS_URL \(one Redis\) or REDIS_CLUSTER \(a Redis Cluster\), not both/)
})

for (const PLATFORM of ['express', 'fastify']) {
    await t.rejects(startExample('chat-nest', { PORT: port, PLATFORM }), /chat could not listen on 127\.0\.0\.1:\d+: listen EADDRINUSE: address already in use/, PLATFORM)
  }
})

t.test('the chat examples carry the same channel and page (copies, so each folder stands alone)', async (t) => {
  const { readFileSync } = await import('node:fs')
  const { root } = await import('./helpers/examples.js')
  for (const name of ['chat-express', 'chat-koa', 'chat-hono', 'chat-nest']) {
    for (const file of ['src/chat.ts', 'public/index.html']) {
      t.equal(readFileSync(`${root}/examples/${name}/${file}`, 'utf8'), readFileSync(`${root}/examples/chat-fastify/${file}`, 'utf8'), `${name}/${file}: identical`)
    }
  }
})

t.test('chat-koa: POST /rooms/:id/announce broadcasts through ctx.channels; request logs carry no query string', async (t) => {
  const ex = await startExample('chat-koa', { LOG_LEVEL: 'info' })
  t.teardown(ex.stop)
  const alice = await RawClient.connect(ex.url.replace('http', 'ws') + '/ws/websocket?token=sekrit-token')
  t.teardown(() => alice.close())
  await alice.join('room:lobby', { username: 'alice' })
  const json = { 'content-type': 'application/json' }
  const res = await fetch(ex.url + '/rooms/lobby/announce', { method: 'POST', headers: json, body: JSON.stringify({ body: 'hello from REST' }) })
  t.same([res.status, await res.json()], [202, { sent: true }])
  t.same((await alice.waitFor((f) => f[3] === 'new_msg'))[4], { username: 'system', body: 'hello from REST' }, 'the socket got it')
  t.equal((await fetch(ex.url + '/rooms/lobby/announce', { method: 'POST', headers: json, body: '{}' })).status, 400, 'no body: 400')
  t.same(await (await fetch(ex.url + '/healthz')).json(), { ok: true }, '/healthz')
  await eventually(() => /GET \/ws\/websocket\?… upgrade/.test(ex.output()), 5000, 'the upgrade request logged')
  t.notMatch(ex.output(), /sekrit-token/, 'the token is not in the logs')
})

t.test('chat-koa: SIGTERM closes gracefully (1012 to clients, leave hooks) and exits 0', async (t) => {
  const ex = await startExample('chat-koa')
  const alice = await RawClient.connect(ex.url.replace('http', 'ws') + '/ws/websocket')
  await alice.join('room:lobby', { username: 'alice' })
  const exited = new Promise<number | null>((resolve) => ex.child.once('exit', resolve))
  ex.child.kill('SIGTERM')
  t.equal((await alice.waitForClose()).code, 1012)
  t.equal(await exited, 0)
  t.match(ex.output(), /User alice left room:lobby/)
})

t.test('chat-hono: POST /rooms/:id/announce reaches the room as system; /healthz; SIGTERM closes with 1012', async (t) => {
  const ex = await startExample('chat-hono')
  t.teardown(ex.stop)
  const alice = await RawClient.connect(ex.url.replace('http', 'ws') + '/ws/websocket')
  await alice.join('room:news', { username: 'alice' })
  const res = await fetch(ex.url + '/rooms/news/announce', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body: 'deploy at noon' }) })
  t.same([res.status, await res.json()], [202, { sent: true }])
  t.same((await alice.waitFor((f) => f[3] === 'new_msg'))[4], { username: 'system', body: 'deploy at noon' })
  t.equal((await fetch(ex.url + '/rooms/news/announce', { method: 'POST', body: 'nope' })).status, 400, 'no body: 400')
  t.same(await (await fetch(ex.url + '/healthz')).json(), { ok: true })
  const exited = new Promise<number | null>((resolve) => ex.child.once('exit', (code) => resolve(code)))
  ex.child.kill('SIGTERM')
  t.equal((await alice.waitForClose()).code, 1012, 'graceful: 1012')
  t.equal(await exited, 0, 'and the process exits by itself')
  t.match(ex.output(), /User alice left room:news/, 'leave hooks ran')
})

t.test('chat-hono with REDIS_URL: two processes form one chat', async (t) => {
  // Never skipped: `npm test` starts a redis-server for the run and sets REDIS_URL.
  if (!process.env.REDIS_URL) throw new Error('REDIS_URL is not set: run the tests with `npm test`, which starts a redis-server for the run')
  const env = { REDIS_URL: process.env.REDIS_URL }
  const [one, two] = await Promise.all([startExample('chat-hono', env), startExample('chat-hono', env)])
  t.teardown(() => Promise.all([one.stop(), two.stop()]))
  const room = `room:r${Date.now()}`
  const alice = await RawClient.connect(one.url.replace('http', 'ws') + '/ws/websocket')
  const bob = await RawClient.connect(two.url.replace('http', 'ws') + '/ws/websocket')
  t.teardown(() => Promise.all([alice.close(), bob.close()]))
  await alice.join(room, { username: 'alice' })
  const b = await bob.join(room, { username: 'bob' })
  await alice.waitFor((f) => f[3] === 'presence_diff' && 'user:bob' in f[4].joins, 5000)
  await bob.push(b.joinRef, room, 'new_msg', { body: 'across' })
  t.same((await alice.waitFor((f) => f[3] === 'new_msg', 5000))[4], { username: 'bob', body: 'across' })
  await fetch(one.url + `/rooms/${room.slice(5)}/announce`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body: 'to all nodes' }) })
  t.same((await bob.waitFor((f) => f[3] === 'new_msg' && f[4].username === 'system', 5000))[4], { username: 'system', body: 'to all nodes' })
})

for (const PLATFORM of ['express', 'fastify']) {
  t.test(`chat-nest (${PLATFORM}): the chat, POST /rooms/:id/announce, and SIGTERM closes with 1012`, async (t) => {
    const ex = await startExample('chat-nest', { PLATFORM, LOG_LEVEL: 'log' })
    t.teardown(ex.stop)
    t.match(await (await fetch(ex.url + '/')).text(), /<script src="\/ws\/hornbeam\.js"><\/script>/, 'the page')
    t.equal((await fetch(ex.url + '/ws/hornbeam.js')).status, 200, 'the client bundle')
    t.same(await (await fetch(ex.url + '/healthz')).json(), { ok: true })
    const ws = ex.url.replace('http', 'ws') + '/ws/websocket'
    const alice = await RawClient.connect(ws)
    const bob = await RawClient.connect(ws)
    t.same((await alice.join('room:lobby', {})).response, { reason: 'username required' })
    t.same((await alice.join('room:lobby', { username: 'x'.repeat(33) })).response, { reason: 'username too long (at most 32 characters)' })
    const a = await alice.join('room:lobby', { username: 'alice' })
    t.same(a.response, { room_id: 'lobby', message: 'Welcome to lobby!' })
    const b = await bob.join('room:lobby', { username: 'bob' })
    t.same(Object.keys((await bob.waitFor((f) => f[3] === 'presence_state'))[4]).sort(), ['user:alice', 'user:bob'])
    t.same(await alice.push(a.joinRef, 'room:lobby', 'new_msg', { body: 'hi bob' }), { status: 'ok', response: { status: 'ok' } })
    t.same((await bob.waitFor((f) => f[3] === 'new_msg'))[4], { username: 'alice', body: 'hi bob' })
    t.same(await alice.push(a.joinRef, 'room:lobby', 'new_msg', { body: '' }), { status: 'error', response: { status: 'error', reason: 'empty message' } })
    t.same((await bob.push(b.joinRef, 'room:lobby', 'get_history')).response, { messages: [{ username: 'system', body: 'Welcome to the chat!' }] })
    const posted = await fetch(ex.url + '/rooms/lobby/announce', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body: 'server news' }) })
    t.same([posted.status, await posted.json()], [202, { sent: true }])
    t.same((await alice.waitFor((f) => f[3] === 'new_msg' && f[4].username === 'announcement'))[4], { username: 'announcement', body: 'server news' })
    t.equal((await fetch(ex.url + '/rooms/lobby/announce', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 400)
    ex.child.kill('SIGTERM')
    t.equal((await alice.waitForClose()).code, 1012, 'SIGTERM: clients get 1012')
    t.equal((await bob.waitForClose()).code, 1012)
    await new Promise((resolve) => (ex.child.exitCode !== null ? resolve(null) : ex.child.once('exit', resolve)))
    t.match(ex.output(), /User alice left room:lobby/, 'the leave hooks ran')
  })
}
