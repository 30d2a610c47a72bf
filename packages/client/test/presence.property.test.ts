import t from 'tap'
import fc from 'fast-check'
import { Presence, Socket, type Meta, type PresenceEntry, type PresenceState } from '@hornbeam/client'
import { FakeWebSocket } from './fixtures/fake-transport.js'

// A small universe, so that random states and diffs overlap a lot. "__proto__" keeps keys honest.
const KEYS = ['alice', 'bob', 'user:carol', '__proto__']
const POOL = KEYS.flatMap((key) => [0, 1, 2].map((n) => ({ key, ref: `${key}#${n}` })))
type Item = (typeof POOL)[number]

const metaOf = (item: Item): Meta => ({ name: item.key, hb_ref: item.ref })

/** The presence state that holds exactly `items`. */
function stateOf(items: Iterable<Item>): PresenceState {
  const state: PresenceState = {}
  for (const item of items) {
    const entry = Object.prototype.hasOwnProperty.call(state, item.key) ? state[item.key]! : undefined
    if (entry) entry.metas.push(metaOf(item))
    else Object.defineProperty(state, item.key, { value: { metas: [metaOf(item)] }, enumerable: true, writable: true, configurable: true })
  }
  return state
}

/** key → sorted refs, the comparable form of a state. */
function normal(state: PresenceState): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const key of Object.keys(state).sort()) {
    Object.defineProperty(out, key, { value: state[key]!.metas.map((m) => m.hb_ref!).sort(), enumerable: true })
  }
  return out
}

const subset = fc.subarray(POOL)
const op = fc.oneof(
  fc.record({ kind: fc.constant('state' as const), items: subset }),
  fc.record({ kind: fc.constant('diff' as const), joins: subset, leaves: subset }),
)

/**
 * Checks the callbacks against a shadow built from them alone: each onJoin's `current` is
 * what was held before, its metas are all new; each onLeave's metas were all held and its
 * `current` is what is left. Replaying the callbacks must give the same state as the function.
 */
function callbackChecker(shadow: Map<string, Set<string>>) {
  const problems: string[] = []
  const onJoin = (key: string, current: PresenceEntry | undefined, joined: PresenceEntry) => {
    const held = shadow.get(key)
    if ((current === undefined) !== (held === undefined)) problems.push(`onJoin ${key}: current ${current ? 'set' : 'undefined'} but held ${held ? 'yes' : 'no'}`)
    if (current && held && current.metas.map((m) => m.hb_ref).sort().join() !== [...held].sort().join()) problems.push(`onJoin ${key}: current differs from held`)
    if (joined.metas.length === 0) problems.push(`onJoin ${key} with no metas`)
    const set = held ?? new Set<string>()
    for (const m of joined.metas) {
      if (set.has(m.hb_ref!)) problems.push(`onJoin ${key}: ${m.hb_ref} was already held`)
      set.add(m.hb_ref!)
    }
    shadow.set(key, set)
  }
  const onLeave = (key: string, current: PresenceEntry, left: PresenceEntry) => {
    const held = shadow.get(key)
    if (held === undefined) return void problems.push(`onLeave ${key}: nothing held`)
    if (left.metas.length === 0) problems.push(`onLeave ${key} with no metas`)
    for (const m of left.metas) {
      if (!held.delete(m.hb_ref!)) problems.push(`onLeave ${key}: ${m.hb_ref} was not held`)
    }
    if (current.metas.map((m) => m.hb_ref).sort().join() !== [...held].sort().join()) problems.push(`onLeave ${key}: current differs from what is left`)
    if (held.size === 0) shadow.delete(key)
  }
  return { onJoin, onLeave, problems }
}

function shadowAsNormal(shadow: Map<string, Set<string>>): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const key of [...shadow.keys()].sort()) Object.defineProperty(out, key, { value: [...shadow.get(key)!].sort(), enumerable: true })
  return out
}

