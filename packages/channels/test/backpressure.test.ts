// Backpressure per channel pattern, over real sockets: a client stops reading at the TCP level
// while broadcasts go on, then reads again. `close` closes it with 1013; `drop` drops (and counts)
// its frames while it is over its bound; `latest` keeps the newest message per topic for it.
// Replies and presence frames are never dropped. Every wait is on an event or a counter.
import t from 'tap'
import type { Socket as NetSocket } from 'node:net'
import { RawClient, startServer, eventually, quietLogger, type TestServer } from '../../../test/helpers/wire.js'
import { LongPollClient } from '../../../test/helpers/longpoll.js'

const BOUND = 64 * 1024
const PAD = 'x'.repeat(4000)

async function setup(t: { teardown(fn: () => unknown): void }): Promise<TestServer> {
  const srv = await startServer({ maxBufferedBytes: BOUND, messagesPerSecond: 0 })
  t.teardown(srv.close)
  srv.hub.channel('plain:*')
  // A reply larger than a broadcast here: it does not fit in what a dropped broadcast left.
  srv.hub.channel('feed:*', { backpressure: 'drop' }).on('get', () => ['reply', { big: 'y'.repeat(6000) }])
  srv.hub.channel('prices:*', { backpressure: 'latest' })
  srv.hub.channel('room:*', { backpressure: 'drop' }).onJoin((topic, _tp, params, socket) => {
    // Larger than a broadcast here: a presence_diff does not fit in what a dropped broadcast left.
    srv.hub.presence(topic).track(socket, String(params.name), { bio: 'b'.repeat(6000) })
    return ['ok', {}, socket]
  })
  return srv
}

/** Stops reading at the TCP level (and keeps ws from resuming it); returns what reads again. */
function stall(client: RawClient): () => void {
  const tcp = (client.ws as unknown as { _socket: NetSocket })._socket
  const resume = tcp.resume
  tcp.resume = () => tcp
  tcp.pause()
  return () => {
    tcp.resume = resume
    tcp.resume()
  }
}

/** Broadcasts in small batches (one setImmediate apart) until `done()`: the kernel's buffers fill first. */
async function broadcastUntil(srv: TestServer, done: () => boolean, next: () => [string, string, object]): Promise<void> {
  while (!done()) {
    for (let i = 0; i < 8; i++) void srv.hub.broadcast(...next())
    await new Promise((resolve) => setImmediate(resolve))
  }
}

t.test("'close' (the default): a socket over its bound is closed with 1013", async (t) => {
  const srv = await setup(t)
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  await c.join('plain:1')
  const read = stall(c)
  let n = 0
  await broadcastUntil(srv, () => srv.hub.stats().slowConsumers > 0, () => ['plain:1', 'm', { n: n++, pad: PAD }])
  read()
  t.same(await c.waitForClose(), { code: 1013, reason: 'slow consumer' })
  t.equal(srv.hub.stats().droppedFrames, 0, 'nothing counted as dropped')
})

t.test("'drop': frames are dropped and counted while the socket is over its bound; replies are not; after it catches up, live frames in order", async (t) => {
  const srv = await setup(t)
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const { joinRef } = await c.join('feed:1')
  const read = stall(c)
  let n = 0
  const next = (): [string, string, object] => ['feed:1', 'm', { n: n++, pad: PAD }]
  await broadcastUntil(srv, () => srv.hub.stats().droppedFrames >= 20, next)
  // A push from the lagging socket, handled while it is over its bound: its reply is queued.
  const framesIn = srv.hub.stats().framesIn
  const reply = c.request(joinRef, 'feed:1', 'get')
  await eventually(() => srv.hub.stats().framesIn > framesIn, 3000, 'the server read the push')
  const dropped = srv.hub.stats().droppedFrames
  const stalledAt = n
  read()
  t.equal((await reply).response.big.length, 6000, 'the reply to a push sent while over the bound arrived whole')
  // Broadcasts go on while it catches up, until live ones reach it again.
  await broadcastUntil(srv, () => c.events('feed:1', 'm').some((f) => f[4].n >= stalledAt), next)
  const sent = n
  for (let i = 0; i < 5; i++) void srv.hub.broadcast('feed:1', 'm', { n: n++ })
  await c.waitFor((f) => f[3] === 'm' && f[4].n === n - 1, 3000, 'the last live message')
  const got = c.events('feed:1', 'm').map((f) => f[4].n as number)
  t.ok(got.every((v, i) => i === 0 || v > got[i - 1]!), 'in order, no duplicate')
  t.equal(sent - got.filter((v) => v < sent).length, srv.hub.stats().droppedFrames, `the missing are the ones counted (${dropped} while it did not read)`)
  t.same(got.slice(-5), [sent, sent + 1, sent + 2, sent + 3, sent + 4], 'live frames flow again after catch-up, none missing')
  t.equal(srv.hub.stats().connections, 1, 'the socket lives')
  t.equal(srv.hub.stats().slowConsumers, 0)
  t.equal(srv.hub.stats().conflatedFrames, 0)
})

