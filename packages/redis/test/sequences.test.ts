// The numbering that lets a node count the broadcasts pub/sub lost on the way to it: the sender's
// per-topic counters (forgotten after a quiet generation) and the receiver's gaps, as pure logic.
// Over the wire: reconnect.test.ts (an outage, a subscriber held off) and the Redis Cluster failover.
import t from 'tap'
import fc from 'fast-check'
import { InboundGaps, OutboundSequences } from '../dist/esm/sequences.js'

t.test('the sender numbers each channel from 1, and forgets channels quiet for a generation', async (t) => {
  let now = 0
  const seq = new OutboundSequences(1000, () => now)
  t.same([seq.next('topic:a'), seq.next('topic:a'), seq.next('topic:b'), seq.next('topic:a')], [1, 2, 1, 3])
  now = 1500
  t.equal(seq.next('topic:c'), 1, 'a new channel after a generation: the generations turn')
  t.equal(seq.next('topic:a'), 4, 'a channel of the last generation goes on counting')
  now = 3000
  t.equal(seq.next('topic:d'), 1)
  t.equal(seq.size, 3, 'b, quiet for two generations, is forgotten (a, c, d remain)')
  t.equal(seq.next('topic:b'), 1, 'and starts again from 1')
})

t.test('the receiver counts the numbers a sender skipped, per channel and sender', async (t) => {
  const gaps = new InboundGaps()
  t.equal(gaps.note('topic:a', 'n1', 5), 0, 'the first message heard sets where the sender is')
  t.equal(gaps.note('topic:a', 'n1', 6), 0)
  t.equal(gaps.note('topic:a', 'n1', 9), 2, '7 and 8 were lost')
  t.equal(gaps.note('topic:a', 'n2', 1), 0, 'another sender is counted apart')
  t.equal(gaps.note('topic:b', 'n1', 40), 0, 'and another channel')
  t.equal(gaps.note('topic:a', 'n1', 1), 0, 'numbers going back: the sender forgot the channel; start afresh')
  t.equal(gaps.note('topic:a', 'n1', 3), 1)
  t.equal(gaps.lost, 3)
  gaps.forget('topic:a')
  t.equal(gaps.note('topic:a', 'n1', 10), 0, 'after leaving a channel, what was missed meanwhile is not a loss')
  t.equal(gaps.lost, 3)
})

t.test('property: what the receiver counts lost is exactly what it did not get, for any pattern of losses', async (t) => {
  fc.assert(
    fc.property(
      // Per message of two senders on two channels: who sends it, where, and whether it arrives.
      fc.array(fc.record({ sender: fc.constantFrom('n1', 'n2'), channel: fc.constantFrom('topic:a', 'topic:b'), arrives: fc.boolean() }), { maxLength: 200 }),
      (messages) => {
        const senders = new Map<string, OutboundSequences>()
        const gaps = new InboundGaps()
        // Per (sender, channel): a message lost before the first that arrives, or after the last, is not seen as lost.
        const stream = new Map<string, boolean[]>()
        for (const m of messages) {
          if (!senders.has(m.sender)) senders.set(m.sender, new OutboundSequences())
          const n = senders.get(m.sender)!.next(m.channel)
          if (m.arrives) gaps.note(m.channel, m.sender, n)
          const key = `${m.sender}|${m.channel}`
          stream.set(key, [...(stream.get(key) ?? []), m.arrives])
        }
        let expected = 0
        for (const arrivals of stream.values()) {
          const first = arrivals.indexOf(true)
          const last = arrivals.lastIndexOf(true)
          if (first >= 0) expected += arrivals.slice(first, last + 1).filter((a) => !a).length
        }
        return gaps.lost === expected
      },
    ),
    { numRuns: 500 },
  )
})
