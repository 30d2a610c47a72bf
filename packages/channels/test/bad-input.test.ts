// Bad input, each case on its own: the offender gets a clear error (reply or close code), the
// server stays up, and another client's channels are untouched.
import t from 'tap'
import { RawClient, startServer, eventually, type TestServer } from '../../../test/helpers/wire.js'

async function setup(t: Tap.Test) {
  const srv = await startServer({ maxPayload: 1024 })
  t.teardown(srv.close)
  const room = srv.hub.channel('room:*')
  room.on('echo', (p, s) => ['reply', p, s])
  room.on('throw', () => {
    throw new Error('handler exploded')
  })
  room.on('garbage', () => 42 as any)
  room.on('async-throw', async () => {
    throw new Error('async exploded')
  })
  const bystander = await RawClient.connect(srv.url())
  t.teardown(() => bystander.close())
  const b = await bystander.join('room:lobby')
  const offender = await RawClient.connect(srv.url())
  t.teardown(() => offender.close())
  const o = await offender.join('room:lobby')
  return { srv, bystander, offender, bJoin: b.joinRef, oJoin: o.joinRef }
}

/** The bystander still pushes, gets replies and receives broadcasts. */
async function bystanderUntouched(t: Tap.Test, srv: TestServer, bystander: RawClient, joinRef: string) {
  t.same(await bystander.request(joinRef, 'room:lobby', 'echo', { still: 'here' }), { status: 'ok', response: { still: 'here' } }, 'bystander push works')
  const marker = Math.random()
  srv.hub.broadcast('room:lobby', 'after', { marker })
  t.ok(await bystander.waitFor((f) => f[3] === 'after' && f[4].marker === marker), 'bystander still receives broadcasts')
  t.equal(srv.hub.stats().topics['room:lobby']! >= 1, true, 'subscription intact')
}

const dropped: Array<[string, string]> = [
  ['invalid JSON', '{"not json'],
  ['a non-array frame', '{"topic":"room:lobby"}'],
  ['a bare string frame', '"hello"'],
  ['null', 'null'],
]

for (const [name, raw] of dropped) {
  t.test(name, async (t) => {
    const { srv, bystander, offender, bJoin } = await setup(t)
    const before = srv.hub.stats().malformed
    offender.sendRaw(raw)
    // Answered after the bad frame was handled (frames of one socket are handled in order).
    t.same(await offender.request(null, 'hornbeam', 'heartbeat'), { status: 'ok', response: {} }, 'offender socket still answers')
    t.equal(srv.hub.stats().malformed, before + 1, 'counted as malformed')
    t.notOk(offender.closeEvent, 'offender not disconnected for one bad frame')
    await bystanderUntouched(t, srv, bystander, bJoin)
  })
}

const replied: Array<[string, unknown[], string]> = [
  ['wrong arity (4 elements)', ['1', '9', 'room:lobby', 'echo'], 'frame must have 5 elements: [join_ref, ref, topic, event, payload]'],
  ['wrong arity (6 elements)', ['1', '9', 'room:lobby', 'echo', {}, 'x'], 'frame must have 5 elements: [join_ref, ref, topic, event, payload]'],
  ['a non-string event', ['1', '9', 'room:lobby', 17, {}], 'event must be a non-empty string'],
  ['a non-object payload', ['1', '9', 'room:lobby', 'echo', [1, 2]], 'payload must be an object'],
]

for (const [name, frame, reason] of replied) {
  t.test(name, async (t) => {
    const { srv, bystander, offender, bJoin } = await setup(t)
    offender.sendRaw(JSON.stringify(frame))
    const reply = await offender.waitFor((f) => f[1] === '9')
    t.same(reply[4], { status: 'error', response: { reason } }, 'error reply names the problem')
    await bystanderUntouched(t, srv, bystander, bJoin)
  })
}

t.test('a non-string topic', async (t) => {
  const { srv, bystander, offender, bJoin } = await setup(t)
  offender.sendRaw(JSON.stringify(['1', '9', { evil: true }, 'echo', {}]))
  await offender.probe() // answered after the bad frame was handled
  t.equal(srv.hub.stats().malformed >= 1, true, 'dropped and counted: no topic to address a reply to')
  offender.sendRaw(JSON.stringify(['1', '10', 42, 'echo', {}]))
  await offender.probe() // a reply to either frame would have come before this one
  t.notOk(offender.frames.some((f) => f[1] === '9' || f[1] === '10'), 'no reply without a topic')
  await bystanderUntouched(t, srv, bystander, bJoin)
})

t.test('a binary frame on the hornbeam dialect is ignored and counted, the offender lives on', async (t) => {
  const { srv, bystander, offender, bJoin } = await setup(t)
  const before = srv.hub.stats().binaryIgnored
  offender.sendRaw(Buffer.from([1, 2, 3]), true)
  t.same(await offender.request(null, 'hornbeam', 'heartbeat'), { status: 'ok', response: {} }, 'offender socket still answers')
  t.equal(srv.hub.stats().binaryIgnored, before + 1, 'counted in binaryIgnored')
  t.notOk(offender.closeEvent, 'not disconnected')
  await bystanderUntouched(t, srv, bystander, bJoin)
})

t.test('a frame over maxPayload closes the offender with 1009', async (t) => {
  const { srv, bystander, offender, oJoin, bJoin } = await setup(t)
  offender.send(oJoin, '9', 'room:lobby', 'echo', { big: 'x'.repeat(2048) })
  const closed = await offender.waitForClose()
  t.equal(closed.code, 1009)
  // The offender's channel ends as its socket closes; bystanderUntouched then checks the other.
  await eventually(() => srv.hub.stats().topics['room:lobby'] !== 2, 2000, "the offender's channel ended")
  t.equal(srv.hub.stats().topics['room:lobby'], 1, "the offender's channel is gone, the bystander's is not")
  await bystanderUntouched(t, srv, bystander, bJoin)
})

t.test('an unknown topic and an event before join', async (t) => {
  const { srv, bystander, offender, bJoin } = await setup(t)
  const ghost = await offender.join('ghost:1')
  t.same([ghost.status, ghost.response], ['error', { reason: 'unmatched topic' }])
  t.same(await offender.request(null, 'room:other', 'echo', {}), { status: 'error', response: { reason: 'unmatched topic' } })
  await bystanderUntouched(t, srv, bystander, bJoin)
})

for (const event of ['throw', 'garbage', 'async-throw']) {
  t.test(`a handler that ${event === 'garbage' ? 'returns garbage' : 'throws'} (${event})`, async (t) => {
    const { srv, bystander, offender, oJoin, bJoin } = await setup(t)
    offender.send(oJoin, '9', 'room:lobby', event, {})
    t.same(await offender.waitFor((f) => f[3] === 'hb_error'), [oJoin, oJoin, 'room:lobby', 'hb_error', {}])
    t.equal(srv.hub.stats().crashes >= 1, true, 'counted')
    t.equal(srv.hub.stats().topics['room:lobby'], 1, "only the offender's channel ended")
    t.same(await offender.request(null, 'hornbeam', 'heartbeat'), { status: 'ok', response: {} }, 'offender socket lives on')
    await bystanderUntouched(t, srv, bystander, bJoin)
  })
}