t.test("'latest': a lagging socket gets the newest message of each topic, in order, then live ones", async (t) => {
  const srv = await setup(t)
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  await c.join('prices:a')
  await c.join('prices:b')
  await c.join('feed:1')
  const read = stall(c)
  // One sequence over both topics (g), so order can be checked across them too.
  let g = 0
  const last: Record<string, number> = {}
  const next = (): [string, string, object] => {
    const topic = g % 3 === 2 ? 'prices:b' : 'prices:a'
    last[topic] = g
    return [topic, 'tick', { g: g++, pad: PAD }]
  }
  await broadcastUntil(srv, () => srv.hub.stats().conflatedFrames >= 50, next)
  const stalledAt = g
  read()
  // Broadcasts go on while it catches up (the kept frames go out as it drains), until live ones reach it.
  await broadcastUntil(srv, () => c.frames.some((f) => f[3] === 'tick' && f[4].g >= stalledAt), next)
  const sent = g
  await c.waitFor((f) => f[2] === 'prices:a' && f[4].g === last['prices:a'], 5000, 'the newest prices:a')
  await c.waitFor((f) => f[2] === 'prices:b' && f[4].g === last['prices:b'], 5000, 'the newest prices:b')
  const ticks = () => c.frames.filter((f) => f[3] === 'tick').map((f) => f[4].g as number)
  const got = ticks()
  t.ok(got.every((v, i) => i === 0 || v > got[i - 1]!), 'in the order they were broadcast: nothing stale after a newer one')
  const stats = srv.hub.stats()
  t.equal(got.length + stats.conflatedFrames, sent, `each message delivered or conflated (${stats.conflatedFrames} conflated)`)
  t.equal(stats.droppedFrames, 0)
  t.equal(stats.slowConsumers, 0)
  // Caught up: live frames flow, in order, none missing.
  for (let i = 0; i < 5; i++) void srv.hub.broadcast('prices:a', 'tick', { g: g++ })
  void srv.hub.broadcast('feed:1', 'm', { n: 0 })
  await c.waitFor((f) => f[3] === 'm', 3000, 'a live message on a drop topic')
  t.same(ticks().slice(-5), [sent, sent + 1, sent + 2, sent + 3, sent + 4], 'live frames again, in order')
  t.equal(srv.hub.stats().connections, 1, 'the socket lives')
})

t.test('a presence frame is never dropped: a socket that cannot queue one is closed with 1013', async (t) => {
  const srv = await setup(t)
  const c = await RawClient.connect(srv.url())
  const other = await RawClient.connect(srv.url())
  t.teardown(() => Promise.all([c.close(), other.close()]))
  await c.join('room:1', { name: 'slow' })
  const read = stall(c)
  let n = 0
  await broadcastUntil(srv, () => srv.hub.stats().droppedFrames > 0, () => ['room:1', 'm', { n: n++, pad: PAD }])
  t.equal(srv.hub.stats().slowConsumers, 0, 'broadcasts on a drop pattern are dropped, the socket lives')
  // A presence_diff for the lagging socket: it cannot be dropped, so the socket is closed.
  await other.join('room:1', { name: 'other' })
  await eventually(() => srv.hub.stats().slowConsumers === 1, 3000, 'the slow consumer closed')
  read()
  t.same(await c.waitForClose(), { code: 1013, reason: 'slow consumer' })
  t.notOk(c.frames.some((f) => f[3] === 'presence_diff'), 'it got no presence_diff (nor a wrong presence list)')
  t.equal(srv.hub.stats().connections, 1, 'the other client stays')
})