t.test('syncState/syncDiff: any sequence gives the expected list, and the callbacks account for every change', (t) => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
      let state: PresenceState = {}
      let model = new Set<Item>()
      const shadow = new Map<string, Set<string>>()
      const { onJoin, onLeave, problems } = callbackChecker(shadow)
      for (const step of ops) {
        const before = JSON.stringify(normal(state))
        const input = state
        if (step.kind === 'state') {
          state = Presence.syncState(state, stateOf(step.items), onJoin, onLeave)
          model = new Set(step.items)
        } else {
          state = Presence.syncDiff(state, { joins: stateOf(step.joins), leaves: stateOf(step.leaves) }, onJoin, onLeave)
          // Joins first, then leaves (a ref in both ends up gone).
          model = new Set([...model, ...step.joins].filter((i) => !step.leaves.includes(i)))
        }
        if (JSON.stringify(normal(input)) !== before) throw new Error('the input state was modified')
        const expected = normal(stateOf(POOL.filter((i) => model.has(i))))
        if (JSON.stringify(normal(state)) !== JSON.stringify(expected)) {
          throw new Error(`state ${JSON.stringify(normal(state))} ≠ expected ${JSON.stringify(expected)}`)
        }
        if (Presence.list(state).some((e) => e.metas.length === 0)) throw new Error('an empty entry was kept')
        if (problems.length > 0) throw new Error(problems.join('; '))
        if (JSON.stringify(shadowAsNormal(shadow)) !== JSON.stringify(expected)) throw new Error('callbacks do not add up to the state')
      }
    }),
    { numRuns: 300 },
  )
  t.pass('300 random sequences of states and diffs')
  t.end()
})

t.test('a rejoin (every ref renewed): callbacks fire only for the change in presences per key', (t) => {
  // Metas with distinct content (a tab id); the rejoin state drops some, adds some, renews all refs.
  const tabs = fc.uniqueArray(fc.record({ key: fc.constantFrom(...KEYS), tab: fc.integer({ min: 0, max: 5 }) }), {
    selector: (x) => `${x.key}/${x.tab}`,
    maxLength: 12,
  })
  fc.assert(
    fc.property(tabs, tabs, (before, after) => {
      FakeWebSocket.reset()
      const socket = new Socket('ws://example.test/ws', { transport: FakeWebSocket, heartbeatIntervalMs: 0 })
      socket.connect()
      const conn = FakeWebSocket.last
      conn.open()
      const channel = socket.channel('room:x')
      const presence = new Presence(channel, { rejoinGraceMs: 0 })
      const joined = new Map<string, number>()
      const left = new Map<string, number>()
      channel.join()
      const toState = (list: typeof before, gen: string) => {
        const state: PresenceState = {}
        for (const { key, tab } of list) {
          const m = { tab, hb_ref: `${gen}:${key}/${tab}` }
          if (Object.prototype.hasOwnProperty.call(state, key)) state[key]!.metas.push(m)
          else Object.defineProperty(state, key, { value: { metas: [m] }, enumerable: true, writable: true, configurable: true })
        }
        return state
      }
      conn.reply(conn.frames('hb_join').at(-1)!)
      conn.deliver([null, null, 'room:x', 'presence_state', toState(before, 'old')])
      presence.onJoin((key, _c, p) => joined.set(key, (joined.get(key) ?? 0) + p.metas.length))
      presence.onLeave((key, _c, p) => left.set(key, (left.get(key) ?? 0) + p.metas.length))
      channel.rejoin()
      conn.reply(conn.frames('hb_join').at(-1)!)
      conn.deliver([null, null, 'room:x', 'presence_state', toState(after, 'new')])
      socket.disconnect()
      for (const key of KEYS) {
        const was = before.filter((x) => x.key === key).length
        const is = after.filter((x) => x.key === key).length
        if ((joined.get(key) ?? 0) !== Math.max(0, is - was)) throw new Error(`${key}: ${joined.get(key)} joins for ${was} → ${is}`)
        if ((left.get(key) ?? 0) !== Math.max(0, was - is)) throw new Error(`${key}: ${left.get(key)} leaves for ${was} → ${is}`)
      }
      const refs = presence.list((_k, p) => p.metas.map((m) => m.hb_ref)).flat().sort()
      const expected = after.map(({ key, tab }) => `new:${key}/${tab}`).sort()
      if (JSON.stringify(refs) !== JSON.stringify(expected)) throw new Error(`list ${refs} ≠ ${expected}`)
    }),
    { numRuns: 200 },
  )
  t.pass('200 random rejoins')
  t.end()
})
