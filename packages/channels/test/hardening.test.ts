// Hardening II over the wire: long names, presence bounds, floods, upgrades and frames that never
// complete, sockets that never join, DNS rebinding, tokens kept out of logs, slow consumers.
import { once } from 'node:events'
import t from 'tap'
import WebSocket from 'ws'
import { RawClient, startServer, quietLogger } from '../../../test/helpers/wire.js'

/** A logger that keeps every line, to assert what the hub writes. */
function recordingLogger() {
  const lines: Array<{ msg: string; obj: unknown }> = []
  const at = (obj: unknown, msg?: string) => void lines.push({ msg: msg ?? '', obj })
  return { lines, debug: at, info: at, warn: at, error: at }
}

/** Opens a WebSocket with the given headers; resolves with it, or rejects with the HTTP status. */
function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => reject(new Error(`HTTP ${res.statusCode} ${body}`)))
    })
    ws.once('error', reject)
  })
}

t.test('topic and event names past maxTopicLength / maxEventLength get an error reply before routing', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  srv.hub.channel('room:*').on('ping', () => ['reply', { pong: true }])
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const long = `room:${'x'.repeat(300)}`
  t.same((await c.join(long)).response, { reason: 'topic too long (maxTopicLength is 255 bytes)' })
  // 100 three-byte characters: 300 bytes in 100 characters.
  t.same((await c.join(`room:${'€'.repeat(100)}`)).response, { reason: 'topic too long (maxTopicLength is 255 bytes)' })
  t.same(srv.hub.stats().topics, {}, 'nothing was joined or kept')
  const { joinRef } = await c.join('room:ok')
  t.same(await c.push(joinRef, 'room:ok', 'e'.repeat(256)), { status: 'error', response: { reason: 'event too long (maxEventLength is 255 bytes)' } })
  t.same(await c.push(joinRef, 'room:ok', 'ping'), { status: 'ok', response: { pong: true } }, 'the socket lives on')
  t.equal(srv.hub.stats().malformed, 3, 'each counted')
})

t.test('a presence larger than maxPresenceMetaBytes is refused with a clear error', async (t) => {
  const logger = quietLogger()
  const srv = await startServer({ logger, maxPresenceMetaBytes: 1024 })
  t.teardown(srv.close)
  srv.hub.channel('room:*').onJoin((topic, _tp, params, socket) => {
    srv.hub.presence(topic).track(socket, 'user', { name: params.name })
    return ['ok', {}, socket]
  })
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  t.same((await c.join('room:1', { name: 'x'.repeat(2000) })).response, { reason: 'join crashed' })
  t.match(String((logger.errors[0] as { err: Error }).err.message), /presence "user" is \d+ bytes \(key and meta as JSON\), over the limit \(maxPresenceMetaBytes: 1024\)/)
  t.equal((await c.join('room:1', { name: 'ada' })).status, 'ok')
  t.same(Object.keys(srv.hub.presence('room:1').list()), ['user'])
})

t.test('a frame that would carry a socket past maxBufferedBytes is not queued (the frame itself counts)', async (t) => {
  const srv = await startServer({ maxBufferedBytes: 64 * 1024, maxPresenceMetaBytes: 16 * 1024 })
  t.teardown(srv.close)
  srv.hub.channel('room:*').onJoin((topic, _tp, params, socket) => {
    srv.hub.presence(topic).track(socket, params.name, { bio: 'b'.repeat(6000) })
    return ['ok', {}, socket]
  })
  // Ten users fit in a presence_state under 64 KiB; the eleventh's (about 66 KB) does not.
  const users = await Promise.all([...Array(11).keys()].map(() => RawClient.connect(srv.url())))
  t.teardown(() => Promise.all(users.map((u) => u.close())))
  for (const [i, u] of users.slice(0, 10).entries()) await u.join('room:big', { name: `u${i}` })
  t.equal(srv.hub.stats().slowConsumers, 0, 'ten joined')
  const late = users[10]!
  late.send('1', '1', 'room:big', 'hb_join', { name: 'late' })
  const closed = await late.waitForClose()
  t.same(closed, { code: 1013, reason: 'slow consumer' }, 'closed rather than handed a frame larger than the bound')
  t.equal(srv.hub.stats().slowConsumers, 1)
})

