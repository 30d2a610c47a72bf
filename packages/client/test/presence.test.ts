import t from 'tap'
import { Presence, Socket, type PresenceState } from '@hornbeam/client'
import { FakeWebSocket } from './fixtures/fake-transport.js'
import { withClock } from './fixtures/fake-clock.js'

const meta = (username: string, ref: string, extra: object = {}) => ({ username, ...extra, hb_ref: ref })

/** A joined channel on a fake socket, a Presence on it wired to the seed's callbacks. */
function setup(options: ConstructorParameters<typeof Presence>[1] = {}) {
  FakeWebSocket.reset()
  const socket = new Socket('ws://example.test/ws', { transport: FakeWebSocket, heartbeatIntervalMs: 0, jitter: 0 })
  socket.connect()
  const conn = FakeWebSocket.last
  conn.open()
  const channel = socket.channel('room:lobby', { username: 'alice' })
  const presence = new Presence(channel, options)
  const log: string[] = []
  const joins: string[] = []
  const leaves: string[] = []
  // The seed's callbacks, as written in channels-chat-example.md.
  presence.onJoin((id, current, newPres) => {
    joins.push(id)
    if (!current) log.push(`${newPres.metas[0]!.username} joined`)
  })
  presence.onLeave((id, current, leftPres) => {
    leaves.push(id)
    if (current.metas.length === 0) log.push(`${leftPres.metas[0]!.username} left`)
  })
  let syncs = 0
  presence.onSync(() => syncs++)
  const join = () => {
    const frame = conn.frames('hb_join').at(-1)!
    conn.reply(frame)
    return frame[0] as string
  }
  channel.join()
  const joinRef = join()
  const state = (s: PresenceState) => conn.deliver([null, null, 'room:lobby', 'presence_state', s])
  const diff = (joins: PresenceState, leaves: PresenceState = {}) =>
    conn.deliver([null, null, 'room:lobby', 'presence_diff', { joins, leaves }])
  const rejoin = () => {
    channel.rejoin()
    return join()
  }
  const users = () => presence.list((id, { metas }) => metas[0]!.username).sort()
  return { socket, channel, presence, log, joins, leaves, state, diff, rejoin, users, joinRef, syncs: () => syncs }
}

t.test('the seed flow: state, then diffs, onJoin/onLeave/onSync and list(chooser)', (t) => {
  const p = setup()
  p.state({ 'user:alice': { metas: [meta('alice', 'r1')] } })
  t.same(p.log, ['alice joined'])
  t.same(p.users(), ['alice'])
  p.diff({ 'user:bob': { metas: [meta('bob', 'r2')] } })
  p.diff({ 'user:bob': { metas: [meta('bob', 'r3')] } }) // bob's second tab
  t.same(p.log, ['alice joined', 'bob joined'], 'a second tab is not a second join')
  p.diff({}, { 'user:bob': { metas: [meta('bob', 'r2')] } })
  t.same(p.log, ['alice joined', 'bob joined'], 'one tab closing is not a leave')
  p.diff({}, { 'user:bob': { metas: [meta('bob', 'r3')] } })
  t.same(p.log, ['alice joined', 'bob joined', 'bob left'])
  t.same(p.users(), ['alice'])
  t.equal(p.syncs(), 5)
  p.socket.disconnect()
  t.end()
})

t.test('after a rejoin, presences that stayed fire nothing, though every hb_ref changed', (t) => {
  withClock((clock) => {
    const p = setup()
    p.state({
      'user:alice': { metas: [meta('alice', 'r1')] },
      'user:bob': { metas: [meta('bob', 'r2')] },
      'user:carol': { metas: [meta('carol', 'r3')] },
    })
    p.joins.length = 0
    p.log.length = 0
    p.rejoin()
    t.ok(p.presence.inPendingSyncState())
    // The server restarted: alice is back already, dave is new; bob and carol are not back yet.
    p.state({
      'user:alice': { metas: [meta('alice', 'n1')] },
      'user:dave': { metas: [meta('dave', 'n2')] },
    })
    t.same(p.joins, ['user:dave'], 'only the newcomer fires onJoin')
    t.same(p.leaves, [], 'no leave yet: bob and carol may be reconnecting')
    t.same(p.users(), ['alice', 'bob', 'carol', 'dave'])
    t.same(p.presence.list((id, { metas }) => metas.map((m) => m.hb_ref)).flat().sort(), ['n1', 'n2', 'r2', 'r3'])

    // bob comes back (new ref, same meta): adopted silently.
    clock.tick(4000)
    p.diff({ 'user:bob': { metas: [meta('bob', 'n3')] } })
    t.same(p.joins, ['user:dave'])
    t.same(p.log, ['dave joined'])

    // carol does not: she leaves when the grace period ends.
    clock.tick(1000)
    t.same(p.leaves, ['user:carol'])
    t.same(p.log, ['dave joined', 'carol left'])
    t.same(p.users(), ['alice', 'bob', 'dave'])
    t.same(p.presence.list((id, { metas }) => metas.map((m) => m.hb_ref)).flat().sort(), ['n1', 'n2', 'n3'])
  })
  t.end()
})

