// The in-memory history engine on its own, with a clock the test holds: positions, the per-topic
// size and age bounds, the hub-wide byte bound (oldest first, across topics), what a resume can
// and cannot be told, and forgetting a topic.
import t from 'tap'
import fc from 'fast-check'
import { framePayload, MemoryHistory, newEpoch, OutboundMessage, parsePosition, SLOT_BYTES, WIRES } from './fixtures/internals.js'

const options = { size: 5, ttlMs: 1000, maxReplay: 100 }

function setup(maxBytes = 1 << 30) {
  let now = 0
  const history = new MemoryHistory(maxBytes, () => now)
  const append = (topic: string, n: number, exclude?: string) => history.append(topic, options, new OutboundMessage(topic, 'm', { n }), exclude)
  const payloads = (messages: Array<{ frameFor(w: any): Buffer }>) =>
    messages.map((m: any) => JSON.parse(m.frameFor({ encoding: 'array', encodingIndex: 0, index: 0, dialect: { name: 'hornbeam' } }).subarray(2).toString())[4].n)
  return { history, append, payloads, tick: (ms: number) => (now += ms) }
}

t.test('positions: one epoch per topic log, offsets from 1, in the ref slot of the frame', async (t) => {
  const { history, append } = setup()
  const a1 = parsePosition(append('a', 1))!
  const a2 = parsePosition(append('a', 2))!
  const b1 = parsePosition(append('b', 1))!
  t.same([a1.offset, a2.offset, b1.offset], [1, 2, 1])
  t.equal(a1.epoch, a2.epoch)
  t.not(a1.epoch, b1.epoch, 'each topic its own epoch')
  t.match(a1.epoch, /^[a-z][a-z0-9]+$/, 'a position is never a bare integer')
  t.same(history.stats().entries, 3)
})

t.test('epochs: distinct across refills of their random pool, each a valid position epoch', async (t) => {
  // 455 epochs per 4 KiB pool: 2,000 take it through four refills.
  const epochs = Array.from({ length: 2000 }, () => newEpoch())
  t.equal(new Set(epochs).size, epochs.length, 'no epoch twice')
  t.equal(epochs.filter((e) => parsePosition(`${e}:1`)?.epoch !== e).length, 0, 'every one parses back')
  t.equal(new Set(epochs.map((e) => e[0])).size, 26, 'the first letter is spread over a-z')
})

t.test('resume: everything after the position, in order; the reasons it cannot', async (t) => {
  const { history, append, payloads } = setup()
  const positions = [1, 2, 3, 4].map((n) => append('a', n))
  const at2 = parsePosition(positions[1])!
  const got = history.resume('a', options, at2, undefined)
  t.same([got.recovered, payloads(got.messages), got.position], [true, [3, 4], positions[3]])
  t.same(history.resume('a', options, parsePosition(positions[3])!, undefined).messages, [], 'up to date: nothing to replay')
  t.equal(history.resume('a', options, { epoch: 'zother99', offset: 2 }, undefined).reason, 'unknown epoch')
  t.equal(history.resume('a', options, { epoch: at2.epoch, offset: 9 }, undefined).reason, 'position from the future')
  for (let n = 5; n <= 12; n++) append('a', n)
  const old = history.resume('a', options, at2, undefined)
  t.same([old.recovered, old.reason, old.messages.length], [false, 'messages expired', 0], 'past the size bound: not recovered, nothing replayed')
  const few = history.resume('a', { ...options, maxReplay: 2 }, { epoch: at2.epoch, offset: 8 }, undefined)
  t.same([few.recovered, few.reason], [false, 'too many missed'], 'more missed than maxReplay')
})

t.test('what a connection broadcast itself is not replayed to it', async (t) => {
  const { history, append, payloads } = setup()
  const start = parsePosition(append('a', 1))!
  append('a', 2, 'conn-1')
  append('a', 3)
  t.same(payloads(history.resume('a', options, start, 'conn-1').messages), [3])
  t.same(payloads(history.resume('a', options, start, 'conn-2').messages), [2, 3])
})

