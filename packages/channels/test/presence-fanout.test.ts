// presence_diffs to big rooms in chunks of sockets per event-loop turn: every socket still gets
// every diff of its topic in order, a socket that left gets nothing more, one that joined later
// gets only the diffs sent after it joined.
import t from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { PresenceFanout } from './fixtures/internals.js'

function subscriber(name: string, got: Record<string, string[]>) {
  got[name] = []
  return {
    subscribed: true,
    pending: undefined,
    conn: { wire: {} as any, writeFrame: (frame: Buffer) => void got[name]!.push(frame.toString()) },
  }
}
const diff = (text: string) => ({ topic: 'room', frameFor: () => Buffer.from(text) }) as any

t.test('a room no bigger than a chunk gets its diff at once', async (t) => {
  const got: Record<string, string[]> = {}
  const subs = new Set(['a', 'b'].map((n) => subscriber(n, got)))
  new PresenceFanout(2).deliver('room', subs, diff('d1'))
  t.same(got, { a: ['d1'], b: ['d1'] })
})

t.test('a bigger room: a chunk per turn, diffs in order, leavers skipped, later joiners only get later diffs', async (t) => {
  const got: Record<string, string[]> = {}
  const subs = new Set(['a', 'b', 'c', 'd', 'e'].map((n) => subscriber(n, got)))
  const fanout = new PresenceFanout(2)
  fanout.deliver('room', subs, diff('d1'))
  t.same(got, { a: ['d1'], b: ['d1'], c: [], d: [], e: [] }, 'the first chunk in this turn')
  ;[...subs][3]!.subscribed = false
  subs.add(subscriber('f', got))
  fanout.deliver('room', subs, diff('d2'))
  t.same(got.a, ['d1'], 'd2 waits for d1 to reach every chunk')
  for (let turns = 0; turns < 10; turns++) await nextTurn()
  t.same(got, { a: ['d1', 'd2'], b: ['d1', 'd2'], c: ['d1', 'd2'], d: [], e: ['d1', 'd2'], f: ['d2'] })
})
