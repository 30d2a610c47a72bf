// The presence ORSWOT under random operations and an unreliable network: deltas reordered,
// duplicated and dropped, then anti-entropy (partition transfers). Every replica must end with
// the same list() for every topic, equal to the union of what each replica owns.
import t from 'tap'
import fc from 'fast-check'
import { isDeepStrictEqual } from 'node:util'
import { PresenceSet as PresenceState, renderPresences, HORNBEAM, type Change, type Delta, type PresenceEntry } from './fixtures/internals.js'

const TOPICS = ['a', 'b']
const KEYS = ['k1', 'k2', 'k3']
const OWNERS = ['o1', 'o2']

type Op =
  | { kind: 'track'; replica: number; topic: number; key: number; owner: number; v: number }
  | { kind: 'update'; replica: number; pick: number; v: number }
  | { kind: 'untrack'; replica: number; pick: number }
  | { kind: 'deliver'; from: number; to: number; pick: number }
  | { kind: 'tick'; replica: number }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('track' as const), replica: fc.nat(2), topic: fc.nat(1), key: fc.nat(2), owner: fc.nat(1), v: fc.nat(9) }),
  fc.record({ kind: fc.constant('update' as const), replica: fc.nat(2), pick: fc.nat(20), v: fc.nat(9) }),
  fc.record({ kind: fc.constant('untrack' as const), replica: fc.nat(2), pick: fc.nat(20) }),
  // Deliveries pick any delta ever sent (so: reordered, duplicated; never picked = dropped).
  fc.record({ kind: fc.constant('deliver' as const), from: fc.nat(2), to: fc.nat(2), pick: fc.nat(40) }),
  fc.record({ kind: fc.constant('tick' as const), replica: fc.nat(2) }),
)

function canonical(state: PresenceState, topic: string) {
  const list = renderPresences(state.entries(topic), HORNBEAM)
  const out: Record<string, string[]> = {}
  for (const key of Object.keys(list).sort()) out[key] = list[key]!.metas.map((m) => JSON.stringify(m)).sort()
  return out
}

/** The changes a replica emitted, applied like a client applies presence_diff. */
function applyChanges(view: Map<string, PresenceEntry>, changes: Change[]) {
  for (const c of changes) {
    const ref = `${c.entry.replica}.${c.entry.clock}`
    if (c.type === 'join') view.set(ref, c.entry)
    else view.delete(ref)
  }
}

function run(ops: Op[]) {
  const replicas = [0, 1, 2].map((i) => new PresenceState(`r${i}`))
  const sent: Delta[][] = [[], [], []]
  const owned: PresenceEntry[][] = [[], [], []]
  const views = replicas.map((r) => new Map<string, PresenceEntry>())
  const flush = (i: number) => {
    const d = replicas[i]!.takeDelta()
    if (d) sent[i]!.push(structuredClone(d))
  }
  for (const o of ops) {
    switch (o.kind) {
      case 'track': {
        const e = replicas[o.replica]!.add(TOPICS[o.topic]!, KEYS[o.key]!, OWNERS[o.owner]!, { v: o.v })
        owned[o.replica]!.push(e)
        applyChanges(views[o.replica]!, [{ type: 'join', entry: e }])
        break
      }
      case 'update': {
        const list = owned[o.replica]!
        if (list.length === 0) break
        const i = o.pick % list.length
        const old = list[i]!
        replicas[o.replica]!.remove(old)
        const e = replicas[o.replica]!.add(old.topic, old.key, old.owner, { v: o.v }, `${old.replica}.${old.clock}`)
        list[i] = e
        applyChanges(views[o.replica]!, [{ type: 'leave', entry: old }, { type: 'join', entry: e }])
        break
      }
      case 'untrack': {
        const list = owned[o.replica]!
        if (list.length === 0) break
        const [old] = list.splice(o.pick % list.length, 1)
        replicas[o.replica]!.remove(old!)
        applyChanges(views[o.replica]!, [{ type: 'leave', entry: old! }])
        break
      }
      case 'tick':
        flush(o.replica)
        break
      case 'deliver': {
        if (o.from === o.to || sent[o.from]!.length === 0) break
        const delta = sent[o.from]![o.pick % sent[o.from]!.length]!
        const changes: Change[] = []
        replicas[o.to]!.applyDelta(delta, changes)
        applyChanges(views[o.to]!, changes)
        break
      }
    }
  }
  for (let i = 0; i < 3; i++) flush(i)
  // Anti-entropy: every replica sends its partition to every other (twice, any order is fine).
  for (let round = 0; round < 2; round++) {
    for (let from = 0; from < 3; from++) {
      for (let to = 0; to < 3; to++) {
        if (from === to) continue
        const changes: Change[] = []
        replicas[to]!.joinPartition(structuredClone(replicas[from]!.partition()), changes)
        applyChanges(views[to]!, changes)
      }
    }
  }
  return { replicas, owned, views }
}

