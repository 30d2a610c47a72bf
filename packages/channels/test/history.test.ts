// History and resume over the wire, on one node: a client cut off (socket destroyed, or dropped
// without a FIN while its old channel lives on) resumes with its last position and gets every
// missed message once, in order, before live ones; positions that cannot be served say so.
import t from 'tap'
import { RawClient, startServer, eventually, POSITION, type TestServer } from '../../../test/helpers/wire.js'

function room(srv: TestServer, options = {}) {
  const seen: Array<Record<string, unknown>> = []
  srv.hub.channel('room:*', options).onJoin(async (_topic, _tp, params, socket) => {
    seen.push({ ...params })
    if (params.slow) await new Promise((resolve) => setTimeout(resolve, 30))
    return ['ok', {}, socket]
  })
  return seen
}

const numbers = (c: RawClient, topic: string) => c.events(topic, 'm').map((f) => f[4].n as number)

/** Joins (or resumes) and waits for the join's hb_history. */
async function join(c: RawClient, topic: string, params: Record<string, unknown> = {}) {
  const reply = await c.join(topic, params)
  const notice = await c.waitFor((f) => f[2] === topic && f[3] === 'hb_history' && f[0] === reply.joinRef, 2000, 'hb_history')
  return { reply, notice: notice[4] }
}

t.test('every join gets its position; a socket destroyed mid-stream resumes with nothing lost, nothing doubled', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  const params = room(srv)
  const first = await RawClient.connect(srv.url())
  const { notice } = await join(first, 'room:1')
  t.match(notice, { position: POSITION, resumed: false, replayed: 0 }, 'a position from the first join, before any message')
  for (let n = 1; n <= 3; n++) srv.hub.broadcast('room:1', 'm', { n })
  const third = await first.waitFor((f) => f[3] === 'm' && f[4].n === 3)
  first.ws.terminate()
  for (let n = 4; n <= 10; n++) srv.hub.broadcast('room:1', 'm', { n })

  const again = await RawClient.connect(srv.url())
  t.teardown(() => again.close())
  const resumed = await join(again, 'room:1', { hb_position: third[1], hb_previous: notice.connection })
  t.same(params.at(-1), {}, 'the reserved params never reach the join handler')
  t.same(numbers(again, 'room:1'), [4, 5, 6, 7, 8, 9, 10], 'the missed ones, in order')
  t.match(resumed.notice, { resumed: true, recovered: true, replayed: 7 })
  const replayed = again.events('room:1', 'm')
  t.same(replayed.map((f) => f[1]), replayed.map((f) => f[1]).filter((r, i, all) => all.indexOf(r) === i), 'each position once')
  t.equal(resumed.notice.position, replayed.at(-1)![1], "hb_history's position is the last replayed message's")
  srv.hub.broadcast('room:1', 'm', { n: 11 })
  await again.waitFor((f) => f[3] === 'm' && f[4].n === 11)
  t.same(numbers(again, 'room:1'), [4, 5, 6, 7, 8, 9, 10, 11], 'then live, after the replay')
  t.match(srv.hub.stats(), { replayed: 7, resumesRecovered: 1, resumesNotRecovered: 0 })
})

t.test('a silent drop (no FIN): the old channel still lives when the client resumes on a new socket', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  room(srv)
  const old = await RawClient.connect(srv.url())
  await join(old, 'room:1')
  srv.hub.broadcast('room:1', 'm', { n: 1 })
  const last = await old.waitFor((f) => f[3] === 'm')
  // The network goes away without a word: the server keeps writing to the old socket.
  ;(old.ws as unknown as { _socket: import('node:net').Socket })._socket.pause()
  for (let n = 2; n <= 5; n++) srv.hub.broadcast('room:1', 'm', { n })
  t.equal(srv.hub.stats().topics['room:1'], 1, 'the old channel is still subscribed')
  const fresh = await RawClient.connect(srv.url())
  t.teardown(() => (old.ws.terminate(), fresh.close()))
  const { notice } = await join(fresh, 'room:1', { hb_position: last[1] })
  t.same(numbers(fresh, 'room:1'), [2, 3, 4, 5])
  t.match(notice, { recovered: true, replayed: 4 })
})

