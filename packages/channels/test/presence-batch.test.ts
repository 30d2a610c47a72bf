// presence_diff batching as a pure property: whatever happens within one window (joins, leaves,
// a peer's entries hidden and shown again, sockets subscribing in between, with a presence_state
// rendered then or one rendered earlier and shared, as big rooms do), the one diff it sends
// never names a ref in both joins and leaves, and every subscriber, applying it as the phoenix
// client and @hornbeam/client do (joins first, then leaves), ends with the window's final list.
import t from 'tap'
import fc from 'fast-check'
import { Presence as PhoenixPresence } from 'phoenix'
import { Presence } from '@hornbeam/client'
import { HORNBEAM, PHOENIX, PendingDiff, refOf, renderPresences, type PresenceEntry } from './fixtures/internals.js'

type Op = { kind: 'toggle'; ref: number } | { kind: 'subscribe'; share: boolean } | { kind: 'flap'; refs: number[] }

const REFS = 5
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('toggle' as const), ref: fc.nat(REFS - 1) }), weight: 4 },
  // share: the joiner gets the last presence_state rendered (in or before the window), not a new one.
  { arbitrary: fc.record({ kind: fc.constant('subscribe' as const), share: fc.boolean() }), weight: 1 },
  // A peer marked down then back: all its entries leave, then join again, in one window.
  { arbitrary: fc.record({ kind: fc.constant('flap' as const), refs: fc.uniqueArray(fc.nat(REFS - 1), { minLength: 1 }) }), weight: 1 },
)

const entries: PresenceEntry[] = [...Array(REFS).keys()].map((i) => ({
  replica: i % 2 === 0 ? 'a' : 'b',
  clock: i + 1,
  topic: 'room',
  key: `user:${i % 3}`,
  owner: `c${i}`,
  meta: { n: i },
}))

function sorted(list: Record<string, { metas: Array<Record<string, unknown>> }>, refKey: string): string[] {
  return Object.entries(list).flatMap(([key, { metas }]) => metas.map((m) => `${key}/${String(m[refKey])}`)).sort()
}

const clients = [
  { name: '@hornbeam/client', dialect: HORNBEAM, sync: Presence },
  { name: 'phoenix', dialect: PHOENIX, sync: PhoenixPresence as unknown as typeof Presence },
]

t.test('one diff per window: no ref in both halves, every subscriber ends with the final list', async (t) => {
  for (const client of clients) {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(REFS - 1)), fc.array(op, { maxLength: 25 }), (initial, ops) => {
        const visible = new Set(initial)
        const render = (refs: Iterable<number>) => renderPresences([...refs].map((i) => entries[i]!), client.dialect)
        // The subscribers' copies: one from before the window, one per socket that subscribes in it.
        let rendered = render(visible)
        const views = [client.sync.syncState({}, structuredClone(rendered) as any)]
        const diff = new PendingDiff()
        const apply = (type: 'join' | 'leave', i: number) => {
          if (type === 'join') visible.add(i)
          else visible.delete(i)
          diff.record(type, entries[i]!, refOf(entries[i]!))
        }
        for (const o of ops) {
          if (o.kind === 'subscribe') {
            if (!o.share) {
              rendered = render(visible)
              diff.syncPoint()
            }
            views.push(client.sync.syncState({}, structuredClone(rendered) as any))
          } else if (o.kind === 'toggle') {
            apply(visible.has(o.ref) ? 'leave' : 'join', o.ref)
          } else {
            const shown = o.refs.filter((i) => visible.has(i))
            for (const i of shown) apply('leave', i)
            for (const i of shown) apply('join', i)
          }
        }
        const { joins, leaves } = diff.take()
        const joined = new Set(joins.map(refOf))
        for (const leave of leaves) if (joined.has(refOf(leave))) return false
        const payload = { joins: renderPresences(joins, client.dialect), leaves: renderPresences(leaves, client.dialect) }
        const want = sorted(render(visible), client.dialect.refKey)
        return views.every((view) => {
          const after = client.sync.syncDiff(structuredClone(view), structuredClone(payload) as any)
          return JSON.stringify(sorted(after as any, client.dialect.refKey)) === JSON.stringify(want)
        })
      }),
      { numRuns: 2000 },
    )
    t.pass(`${client.name}: 2,000 random windows`)
  }
})

t.test('a peer down and back within one window sends nothing to those who saw it all along', async (t) => {
  const diff = new PendingDiff()
  const entry = entries[1]!
  diff.record('leave', entry, refOf(entry))
  diff.record('join', entry, refOf(entry))
  t.same(diff.take(), { joins: [], leaves: [] })
})

t.test('a socket that subscribed while the peer was down gets the re-join', async (t) => {
  const diff = new PendingDiff()
  const entry = entries[1]!
  diff.record('leave', entry, refOf(entry))
  diff.syncPoint()
  diff.record('join', entry, refOf(entry))
  t.same(diff.take(), { joins: [entry], leaves: [] })
})

t.test("a topic's presence_state is rendered once per dialect and shared until its presence changes", async (t) => {
  const { PresenceTracker, defaultPresenceOptions, WIRES } = await import('./fixtures/internals.js')
  const host = { nodeId: 'n1', logger: { debug() {}, info() {}, warn() {}, error() {} }, publish() {}, subscriberCount: () => 1, subscribers: () => [], deliverLocal() {} }
  const tracker = new PresenceTracker(host, { ...defaultPresenceOptions, maxMetaBytes: 8192 })
  t.teardown(() => tracker.stop())
  tracker.track('room', 'c1', 'alice', { n: 1 })
  const first = tracker.stateFrame('room', '1', WIRES.hornbeam)
  const second = tracker.stateFrame('room', '2', WIRES.hornbeam)
  t.equal(first[1], second[1], 'two joiners: the same body buffer, not a copy')
  t.not(first[0], second[0], 'each with its own envelope (its join_ref)')
  t.match(Buffer.concat(second).subarray(2).toString(), /^\["2",null,"room","presence_state",\{"alice":/)
  t.not(tracker.stateFrame('room', '3', WIRES.phoenixV2)[1], first[1], 'another dialect, another rendering')
  t.equal(tracker.stateFrame('room', '4', WIRES.phoenixV1)[1], tracker.stateFrame('room', '5', WIRES.phoenixV2)[1], 'phoenix v1 and v2 share one')
  tracker.track('room', 'c2', 'bob', { n: 2 })
  const after = tracker.stateFrame('room', '6', WIRES.hornbeam)
  t.not(after[1], first[1], 'a change renders it again')
  t.match(after[1]!.toString(), /"bob"/)
})