t.test('a rejoin pairs metas by content first, then by key (a meta the server rebuilt)', (t) => {
  withClock(() => {
    const p = setup({ rejoinGraceMs: 0 })
    p.state({ 'user:bob': { metas: [meta('bob', 'r1', { tab: 1 }), meta('bob', 'r2', { tab: 2 })] } })
    p.joins.length = 0
    p.rejoin()
    // Tab 2 is back unchanged, tab 1 came back with a new online_at, and a third tab is new.
    p.state({
      'user:bob': { metas: [meta('bob', 'n2', { tab: 2 }), meta('bob', 'n1', { tab: 1, online_at: 5 }), meta('bob', 'n3', { tab: 3 })] },
    })
    t.same(p.joins, ['user:bob'], 'one onJoin, for the third tab')
    t.same(p.leaves, [])
    t.same(p.log, ['bob joined'])
    t.same(p.presence.list()[0]!.metas.map((m) => m.hb_ref), ['n2', 'n1', 'n3'])
  })
  t.end()
})

t.test('with rejoinGraceMs 0, a presence missing after a rejoin leaves at once', (t) => {
  const p = setup({ rejoinGraceMs: 0 })
  p.state({ 'user:alice': { metas: [meta('alice', 'r1')] }, 'user:bob': { metas: [meta('bob', 'r2')] } })
  p.log.length = 0
  p.rejoin()
  p.state({ 'user:alice': { metas: [meta('alice', 'n1')] } })
  t.same(p.log, ['bob left'])
  t.same(p.users(), ['alice'])
  p.socket.disconnect()
  t.end()
})

t.test('a diff that arrives before the rejoin\'s state is dropped (the state covers it)', (t) => {
  const p = setup()
  p.state({ 'user:alice': { metas: [meta('alice', 'r1')] } })
  p.rejoin()
  p.diff({ 'user:ghost': { metas: [meta('ghost', 'g1')] } })
  p.state({ 'user:alice': { metas: [meta('alice', 'n1')] } })
  t.same(p.users(), ['alice'])
  t.notOk(p.log.includes('ghost joined'))
  p.socket.disconnect()
  t.end()
})

t.test('closing the channel ends the grace period (no timer left behind)', (t) => {
  withClock((clock) => {
    const p = setup()
    p.state({ 'user:alice': { metas: [meta('alice', 'r1')] }, 'user:bob': { metas: [meta('bob', 'r2')] } })
    p.rejoin()
    p.state({ 'user:alice': { metas: [meta('alice', 'n1')] } })
    t.same(clock.pending(), [5000])
    p.channel.leave()
    const conn = FakeWebSocket.last
    conn.reply(conn.frames('hb_leave')[0]!)
    t.same(clock.pending(), [])
  })
  t.end()
})

t.test('Presence.syncState / syncDiff do not modify their inputs; "__proto__" is a plain key', (t) => {
  const state: PresenceState = JSON.parse('{"__proto__": {"metas": [{"hb_ref": "1"}]}}')
  const frozen = JSON.stringify(state)
  const next = Presence.syncDiff(state, { joins: JSON.parse('{"__proto__": {"metas": [{"hb_ref": "2"}]}}'), leaves: {} })
  t.equal(JSON.stringify(state), frozen)
  t.equal(Object.getPrototypeOf(next), Object.prototype)
  t.same(Presence.list(next, (key, p) => [key, p.metas.length]), [['__proto__', 2]])
  const after = Presence.syncState(next, {})
  t.same(Object.keys(after), [])
  t.end()
})