t.test("'latest' over long-poll: a session that does not poll gets the newest message per topic at its next polls", async (t) => {
  const srv = await startServer({ maxBufferedBytes: 4096, longPoll: { pollTimeoutMs: 300, sessionTimeoutMs: 5000 } })
  t.teardown(srv.close)
  srv.hub.channel('prices:*', { backpressure: 'latest' })
  const lp = await LongPollClient.open(`http://127.0.0.1:${srv.port}/ws/longpoll`)
  t.equal((await lp.send([['1', '1', 'prices:a', 'phx_join', {}]])).status, 200)
  await lp.pollUntil((f) => f[3] === 'hb_history')
  for (let g = 0; g < 20; g++) void srv.hub.broadcast('prices:a', 'tick', { g, pad: 'x'.repeat(500) })
  const conflated = srv.hub.stats().conflatedFrames
  t.ok(conflated > 0, `${conflated} conflated while the session did not poll`)
  // The first poll takes what was queued; the kept one is queued then, for the next poll.
  await lp.pollUntil((f) => f[3] === 'tick' && f[4].g === 19, 3000, 'the newest tick')
  const got = lp.frames.filter((f) => f[3] === 'tick').map((f) => f[4].g as number)
  t.ok(got.every((v, i) => i === 0 || v > got[i - 1]!), 'in order')
  t.equal(got.length + conflated, 20, 'each delivered or conflated')
  t.equal(srv.hub.stats().slowConsumers, 0)
})

t.test('backpressure must be one of the three', async (t) => {
  const srv = await setup(t)
  t.throws(() => srv.hub.channel('bad:*', { backpressure: 'newest' as 'latest' }), /backpressure of "bad:\*" must be 'close', 'drop' or 'latest'/)
})

t.test('kept frames go before anything written after them, also when the buffer shrank with no drain yet', async (t) => {
  const { EventEmitter } = await import('node:events')
  const { Connection, WIRES, textFrame } = await import('./fixtures/internals.js')
  const { defaultLimits } = await import('@hornbeam/channels')
  // A transport with no ws internals (as a long-poll session): frames go through `send`.
  const ws = Object.assign(new EventEmitter(), {
    readyState: 1, bufferedAmount: 0, sent: [] as string[],
    send(data: Buffer) { ws.sent.push(data.toString()); ws.bufferedAmount += data.length },
    close() { ws.readyState = 3 }, terminate() {},
  })
  const counters = { framesOut: 0, bytesOut: 0, droppedFrames: 0, conflatedFrames: 0, slowConsumers: 0 }
  const host = { options: { ...defaultLimits, maxBufferedBytes: 100 }, logger: quietLogger(), counters, removeConnection() {}, untrackOwner() {} }
  const conn = new Connection(host as never, ws as never, WIRES.hornbeam, 'c1', {})
  const frame = (name: string, size: number) => textFrame(name.padEnd(size - 2, '.'))
  conn.writeFrame(frame('a1', 60), 'latest', 'a')
  conn.writeFrame(frame('a2', 60), 'latest', 'a') // over the bound: kept
  conn.writeFrame(frame('b1', 60), 'latest', 'b') // kept
  conn.writeFrame(frame('a3', 60), 'latest', 'a') // replaces a2, and now comes after b1
  t.same([counters.conflatedFrames, ws.listenerCount('drain')], [1, 1], 'one conflated; the socket waits for drain')
  // The buffer shrinks with no drain yet: the next write sends the kept frames that fit first.
  ws.bufferedAmount = 0
  conn.writeFrame(frame('c1', 30), 'drop', 'c') // b1 goes; a3 does not fit behind it: c1 must not pass it
  t.equal(counters.droppedFrames, 1, 'c1 dropped rather than sent ahead of a kept frame')
  ws.bufferedAmount = 0
  ws.emit('drain')
  conn.writeFrame(frame('c2', 30), 'drop', 'c')
  t.same(ws.sent.map((s) => s.slice(0, 2)), ['a1', 'b1', 'a3', 'c2'], 'in order; a3 replaced a2')
  t.equal(ws.listenerCount('drain'), 0, 'caught up: no listener left')
  t.equal(conn.lag, undefined, 'and no backlog')
})