t.test('age: messages older than ttlMs are gone, and a resume that needs them is not recovered', async (t) => {
  const { history, append, tick } = setup()
  const start = parsePosition(append('a', 1))!
  append('a', 2)
  tick(600)
  append('a', 3)
  tick(600) // 2 is 1,200 ms old, 3 is 600
  const got = history.resume('a', options, start, undefined)
  t.same([got.recovered, got.reason], [false, 'messages expired'])
  t.equal(history.stats().entries, 1, 'only 3 is kept')
})

t.test('the hub-wide byte bound evicts the oldest messages first, whatever their topic', async (t) => {
  const one = setup().history
  const size = (() => {
    one.append('x', options, new OutboundMessage('x', 'm', { n: 1 }), undefined)
    return one.stats().bytes // its frame and its slot; under so small a bound, a frame is its own chunk
  })()
  const { history, append } = setup(size * 3)
  const a = parsePosition(append('a', 1))!
  append('b', 1)
  append('a', 2)
  append('b', 2) // over the bound: a's first message goes
  t.equal(history.stats().entries, 3)
  t.ok(history.stats().allocated + 3 * SLOT_BYTES <= size * 3)
  t.same(history.resume('a', options, { epoch: a.epoch, offset: 0 }, undefined).reason, 'messages expired', 'a:1 evicted')
  t.equal(history.resume('a', options, a, undefined).recovered, true, 'a:2 kept')
})

t.test('recent: the last N (what is kept when N is more); sweep and forget end a log and its epoch', async (t) => {
  const { history, append, payloads, tick } = setup()
  for (let n = 1; n <= 3; n++) append('a', n)
  t.same(payloads(history.recent('a', options, 2).messages), [2, 3])
  t.same(payloads(history.recent('a', options, 50).messages), [1, 2, 3])
  const epoch = parsePosition(history.recent('a', options, 0).position)!.epoch
  tick(5000)
  history.sweep(() => true)
  t.equal(history.stats().topics, 1, 'in use: the log stays, empty')
  history.sweep(() => false)
  t.equal(history.stats().topics, 0, 'idle and empty: forgotten')
  t.not(parsePosition(append('a', 4))!.epoch, epoch, 'a new log, a new epoch')
  history.forget('a')
  t.same(history.stats(), { topics: 0, entries: 0, bytes: 0, allocated: 0 }, 'nothing held')
})

t.test('evicting under the hub-wide bound for ever holds no more memory than the bound', async (t) => {
  const { history, append } = setup(20_000)
  for (let n = 1; n <= 200_000; n++) append(`t${n % 50}`, n)
  const { entries, allocated } = history.stats()
  t.ok(entries > 0 && entries < 400, `${entries} kept under 20 kB`)
  t.ok(allocated <= 20_000, `${allocated} bytes of frames held for a 20,000-byte bound`)
  const chunks = (history as unknown as { arena: { chunkCount: number } }).arena.chunkCount
  t.ok(chunks <= 20, `${chunks} chunks, released or not, still listed`)
})

t.test('a chunk goes as soon as its messages are gone, and a replayed frame outlives its chunk', async (t) => {
  const { history, append, payloads, tick } = setup(1 << 20)
  const start = parsePosition(append('a', 1))!
  for (let n = 2; n <= 3000; n++) append('a', n) // 5 kept; the chunks before the last ones are let go
  t.equal(history.stats().entries, 5)
  t.ok(history.stats().allocated <= 2 * 65_536, `${history.stats().allocated} bytes held for 5 messages`)
  const replay = history.resume('a', options, { epoch: start.epoch, offset: 2995 }, undefined).messages
  t.same(payloads(replay), [2996, 2997, 2998, 2999, 3000])
  tick(2000)
  history.sweep(() => false)
  for (let n = 1; n <= 3000; n++) append('b', n) // writes new chunks, never the old ones
  t.same(payloads(replay), [2996, 2997, 2998, 2999, 3000], 'the views handed out are intact')
  t.same(history.stats().topics, 1)
})

