// Server presence → client copy: the diffs a node emits (rendered as presence_diff payloads,
// gathered between flushes, as a batching window would) applied with the client's syncState / syncDiff give
// the same list() as the server, whatever the interleaving of tracks, updates and untracks on
// three replicas with a lossy network and anti-entropy.
import t from 'tap'
import fc from 'fast-check'
import { HORNBEAM, PresenceSet as PresenceState, renderPresences, type Change } from '../packages/channels/test/fixtures/internals.js'
import { Presence } from '@hornbeam/client'

type Op =
  | { kind: 'track'; replica: number; key: number; v: number }
  | { kind: 'update'; replica: number; pick: number; v: number }
  | { kind: 'untrack'; replica: number; pick: number }
  | { kind: 'deliver'; from: number; pick: number }
  | { kind: 'flush' }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('track' as const), replica: fc.nat(2), key: fc.nat(3), v: fc.nat(9) }),
  fc.record({ kind: fc.constant('update' as const), replica: fc.nat(2), pick: fc.nat(9), v: fc.nat(9) }),
  fc.record({ kind: fc.constant('untrack' as const), replica: fc.nat(2), pick: fc.nat(9) }),
  fc.record({ kind: fc.constant('deliver' as const), from: fc.nat(2), pick: fc.nat(30) }),
  fc.constant({ kind: 'flush' as const }),
)

const canonical = (list: Record<string, { metas: Array<Record<string, unknown>> }>) =>
  JSON.stringify(Object.keys(list).sort().map((k) => [k, list[k]!.metas.map((m) => JSON.stringify(m)).sort()]))

t.test('the client copy built from emitted diffs equals the server list', async (t) => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), fc.nat(20), (ops, joinAt) => {
      // Replica 0 is "our" node; its subscriber is the client. 1 and 2 are peers.
      const replicas = [0, 1, 2].map((i) => new PresenceState(`r${i}`))
      const owned: Array<ReturnType<PresenceState['add']>[]> = [[], [], []]
      const sent: ReturnType<PresenceState['takeDelta']>[][] = [[], [], []]
      let pending: Change[] = []
      let client: Record<string, any> | undefined
      // The client joins at some point: it gets presence_state then diffs.
      const emit = () => {
        if (client === undefined || pending.length === 0) return (pending = [])
        const joins = pending.filter((c) => c.type === 'join').map((c) => c.entry)
        const leaves = pending.filter((c) => c.type === 'leave').map((c) => c.entry)
        client = Presence.syncDiff(client, { joins: renderPresences(joins, HORNBEAM), leaves: renderPresences(leaves, HORNBEAM) } as any)
        pending = []
      }
      ops.forEach((o, i) => {
        if (i === joinAt) {
          emit()
          client = Presence.syncState({}, renderPresences(replicas[0]!.entries('room'), HORNBEAM) as any)
        }
        const r = 'replica' in o ? replicas[o.replica]! : undefined
        const local = (changes: Change[]) => (r === replicas[0] ? pending.push(...changes) : undefined)
        switch (o.kind) {
          case 'track': {
            const e = r!.add('room', `k${o.key}`, 'o', { v: o.v })
            owned[o.replica]!.push(e)
            local([{ type: 'join', entry: e }])
            break
          }
          case 'update': {
            const list = owned[o.replica]!
            if (!list.length) break
            const j = o.pick % list.length
            const old = list[j]!
            r!.remove(old)
            const e = r!.add('room', old.key, 'o', { v: o.v }, `${old.replica}.${old.clock}`)
            list[j] = e
            local([{ type: 'leave', entry: old }, { type: 'join', entry: e }])
            break
          }
          case 'untrack': {
            const list = owned[o.replica]!
            if (!list.length) break
            const [old] = list.splice(o.pick % list.length, 1)
            r!.remove(old!)
            local([{ type: 'leave', entry: old! }])
            break
          }
          case 'deliver': {
            for (let k = 1; k < 3; k++) {
              const d = replicas[k]!.takeDelta()
              if (d) sent[k]!.push(d)
            }
            const from = o.from === 0 ? 1 : o.from
            if (!sent[from]!.length) break
            const changes: Change[] = []
            replicas[0]!.applyDelta(sent[from]![o.pick % sent[from]!.length]!, changes)
            pending.push(...changes)
            break
          }
          case 'flush':
            emit()
            break
        }
      })
      if (client === undefined) client = Presence.syncState({}, renderPresences(replicas[0]!.entries('room'), HORNBEAM) as any)
      // Anti-entropy from the peers, then the last diff.
      for (let k = 1; k < 3; k++) {
        const changes: Change[] = []
        replicas[0]!.joinPartition(replicas[k]!.partition(), changes)
        pending.push(...changes)
      }
      emit()
      const server = renderPresences(replicas[0]!.entries('room'), HORNBEAM)
      if (canonical(server) !== canonical(client)) throw new Error(`client ${canonical(client)} != server ${canonical(server)}`)
    }),
    { numRuns: 500 },
  )
  t.pass('500 random histories: client copy == server list')
})