t.test('broadcasts racing the join (an async join handler) are neither lost nor doubled', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  room(srv)
  const first = await RawClient.connect(srv.url())
  await join(first, 'room:1')
  srv.hub.broadcast('room:1', 'm', { n: 1 })
  const last = await first.waitFor((f) => f[3] === 'm')
  first.ws.terminate()
  // Broadcasts every turn while the resuming join's handler awaits: some land before the
  // subscription (the replay has them), the rest after (live).
  let n = 1
  const pump = setInterval(() => srv.hub.broadcast('room:1', 'm', { n: ++n }), 1)
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const { notice } = await join(c, 'room:1', { hb_position: last[1], slow: true })
  const atJoin = n
  await c.waitFor((f) => f[3] === 'm' && f[4].n >= atJoin + 3, 2000, 'live ones')
  clearInterval(pump)
  const stop = ++n
  srv.hub.broadcast('room:1', 'm', { n: stop })
  await c.waitFor((f) => f[3] === 'm' && f[4].n === stop)
  t.same(numbers(c, 'room:1'), Array.from({ length: stop - 1 }, (_, i) => i + 2), `2..${stop}, each once, in order`)
  t.ok(notice.replayed > 0, `${notice.replayed} replayed before live`)
})

t.test('positions that cannot be served: recovered false with the reason, never silence', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  room(srv, { history: { size: 3 } })
  srv.hub.channel('quiet:*', { history: false })
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const { notice } = await join(c, 'room:1')
  const [epoch] = String(notice.position).split(':')
  const cases: Array<[unknown, string]> = [
    ['nonsense', 'malformed position'],
    [{ evil: true }, 'malformed position'],
    ['zz999999:1', 'unknown epoch'],
    [`${epoch}:99`, 'position from the future'],
  ]
  for (const [position, reason] of cases) {
    const got = await join(c, 'room:1', { hb_position: position })
    t.match(got.notice, { resumed: true, recovered: false, reason, replayed: 0 }, `${JSON.stringify(position)}: ${reason}`)
  }
  for (let n = 1; n <= 5; n++) srv.hub.broadcast('room:1', 'm', { n })
  const expired = await join(c, 'room:1', { hb_position: `${epoch}:0` })
  t.match(expired.notice, { recovered: false, reason: 'messages expired', replayed: 0 }, 'past the size bound')
  const off = await join(c, 'quiet:1', { hb_position: `${epoch}:0` })
  t.match(off.notice, { position: null, recovered: false, reason: 'history off' })
  t.equal(srv.hub.stats().resumesNotRecovered, 6)
})

t.test('hb_recent: a first join gets the last N messages (what is kept, if N is more)', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  room(srv)
  for (let n = 1; n <= 8; n++) srv.hub.broadcast('room:1', 'm', { n })
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const { notice } = await join(c, 'room:1', { hb_recent: 3 })
  t.same(numbers(c, 'room:1'), [6, 7, 8])
  t.match(notice, { resumed: false, replayed: 3 })
  const all = await RawClient.connect(srv.url())
  t.teardown(() => all.close())
  await join(all, 'room:1', { hb_recent: 1000 })
  t.same(numbers(all, 'room:1'), [1, 2, 3, 4, 5, 6, 7, 8])
})

t.test('what the resuming client broadcast itself (broadcastFrom) is not replayed to it', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  room(srv)
  srv.hub.channel('chat:*').on('say', (payload, socket) => (socket.broadcastFrom('m', payload), ['reply', {}, socket]))
  const a = await RawClient.connect(srv.url())
  const b = await RawClient.connect(srv.url())
  t.teardown(() => b.close())
  const { reply, notice } = await join(a, 'chat:1')
  await join(b, 'chat:1')
  await a.push(reply.joinRef, 'chat:1', 'say', { n: 1 })
  await b.waitFor((f) => f[3] === 'm')
  a.ws.terminate()
  const again = await RawClient.connect(srv.url())
  t.teardown(() => again.close())
  const resumed = await join(again, 'chat:1', { hb_position: notice.position, hb_previous: notice.connection })
  t.same(numbers(again, 'chat:1'), [], 'its own message is not sent back')
  t.match(resumed.notice, { recovered: true, replayed: 0 })
})

