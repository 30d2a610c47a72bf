// The seed's chat scenario (channels-chat-example.md) over the wire, in both dialects.
import t from 'tap'
import { RawClient, startServer, broadcastMarker, POSITION } from '../../../test/helpers/wire.js'
import { defineChat } from '../../../test/fixtures/chat.js'

for (const [dialect, query] of [['hornbeam', ''], ['phoenix', '?vsn=2.0.0']] as const) {
  t.test(`chat flow (${dialect} dialect)`, async (t) => {
    const srv = await startServer()
    const leaves: string[] = []
    defineChat(srv.hub, leaves)
    t.teardown(srv.close)
    const url = srv.url() + query
    const alice = await RawClient.connect(url, dialect)
    const bob = await RawClient.connect(url, dialect)
    const n = alice.names

    const refused = await alice.join('room:lobby', {})
    t.same(refused, { status: 'error', response: { reason: 'username required' }, joinRef: refused.joinRef }, 'no username: refused')

    const a = await alice.join('room:lobby', { username: 'alice' })
    t.equal(a.status, 'ok')
    t.same(a.response, { room_id: 'lobby', message: 'Welcome to lobby!' })
    const stateA = await alice.waitFor((f) => f[3] === 'presence_state')
    t.same(Object.keys(stateA[4]), ['user:alice'], 'alice sees herself in presence_state')

    const b = await bob.join('room:lobby', { username: 'bob' })
    t.equal(b.status, 'ok')
    const stateB = await bob.waitFor((f) => f[3] === 'presence_state')
    t.same(Object.keys(stateB[4]).sort(), ['user:alice', 'user:bob'])
    const diff = await alice.waitFor((f) => f[3] === 'presence_diff' && 'user:bob' in f[4].joins)
    t.equal(diff[4].joins['user:bob'].metas[0].username, 'bob', 'alice sees bob join')
    const refKey = dialect === 'hornbeam' ? 'hb_ref' : 'phx_ref'
    t.type(diff[4].joins['user:bob'].metas[0][refKey], 'string', `metas carry ${refKey}`)

    const sent = await alice.push(a.joinRef, 'room:lobby', 'new_msg', { body: 'hello bob' })
    t.same(sent, { status: 'ok', response: { status: 'ok' } }, 'sender gets {status: ok}')
    const got = await bob.waitFor((f) => f[3] === 'new_msg')
    t.same(got, [null, got[1], 'room:lobby', 'new_msg', { username: 'alice', body: 'hello bob' }])
    t.match(got[1], POSITION, 'the broadcast carries its history position')
    // A marker broadcast after it reaches alice: an echo of her message would have come first.
    await broadcastMarker(srv.hub, 'room:lobby', [alice])
    t.equal(alice.events('room:lobby', 'new_msg').length, 0, 'the sender does not get its own message')

    const empty = await alice.push(a.joinRef, 'room:lobby', 'new_msg', { body: '' })
    t.same(empty, { status: 'error', response: { status: 'error', reason: 'empty message' } }, 'empty body: error reply')

    alice.send(a.joinRef, alice.nextRef(), 'room:lobby', 'typing', { typing: true })
    const typing = await bob.waitFor((f) => f[3] === 'typing')
    t.same(typing[4], { username: 'alice', typing: true }, 'typing relayed')
    // The marker follows any echo; the probe follows any reply to alice's typing frame.
    await broadcastMarker(srv.hub, 'room:lobby', [alice])
    await alice.probe()
    t.equal(alice.events('room:lobby', 'typing').length, 0, 'typing not echoed')
    t.equal(alice.frames.filter((f) => f[3] === n.reply && f[2] === 'room:lobby').length, 4, 'typing gets no reply')

    const history = await bob.push(b.joinRef, 'room:lobby', 'get_history', {})
    t.same(history, { status: 'ok', response: { messages: [{ username: 'system', body: 'Welcome to the chat!' }] } })

    const left = await bob.push(b.joinRef, 'room:lobby', n.leave, {})
    t.same(left, { status: 'ok', response: {} }, 'leave replies ok')
    await bob.waitFor((f) => f[3] === n.close && f[0] === b.joinRef)
    const gone = await alice.waitFor((f) => f[3] === 'presence_diff' && 'user:bob' in f[4].leaves)
    t.ok(gone, 'alice sees bob leave')
    t.same(leaves, ['User bob left room:lobby'], 'leave hook ran with the assigns')

    await alice.close()
    await bob.close()
  })
}

t.test('the chat caps usernames (every joiner gets every username in presence_state)', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  defineChat(srv.hub)
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  t.same((await c.join('room:lobby', { username: 'x'.repeat(33) })).response, { reason: 'username too long (at most 32 characters)' })
  t.equal((await c.join('room:lobby', { username: 'x'.repeat(32) })).status, 'ok')
})
