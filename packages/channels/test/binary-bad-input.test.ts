// Bad binary input on phoenix v2 sockets, each case on its own: a malformed binary frame is
// answered with an error reply when its join_ref, ref and topic could be read, else dropped and
// counted (stats().malformed); an oversized one closes the offender with 1009; binary frames count
// against the rate limit and the abuse score. The server stays up and a bystander on the same
// topic is untouched.
import t from 'tap'
import { RawClient, binaryPush, startServer, type TestServer } from '../../../test/helpers/wire.js'
import type { HubOptions } from '@hornbeam/channels'

const V2 = '?vsn=2.0.0'

async function setup(t: Tap.Test, options: HubOptions = {}) {
  const srv = await startServer({ maxPayload: 1024, ...options })
  t.teardown(srv.close)
  srv.hub.channel('room:*').on('echo', (p, s) => ['reply', p, s])
  const bystander = await RawClient.connect(srv.url() + V2, 'phoenix')
  t.teardown(() => bystander.close())
  const b = await bystander.join('room:lobby')
  const offender = await RawClient.connect(srv.url() + V2, 'phoenix')
  t.teardown(() => offender.close())
  const o = await offender.join('room:lobby')
  return { srv, bystander, offender, bJoin: b.joinRef, oJoin: o.joinRef }
}

/** The bystander still pushes bytes and JSON, gets replies and receives broadcasts. */
async function bystanderUntouched(t: Tap.Test, srv: TestServer, bystander: RawClient, joinRef: string) {
  t.same(await bystander.requestBinary(joinRef, 'room:lobby', 'echo', Buffer.from([1, 2])), { status: 'ok', response: Buffer.from([1, 2]) }, 'bystander binary push works')
  t.same(await bystander.request(joinRef, 'room:lobby', 'echo', { still: 'here' }), { status: 'ok', response: { still: 'here' } }, 'bystander JSON push works')
  const marker = Buffer.from(String(Math.random()))
  srv.hub.broadcast('room:lobby', 'after', marker)
  t.ok(await bystander.waitFor((f) => f[3] === 'after' && Buffer.isBuffer(f[4]) && f[4].equals(marker)), 'bystander still receives broadcasts')
}

const push = binaryPush('1', '9', 'room:lobby', 'echo', Buffer.from('abc'))

const dropped: Array<[string, Buffer]> = [
  ['a truncated header', Buffer.from([0, 1, 1])],
  ['an empty binary frame', Buffer.alloc(0)],
  ['an unknown kind', Buffer.from([9, 1, 1, 1, 1, 0x31, 0x39, 0x74, 0x65])],
  ['a reply (kind 1), which clients may not send', Buffer.from([1, 1, 1, 1, 2, 0x31, 0x39, 0x74, 0x6f, 0x6b])],
  ['a broadcast (kind 2), which clients may not send', Buffer.from([2, 1, 1, 0x74, 0x65, 0xff])],
  ['sizes past the end, cut before the topic is whole', push.subarray(0, 9)],
]

for (const [name, bytes] of dropped) {
  t.test(`${name}: dropped and counted, no reply`, async (t) => {
    const { srv, bystander, offender, bJoin } = await setup(t)
    const before = srv.hub.stats().malformed
    offender.sendRaw(bytes, true)
    await offender.probe() // answered after the bad frame was handled
    t.equal(srv.hub.stats().malformed, before + 1, 'counted as malformed')
    t.notOk(offender.frames.some((f) => f[1] === '9'), 'nothing to address a reply to')
    t.notOk(offender.closeEvent, 'offender not disconnected for one bad frame')
    await bystanderUntouched(t, srv, bystander, bJoin)
  })
}

t.test('sizes past the end with the topic readable: an error reply naming the problem', async (t) => {
  const { srv, bystander, offender, bJoin } = await setup(t)
  // join_ref, ref and topic are whole; the event runs past the end.
  offender.sendRaw(push.subarray(0, 5 + 1 + 1 + 10 + 2), true)
  const reply = await offender.waitFor((f) => f[1] === '9')
  t.same(reply, ['1', '9', 'room:lobby', 'phx_reply', { status: 'error', response: { reason: 'binary push fields run past the end of the frame (21 bytes of header, 19 in the frame)' } }])
  t.notOk(offender.binary.has(reply), 'a JSON reply')
  await bystanderUntouched(t, srv, bystander, bJoin)
})

t.test('a binary join is refused with a reason; a binary leave and heartbeat work as their text forms', async (t) => {
  const { srv, bystander, offender, bJoin, oJoin } = await setup(t)
  offender.sendRaw(binaryPush('5', '5', 'room:other', 'phx_join', Buffer.from('{}')), true)
  t.same((await offender.waitFor((f) => f[1] === '5'))[4], { status: 'error', response: { reason: 'phx_join must be a text frame: join params are a JSON object' } })
  offender.sendRaw(binaryPush(null, '6', 'phoenix', 'heartbeat', Buffer.alloc(0)), true)
  t.same((await offender.waitFor((f) => f[1] === '6'))[4], { status: 'ok', response: {} }, 'heartbeat answered')
  offender.sendRaw(binaryPush(oJoin, '7', 'room:lobby', 'phx_leave', Buffer.alloc(0)), true)
  t.same((await offender.waitFor((f) => f[1] === '7'))[4], { status: 'ok', response: {} }, 'left')
  await offender.waitFor((f) => f[3] === 'phx_close')
  t.same(await offender.requestBinary(oJoin, 'room:lobby', 'echo', Buffer.from([1])), { status: 'error', response: { reason: 'unmatched topic' } }, 'a binary push after leaving: unmatched topic')
  await bystanderUntouched(t, srv, bystander, bJoin)
})

t.test('a binary frame over maxPayload closes the offender with 1009', async (t) => {
  const { srv, bystander, offender, oJoin, bJoin } = await setup(t)
  offender.sendRaw(binaryPush(oJoin, '9', 'room:lobby', 'echo', Buffer.alloc(2048, 1)), true)
  t.equal((await offender.waitForClose()).code, 1009)
  await bystanderUntouched(t, srv, bystander, bJoin)
})

t.test('binary frames count against the rate limit and the abuse score', async (t) => {
  const { srv, bystander, offender, oJoin, bJoin } = await setup(t, { messagesPerSecond: 5, maxRejectedMessages: 5 })
  // The setup's join took one token: four pushes are admitted, the fifth is answered "rate
  // limited", the next ones are dropped, and past five rejections the socket is closed.
  for (let i = 0; i < 20; i++) offender.sendRaw(binaryPush(oJoin, `r${i}`, 'room:lobby', 'echo', Buffer.from([i])), true)
  const closed = await offender.waitForClose()
  t.same(closed, { code: 1008, reason: 'message rate limit exceeded' })
  const limited = offender.frames.filter((f) => f[4]?.response?.reason === 'rate limited')
  t.ok(limited.length >= 1, 'the first rejected push was answered')
  t.ok(srv.hub.stats().rateLimited >= 6, 'counted as rate limited')
  // The bystander has its own bucket; give it room for its pushes.
  await bystanderUntouched(t, srv, bystander, bJoin)
})