t.test('sustained flooding closes with 1008 although some messages are admitted; rejections are answered once', async (t) => {
  const srv = await startServer({ messagesPerSecond: 50, maxRejectedMessages: 50 })
  t.teardown(srv.close)
  srv.hub.channel('m').on('ping', () => ['reply', {}])
  const c = await RawClient.connect(srv.url())
  const { joinRef } = await c.join('m')
  // About 20× the rate, for as long as it takes (a few tokens refill in between).
  const flood = setInterval(() => {
    for (let i = 0; i < 20 && c.ws.readyState === WebSocket.OPEN; i++) c.send(joinRef, c.nextRef(), 'm', 'ping', {})
  }, 20)
  t.teardown(() => clearInterval(flood))
  t.same(await c.waitForClose(10_000), { code: 1008, reason: 'message rate limit exceeded' })
  const limited = c.frames.filter((f) => f[4]?.response?.reason === 'rate limited').length
  t.ok(limited >= 1, 'the client was told it is rate limited')
  t.ok(limited <= c.frames.filter((f) => f[4]?.status === 'ok').length + 1, `${limited} "rate limited" replies: at most one per admitted message`)
  t.ok(srv.hub.stats().rateLimited > limited, 'the unanswered ones are counted')
})

t.test('an upgrade whose connect hook never answers is refused after handshakeTimeoutMs', async (t) => {
  const srv = await startServer({ handshakeTimeoutMs: 300, connect: () => new Promise(() => {}) })
  t.teardown(srv.close)
  await t.rejects(open(srv.url()), /HTTP 503 handshake timeout/)
})

t.test('a frame whose bytes stop arriving is closed after frameTimeoutMs', async (t) => {
  const srv = await startServer({ frameTimeoutMs: 300 })
  t.teardown(srv.close)
  const c = await RawClient.connect(srv.url())
  // A masked text frame announcing 1,000 bytes, of which 10 are sent.
  const header = Buffer.from([0x81, 0x80 | 126, 0x03, 0xe8, 1, 2, 3, 4])
  ;(c.ws as unknown as { _socket: import('node:net').Socket })._socket.write(Buffer.concat([header, Buffer.alloc(10)]))
  t.same(await c.waitForClose(5000), { code: 1008, reason: 'frame timeout' })
})

t.test('a socket that joins no channel is closed after unjoinedTimeoutMs; a joined one stays', async (t) => {
  const srv = await startServer({ unjoinedTimeoutMs: 300 })
  t.teardown(srv.close)
  srv.hub.channel('room:*').on('ping', () => ['reply', { pong: true }])
  const joined = await RawClient.connect(srv.url())
  const idle = await RawClient.connect(srv.url())
  t.teardown(() => joined.close())
  const { joinRef } = await joined.join('room:1')
  t.same(await idle.waitForClose(5000), { code: 1008, reason: 'no channel joined' })
  t.same(await joined.push(joinRef, 'room:1', 'ping'), { status: 'ok', response: { pong: true } }, 'the joined socket was swept past and lives')
})

t.test('the default maxPayload is 64 KiB', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  const c = await RawClient.connect(srv.url())
  c.sendRaw(JSON.stringify(['1', '1', 'room:1', 'hb_join', { pad: 'x'.repeat(64 * 1024) }]))
  t.equal((await c.waitForClose()).code, 1009)
})

t.test('DNS rebinding: on a loopback-only server, a Host that is not a loopback name is refused', async (t) => {
  const logger = recordingLogger()
  const srv = await startServer({ logger, checkOrigin: true })
  t.teardown(srv.close)
  const evil = { Host: `evil.example:${srv.port}`, Origin: `http://evil.example:${srv.port}` }
  await t.rejects(open(srv.url(), evil), /HTTP 403 host not allowed/, 'Origin matches Host, but Host is not ours')
  t.ok(logger.lines.some((l) => /allowedHosts/.test(l.msg)), 'the log line names the option')
  for (const host of ['localhost', '127.0.0.1', 'app.localhost']) {
    const ws = await open(srv.url(), { Host: `${host}:${srv.port}`, Origin: `http://${host}:${srv.port}` })
    t.pass(`${host} is a loopback name`)
    ws.close()
  }
  const allowing = await startServer({ allowedHosts: ['.example'] })
  t.teardown(allowing.close)
  const ws = await open(allowing.url(), { Host: `evil.example:${allowing.port}`, Origin: `http://evil.example:${allowing.port}` })
  t.pass('allowedHosts lets a proxied name through')
  ws.close()
})

t.test('a server listening on every address checks no Host unless allowedHosts is set', async (t) => {
  const { createServer } = await import('node:http')
  const { createHub } = await import('@hornbeam/channels')
  const hub = createHub({ logger: quietLogger() })
  const server = createServer()
  hub.attach(server)
  server.listen(0, '0.0.0.0')
  await once(server, 'listening')
  t.teardown(async () => {
    await hub.close()
    server.close()
  })
  const port = (server.address() as import('node:net').AddressInfo).port
  const ws = await open(`ws://127.0.0.1:${port}/ws/websocket`, { Host: 'chat.example.com' })
  t.pass('accepted')
  ws.close()
})