t.test('replicas converge after anti-entropy, whatever the network did', async (t) => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const { replicas, owned, views } = run(ops)
      for (const topic of TOPICS) {
        // The truth: what each replica owns right now.
        const expected = owned.flat().filter((e) => e.topic === topic)
        const want: Record<string, string[]> = {}
        for (const key of [...new Set(expected.map((e) => e.key))].sort()) {
          want[key] = expected.filter((e) => e.key === key).map((e) => JSON.stringify({ ...e.meta, hb_ref: `${e.replica}.${e.clock}` })).sort()
        }
        for (const r of replicas) {
          const got = canonical(r, topic)
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            throw new Error(`replica ${r.replica} topic ${topic}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`)
          }
        }
      }
      // The changes each replica emitted, applied in order, give its own state.
      replicas.forEach((r, i) => {
        const fromChanges = [...views[i]!.keys()].sort()
        const fromState = TOPICS.flatMap((topic) => [...r.entries(topic)].map((e) => `${e.replica}.${e.clock}`)).sort()
        if (JSON.stringify(fromChanges) !== JSON.stringify(fromState)) throw new Error(`replica ${i}: emitted changes diverge from state`)
        // The per-key index (what get() reads) holds exactly the topic's visible entries of that key.
        for (const topic of TOPICS) {
          const all = [...r.entries(topic)]
          for (const key of new Set(all.map((e) => e.key).concat(['nobody']))) {
            const scanned = all.filter((e) => e.key === key)
            const indexed = r.entriesOf(topic, key)
            if (indexed.length !== scanned.length || indexed.some((e, k) => e !== scanned[k])) throw new Error(`replica ${i} ${topic}/${key}: the key index diverges from the entries`)
          }
        }
      })
    }),
    { numRuns: 400 },
  )
  t.pass('400 random runs converged')
})

t.test('a gap is detected and a partition transfer closes it', async (t) => {
  const a = new PresenceState('a')
  const b = new PresenceState('b')
  a.add('t', 'k1', 'o', {})
  const d1 = a.takeDelta()!
  a.add('t', 'k2', 'o', {})
  const d2 = a.takeDelta()!
  const changes: Change[] = []
  t.equal(b.applyDelta(d2, changes), 'gap', 'the second delta alone is a gap')
  t.equal(b.applyDelta(d1, changes), 'ok')
  t.equal(b.applyDelta(d1, changes), 'duplicate')
  b.joinPartition(a.partition(), changes)
  t.same([...b.entries('t')].map((e) => e.key).sort(), ['k1', 'k2'])
})

t.test('a replica marked down hides its entries and shows them again when it returns', async (t) => {
  const a = new PresenceState('a')
  const b = new PresenceState('b')
  a.add('t', 'k1', 'o', { x: 1 })
  b.applyDelta(a.takeDelta()!, [])
  const changes: Change[] = []
  b.setDown('a', true, changes)
  t.same(changes.map((c) => c.type), ['leave'])
  t.equal([...b.entries('t')].length, 0)
  b.setDown('a', false, changes)
  t.same(changes.map((c) => c.type), ['leave', 'join'])
  t.equal([...b.entries('t')].length, 1)
  b.purge('a', [])
  t.equal(b.size(), 0, 'purged for good')
})

t.test('presencesJson (cached meta texts) equals JSON.stringify of renderPresences', async (t) => {
  const { presencesJson, PHOENIX, JsonText, encodeFrame } = await import('./fixtures/internals.js')
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'k'), fc.string({ maxLength: 6 })), fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), fc.boolean()), { maxLength: 12 }),
      (specs) => {
        const s = new PresenceState('r')
        const entries = specs.map(([key, meta, updated]) => {
          const e = s.add('t', key, 'o', meta)
          return updated ? s.add('t', key, 'o', meta, `${e.replica}.${e.clock}`) : e
        })
        for (const dialect of [HORNBEAM, PHOENIX]) {
          // Same JSON value (key order may differ: objects list integer-like keys first).
          const want = JSON.stringify(renderPresences(entries, dialect))
          if (!isDeepStrictEqual(JSON.parse(presencesJson(entries, dialect)), JSON.parse(want))) return false
          // Twice: the second time from the cache.
          if (!isDeepStrictEqual(JSON.parse(presencesJson(entries, dialect)), JSON.parse(want))) return false
          for (const encoding of ['array', 'object'] as const) {
            const spliced = encodeFrame(encoding, '1', null, 't', 'presence_state', new JsonText(want))
            if (JSON.stringify(JSON.parse(spliced)) !== encodeFrame(encoding, '1', null, 't', 'presence_state', JSON.parse(want))) return false
          }
        }
        return true
      },
    ),
  )
  t.pass()
})