t.test('a message bigger than the bound is not kept, and a resume across it is not recovered', async (t) => {
  const { history, append } = setup(2000)
  const first = parsePosition(append('a', 1))!
  history.append('a', options, new OutboundMessage('a', 'm', { n: 'x'.repeat(5000) }), undefined)
  append('a', 3)
  t.same(history.stats().entries, 1, 'only 3 is kept')
  t.same(history.resume('a', options, first, undefined).reason, 'messages expired')
})

t.test('property: a log answers as a list of its last `size` messages younger than ttlMs', async (t) => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('append' as const), topic: fc.constantFrom('a', 'b'), exclude: fc.option(fc.constantFrom('c1', 'c2'), { nil: undefined }) }),
    fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 1200 }) }),
    fc.record({ kind: fc.constant('resume' as const), topic: fc.constantFrom('a', 'b'), back: fc.integer({ min: 0, max: 12 }), previous: fc.option(fc.constantFrom('c1', 'c2'), { nil: undefined }) }),
  )
  fc.assert(
    fc.property(fc.array(op, { minLength: 10, maxLength: 120, size: 'max' }), fc.integer({ min: 1, max: 9 }), (ops, size) => {
      const opts = { size, ttlMs: 1000, maxReplay: 100 }
      let now = 0
      const history = new MemoryHistory(1 << 30, () => now)
      const model = new Map<string, { epoch: string; top: number; kept: Array<{ offset: number; at: number; exclude?: string | undefined; n: number }> }>()
      let n = 0
      for (const o of ops) {
        if (o.kind === 'tick') now += o.ms
        else if (o.kind === 'append') {
          const position = parsePosition(history.append(o.topic, opts, new OutboundMessage(o.topic, 'm', { n: ++n }), o.exclude))!
          const log = model.get(o.topic) ?? { epoch: position.epoch, top: 0, kept: [] }
          model.set(o.topic, log)
          log.kept.push({ offset: ++log.top, at: now, exclude: o.exclude, n })
          if (position.offset !== log.top) return false
        } else {
          const log = model.get(o.topic)
          if (log === undefined) continue
          const kept = log.kept.filter((e) => e.at >= now - opts.ttlMs).slice(-size)
          const since = Math.max(0, log.top - o.back)
          const got = history.resume(o.topic, opts, { epoch: log.epoch, offset: since }, o.previous)
          const complete = since === log.top || (kept.length > 0 && kept[0]!.offset <= since + 1)
          if (got.recovered !== complete) return false
          const expected = complete ? kept.filter((e) => e.offset > since && (o.previous === undefined || e.exclude !== o.previous)).map((e) => e.n) : []
          const seen = got.messages.map((m) => JSON.parse(framePayload(m.frameFor(WIRES.hornbeam)).toString())[4].n)
          if (JSON.stringify(seen) !== JSON.stringify(expected)) return false
        }
      }
      return true
    }),
    { numRuns: 500 },
  )
  t.pass('500 runs agree with the model')
})

t.test('a replayed frame stays whole while the arena reuses the chunk it came from', async (t) => {
  // 64 KiB: 4 KiB chunks, so a few hundred messages evict and reuse chunks.
  const { history, append, payloads } = setup(64 * 1024)
  const start = parsePosition(append('a', 1))!
  append('a', 2)
  append('a', 3)
  const replay = history.resume('a', options, start, undefined)
  t.same(payloads(replay.messages), [2, 3])
  for (let n = 0; n < 2000; n++) append(`t${n}`, 1_000_000 + n)
  t.ok(history.stats().allocated <= 64 * 1024, 'the arena stayed within its bound, reusing chunks')
  t.same(payloads(replay.messages), [2, 3], 'the replayed frames were copied out, not overwritten')
})
