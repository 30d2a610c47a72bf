// Fuzzing a live server with random and mutated frames (fast-check). The process never crashes,
// nothing leaks (connections, channels, presences, timers return to their baseline once the
// sockets close), and a well-behaved client on the same server sees all of its messages.
// HB_FUZZ_RUNS=2000 for a longer run; npm test uses a quick one.
import t from 'tap'
import fc from 'fast-check'
import { RawClient, binaryPush, startServer, eventually, sleep } from '../../../test/helpers/wire.js'

const RUNS = Number(process.env.HB_FUZZ_RUNS ?? 60)
const TOPICS = ['room:lobby', 'room:1', 'room:', 'nope', 'hornbeam', 'phoenix', '', 'room:a:b', 'x'.repeat(300)]
const EVENTS = ['hb_join', 'hb_leave', 'phx_join', 'heartbeat', 'echo', 'throw', 'async', 'stop', 'track', 'garbage', 'nohandler', '']

const jsonValue = fc.jsonValue({ maxDepth: 3 })
const ref = fc.oneof(fc.constant(null), fc.nat(20).map(String), fc.integer(), fc.boolean(), fc.string({ maxLength: 4 }))
const validish = fc.tuple(ref, ref, fc.oneof(fc.constantFrom(...TOPICS), fc.string({ maxLength: 12 })), fc.oneof(fc.constantFrom(...EVENTS), fc.string({ maxLength: 8 })), fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), jsonValue, { maxKeys: 4 }), jsonValue))
// Well-formed joins and events under join_ref "1", so handlers really run (and crash).
const scripted = fc.tuple(fc.constantFrom('room:lobby', 'room:1'), fc.constantFrom(...EVENTS), fc.dictionary(fc.constantFrom('user', 'refuse', 'k', 'body'), jsonValue, { maxKeys: 3 }), fc.nat(99)).map(
  ([topic, event, payload, r]) => JSON.stringify(['1', String(r), topic, event, payload]),
)
const frame: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: scripted },
  { weight: 6, arbitrary: validish.map((f) => JSON.stringify(f)) },
  { weight: 2, arbitrary: fc.array(jsonValue, { maxLength: 8 }).map((a) => JSON.stringify(a)) },
  { weight: 1, arbitrary: jsonValue.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  // Mutations of a valid frame: truncated or with a character flipped.
  { weight: 2, arbitrary: fc.tuple(validish.map((f) => JSON.stringify(f)), fc.nat(), fc.string({ minLength: 1, maxLength: 1 })).map(([s, i, c]) => (i % 2 ? s.slice(0, i % (s.length + 1)) : s.slice(0, i % s.length) + c + s.slice((i % s.length) + 1))) },
)

// Binary messages: random bytes, and binary pushes (phoenix v2's layout) to the scripted topics,
// some cut short. A phoenix v2 socket decodes them; a hornbeam one ignores them.
const binary: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
  fc.tuple(fc.constantFrom('room:lobby', 'room:1', 'nope', 'phoenix'), fc.constantFrom(...EVENTS), fc.uint8Array({ maxLength: 20 }), fc.nat(99), fc.nat(99)).map(([topic, event, bytes, r, cut]) => {
    const push = binaryPush('1', String(r), topic, event, bytes)
    return cut < 70 ? push : push.subarray(0, cut % push.length)
  }),
)

t.test(`fuzz: ${RUNS} runs of random frames against a live server`, async (t) => {
  const srv = await startServer({ messagesPerSecond: 0, joinsPerSecond: 0, maxPayload: 64 * 1024 })
  t.teardown(srv.close)
  const hub = srv.hub
  const room = hub.channel('room:*')
  room.onJoin((topic, _tp, params, socket) => {
    if (params.refuse) return ['error', 'refused']
    if (params.user && typeof params.user === 'string') hub.presence(topic).track(socket, params.user, { p: params })
    return ['ok', params, socket.mergeAssigns(params)]
  })
  room.on('echo', (p, s) => ['reply', p, s])
  room.on('throw', () => {
    throw new Error('fuzz throw')
  })
  room.on('async', async (p, s) => (await sleep(1), ['reply', p, s]))
  room.on('stop', (_p, s) => ['stop', 'fuzz', s])
  room.on('track', (p, s) => (hub.presence(s.topic).track(s, String(p.k ?? 'k'), p), ['noreply', s]))
  room.on('garbage', (p) => p as any)
  hub.channel('nope').onJoin(() => ['ok'])

  // The well-behaved client: joined throughout, pushes and receives broadcasts.
  const good = await RawClient.connect(srv.url())
  t.teardown(() => good.close())
  const { joinRef } = await good.join('room:good', { user: 'good' })
  let pushes = 0
  let broadcasts = 0

  await good.waitFor((f) => f[3] === 'presence_state')
  await good.probe()
  const baseline = { resources: process.getActiveResourcesInfo().length, stats: hub.stats() }

  await fc.assert(
    fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 40 }), fc.boolean(), fc.array(binary, { maxLength: 10 }), async (frames, phoenix, binaries) => {
      const c = await RawClient.connect(srv.url() + (phoenix ? '?vsn=2.0.0' : ''), phoenix ? 'phoenix' : 'hornbeam')
      // A real join first, so the scripted frames (join_ref "1") reach handlers.
      c.send('1', '0', 'room:lobby', c.names.join, { user: `fuzz${pushes}` })
      for (const f of frames) c.sendRaw(f)
      for (const b of binaries) c.sendRaw(b, true)
      // Meanwhile the good client works as usual.
      const n = ++pushes
      const reply = await good.request(joinRef, 'room:good', 'echo', { n })
      if (reply.status !== 'ok' || reply.response.n !== n) throw new Error(`good client push ${n}: ${JSON.stringify(reply)}`)
      hub.broadcast('room:good', 'tick', { n: ++broadcasts })
      // Close once the server has handled every frame (or closed the socket itself).
      await c.probe().catch(() => {})
      await c.close()
    }),
    { numRuns: RUNS },
  )

  await eventually(() => good.events('room:good', 'tick').length === broadcasts, 3000, 'good client got every broadcast')
  t.same(good.events('room:good', 'tick').map((f) => f[4].n), [...Array(broadcasts).keys()].map((i) => i + 1), 'in order')
  await eventually(() => hub.stats().connections === 1, 3000, 'fuzz sockets gone')
  // Their channels end, presences go and timers clear as the sockets close: wait for that (a
  // leak never settles, and fails below).
  const settled = () => {
    const s = hub.stats()
    return Object.keys(s.topics).length === 1 && s.presence.entries === 1 && process.getActiveResourcesInfo().length <= baseline.resources + 2
  }
  await eventually(settled, 3000, 'channels, presences and timers back to the baseline').catch(() => {})
  const after = hub.stats()
  t.equal(after.connections, 1, 'only the good client is connected')
  t.same(after.topics, { 'room:good': 1 }, 'no channel leaked')
  t.equal(after.presence.entries, 1, 'no presence leaked')
  t.same(Object.keys(hub.presence('room:good').list()), ['good'])
  t.ok(after.malformed > baseline.stats.malformed, `malformed frames were sent and counted (${after.malformed})`)
  t.ok(after.crashes > 0, `handlers crashed and were contained (${after.crashes})`)
  t.ok(process.getActiveResourcesInfo().length <= baseline.resources + 2, `timers and handles back near baseline (${baseline.resources} → ${process.getActiveResourcesInfo().length})`)
})