t.test('log lines carry no query string', async (t) => {
  const logger = recordingLogger()
  const srv = await startServer({ logger, checkOrigin: ['https://app.example'] })
  t.teardown(srv.close)
  await t.rejects(open(srv.url() + '?token=sekrit-token', { Origin: 'https://evil.example' }), /HTTP 403/)
  t.ok(logger.lines.length > 0, 'the refusal was logged')
  t.notMatch(JSON.stringify(logger.lines), /sekrit-token/, 'the token is not in it')
  t.match(JSON.stringify(logger.lines), /\/ws\/websocket\?…/, 'the path is, with the query elided')
})

t.test('a slow consumer that stopped reading sees 1006 (its close frame sits behind the data); the cut is counted', async (t) => {
  const srv = await startServer({ maxBufferedBytes: 256 * 1024 })
  t.teardown(srv.close)
  srv.hub.channel('firehose')
  let serverSide: import('node:net').Socket | undefined
  srv.server.once('connection', (socket) => (serverSide = socket))
  const ws = await open(srv.url())
  ws.send(JSON.stringify(['1', '1', 'firehose', 'hb_join', {}]))
  await once(ws, 'message')
  const tcp = (ws as unknown as { _socket: import('node:net').Socket })._socket
  // Stop reading at the TCP level, and keep ws's receiver from resuming it.
  const resume = tcp.resume
  tcp.resume = () => tcp
  tcp.pause()
  const closed = once(ws, 'close')
  const payload = { p: 'x'.repeat(16 * 1024) }
  // Until the server gives up on it: the kernel's buffers fill first, then the hub's bound (less
  // than the bound per turn, or the corked burst alone would pass it while the kernel has room).
  while (srv.hub.stats().slowConsumers === 0) {
    for (let i = 0; i < 8; i++) srv.hub.broadcast('firehose', 'm', payload)
    await new Promise((resolve) => setImmediate(resolve))
  }
  // The hub closed it with 1013, then cut the TCP connection when the close frame could not leave.
  if (!serverSide!.destroyed) await once(serverSide!, 'close')
  tcp.resume = resume
  tcp.resume()
  const [code] = await closed
  t.equal(code, 1006, 'no close frame reached it')
  t.equal(srv.hub.stats().slowConsumers, 1, 'counted once')
})

t.test('seed compatibility: a stop answers the push with an error carrying the reason, then hb_close', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  srv.hub.channel('room:*').on('quit', (_p, socket) => ['stop', 'bye now', socket])
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const { joinRef } = await c.join('room:1')
  const ref = c.nextRef()
  c.send(joinRef, ref, 'room:1', 'quit', {})
  await c.waitFor((f) => f[3] === 'hb_close')
  const replyAt = c.frames.findIndex((f) => f[1] === ref && f[3] === 'hb_reply')
  const closeAt = c.frames.findIndex((f) => f[3] === 'hb_close')
  t.ok(replyAt >= 0 && replyAt < closeAt, 'the reply comes first')
  t.same(c.frames[replyAt]![4], { status: 'error', response: { reason: 'bye now' } })
})

t.test('seed compatibility: the hornbeam dialect takes object frames and answers them as objects', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  srv.hub.channel('room:*').on('ping', () => ['reply', { pong: true }])
  const ws = await open(srv.url())
  t.teardown(() => ws.close())
  const texts: string[] = []
  const waiting: Array<() => void> = []
  ws.on('message', (data) => (texts.push(data.toString()), waiting.splice(0).forEach((wake) => wake())))
  let read = 0
  const next = async () => {
    while (texts.length <= read) await new Promise<void>((resolve) => waiting.push(resolve))
    return JSON.parse(texts[read++]!)
  }
  let reply = next()
  ws.send(JSON.stringify({ join_ref: '1', ref: '1', topic: 'room:1', event: 'hb_join', payload: {} }))
  t.same(await reply, { join_ref: '1', ref: '1', topic: 'room:1', event: 'hb_reply', payload: { status: 'ok', response: {} } })
  t.same(await next(), [ '1', null, 'room:1', 'presence_state', {} ], 'presence keeps the socket\'s array form')
  const history = await next()
  t.same(history.slice(0, 4), ['1', null, 'room:1', 'hb_history'], 'and so does hb_history')
  reply = next()
  ws.send(JSON.stringify({ join_ref: '1', ref: '2', topic: 'room:1', event: 'ping', payload: {} }))
  t.same(await reply, { join_ref: '1', ref: '2', topic: 'room:1', event: 'hb_reply', payload: { status: 'ok', response: { pong: true } } })
  const broadcast = next()
  srv.hub.broadcast('room:1', 'news', { n: 1 })
  const got = await broadcast
  t.same(got, [null, got[1], 'room:1', 'news', { n: 1 }], 'broadcasts keep the array form')
  reply = next()
  ws.send(JSON.stringify(['1', '3', 'room:1', 'ping', {}]))
  t.same(await reply, ['1', '3', 'room:1', 'hb_reply', { status: 'ok', response: { pong: true } }], 'arrays still answered as arrays')
})