t.test('history in Prometheus: replayed, resumes recovered and not, bytes kept (per topic, opt-in)', async (t) => {
  const { registerMetrics } = await import('@hornbeam/channels/prometheus')
  const srv = await startServer()
  t.teardown(srv.close)
  room(srv)
  const registry = registerMetrics(srv.hub, { perTopicHistory: true })
  const first = await RawClient.connect(srv.url())
  const { notice } = await join(first, 'room:1')
  first.ws.terminate()
  for (let n = 1; n <= 3; n++) srv.hub.broadcast('room:1', 'm', { n })
  const again = await RawClient.connect(srv.url())
  t.teardown(() => again.close())
  await join(again, 'room:1', { hb_position: notice.position })
  await join(again, 'room:1', { hb_position: 'nonsense' })
  const text = await registry.metrics()
  t.match(text, /^hornbeam_history_replayed_total 3$/m)
  t.match(text, /^hornbeam_resumes_recovered_total 1$/m)
  t.match(text, /^hornbeam_resumes_not_recovered_total 1$/m)
  t.match(text, /^hornbeam_history_entries 3$/m)
  const bytes = Number(/^hornbeam_history_bytes (\d+)$/m.exec(text)?.[1])
  t.ok(bytes > 0, `${bytes} bytes kept`)
  t.match(text, new RegExp(`^hornbeam_history_topic_bytes\\{topic="room:1"\\} ${bytes}$`, 'm'), 'all of them in room:1')
  const allocated = Number(/^hornbeam_history_allocated_bytes (\d+)$/m.exec(text)?.[1])
  t.ok(allocated >= bytes - 3 * 32 && allocated <= 64 * 1024 * 1024, `${allocated} bytes held for frames, within the default 64 MiB`)
})

t.test('a replay goes out message by message under the slow-consumer bound, never as one giant frame', async (t) => {
  const srv = await startServer({ maxBufferedBytes: 64 * 1024 })
  t.teardown(srv.close)
  room(srv, { history: { size: 1000 } })
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const { notice } = await join(c, 'room:1')
  // In batches the reading client keeps up with (20 × 2 KB a turn, under its bound).
  for (let n = 1; n <= 200; n++) {
    srv.hub.broadcast('room:1', 'big', { n, pad: 'x'.repeat(2000) })
    if (n % 20 === 0) await c.waitFor((f) => f[3] === 'big' && f[4].n === n)
  }
  const frames = c.frames.filter((f) => f[3] === 'big')
  t.equal(frames.length, 200, 'each its own frame')
  // A resuming socket that reads nothing: about 400 KB to replay, over its 64 KiB bound.
  const stalled = await RawClient.connect(srv.url())
  ;(stalled.ws as unknown as { _socket: import('node:net').Socket })._socket.pause()
  stalled.send('1', '1', 'room:1', 'hb_join', { hb_position: notice.position })
  await eventualClose(srv)
  t.equal(srv.hub.stats().slowConsumers, 1, 'cut as a slow consumer, not buffered whole')
})

async function eventualClose(srv: TestServer) {
  await eventually(() => srv.hub.stats().slowConsumers === 1, 3000, 'the slow consumer cut')
}

t.test('phoenix vsn 1 (objects): a replay is framed as objects, the very text live delivery sent, at every frame length', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  room(srv)
  // Frame lengths in a 7-bit, a 16-bit and a 64-bit header, and multi-byte UTF-8.
  const payloads = [{ n: 1, s: 'é✓' }, { n: 2, s: 'x'.repeat(200) }, { n: 3, s: 'y'.repeat(70_000) }]
  const objects = async () => {
    const c = await RawClient.connect(srv.url() + '?vsn=1.0.0', 'phoenix', true)
    const texts: string[] = []
    c.ws.on('message', (data) => texts.push(data.toString()))
    return { c, broadcasts: () => texts.filter((text) => JSON.parse(text).event === 'm') }
  }
  const live = await objects()
  t.teardown(() => live.c.close())
  await join(live.c, 'room:v1')
  const away = await objects()
  const { notice } = await join(away.c, 'room:v1')
  away.c.ws.terminate()
  for (const payload of payloads) srv.hub.broadcast('room:v1', 'm', payload)
  await live.c.waitFor((f) => f[3] === 'm' && f[4].n === 3)

  const back = await objects()
  t.teardown(() => back.c.close())
  const resumed = await join(back.c, 'room:v1', { hb_position: notice.position, hb_previous: notice.connection })
  t.match(resumed.notice, { resumed: true, recovered: true, replayed: 3 })
  t.equal(back.broadcasts().length, 3, 'three replayed')
  t.same(back.broadcasts(), live.broadcasts(), 'each replayed frame is the text the live client got')
  t.ok(back.broadcasts().every((text) => text.startsWith('{')), 'in the object encoding')
})
