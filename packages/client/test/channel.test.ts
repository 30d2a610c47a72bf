import t from 'tap'
import { Socket } from '@hornbeam/client'
import { FakeWebSocket } from './fixtures/fake-transport.js'
import { withClock } from './fixtures/fake-clock.js'

const REJOIN = [100, 200, 500]

function connected(options: ConstructorParameters<typeof Socket>[1] = {}) {
  FakeWebSocket.reset()
  const logs: Array<[string, string]> = []
  const socket = new Socket('ws://example.test/ws', {
    transport: FakeWebSocket,
    restartWindowMs: 0, // serverClose(1012) stands for any drop here
    jitter: 0,
    heartbeatIntervalMs: 0,
    timeout: 1000,
    reconnectAfterMs: () => 10,
    rejoinAfterMs: (tries) => REJOIN[tries - 1] ?? 1000,
    logger: (kind, msg) => logs.push([kind, msg]),
    ...options,
  })
  socket.connect()
  FakeWebSocket.last.open()
  return { socket, logs, conn: () => FakeWebSocket.last }
}

t.test('join before connect: the join goes out when the socket opens, join_ref = ref', (t) => {
  withClock(() => {
    FakeWebSocket.reset()
    const socket = new Socket('ws://example.test/ws', { transport: FakeWebSocket, heartbeatIntervalMs: 0 })
    const channel = socket.channel('room:lobby', { username: 'alice' })
    const replies: unknown[] = []
    channel.join().receive('ok', (resp) => replies.push(resp))
    t.equal(channel.state, 'joining')
    socket.connect()
    const conn = FakeWebSocket.last
    t.same(conn.sent, [], 'nothing before the socket is open')
    conn.open()
    const [join] = conn.frames('hb_join')
    t.same(join, [join![1], join![1], 'room:lobby', 'hb_join', { username: 'alice' }])
    conn.reply(join!, 'ok', { room_id: 'lobby' })
    t.equal(channel.state, 'joined')
    t.same(replies, [{ room_id: 'lobby' }])
  })
  t.end()
})

t.test('a join that times out: timeout callback, leave for the old join, rejoin on the backoff schedule', (t) => {
  withClock((clock) => {
    const { socket, conn } = connected()
    const channel = socket.channel('room:lobby', () => ({ token: 'fresh' }))
    const timeouts: number[] = []
    const oks: unknown[] = []
    channel.join().receive('timeout', () => timeouts.push(clock.now)).receive('ok', (r) => oks.push(r))
    const first = conn().frames('hb_join')[0]!
    clock.tick(1000)
    t.same(timeouts, [1000])
    t.equal(channel.state, 'errored')
    const [leave] = conn().frames('hb_leave')
    t.equal(leave![0], first[0], 'the leave names the join that timed out')

    // Each rejoin waits the next step of rejoinAfterMs, then gets the full timeout again.
    let at = 1000
    for (const step of REJOIN.slice(0, 2)) {
      clock.tick(step - 1)
      t.equal(conn().frames('hb_join').length, 1 + REJOIN.indexOf(step), `no rejoin before ${step} ms`)
      clock.tick(1)
      at += step
      t.equal(conn().frames('hb_join').length, 2 + REJOIN.indexOf(step), `rejoin after ${step} ms`)
      clock.tick(1000)
      at += 1000
      t.equal(timeouts.at(-1), at)
    }
    clock.tick(REJOIN[2]!)
    const joins = conn().frames('hb_join')
    t.equal(joins.length, 4)
    const last = joins.at(-1)!
    t.same(last[4], { token: 'fresh' }, 'params function evaluated per join')
    t.not(last[1], first[1], 'each join has a new ref')
    conn().reply(last, 'ok', { welcome: true })
    t.equal(channel.state, 'joined')
    t.same(oks, [{ welcome: true }])

    // Joined: the rejoin schedule starts over.
    conn().deliver([last[0], last[0], 'room:lobby', 'hb_error', {}])
    t.equal(channel.state, 'errored')
    const joinsBefore = conn().frames('hb_join').length
    clock.tick(REJOIN[0]! - 1)
    t.equal(conn().frames('hb_join').length, joinsBefore)
    clock.tick(1)
    t.equal(conn().frames('hb_join').length, joinsBefore + 1, 'back to the first step of the backoff')
  })
  t.end()
})

t.test('pushes before the join are buffered and sent after it, in order, with the join_ref', (t) => {
  withClock(() => {
    const { socket, conn } = connected()
    const channel = socket.channel('room:lobby')
    channel.join()
    const replies: unknown[] = []
    channel.push('new_msg', { body: 'one' }).receive('ok', (r) => replies.push(r))
    channel.push('new_msg', { body: 'two' })
    t.equal(conn().frames('new_msg').length, 0, 'buffered while joining')
    const join = conn().frames('hb_join')[0]!
    conn().reply(join)
    const sent = conn().frames('new_msg')
    t.same(sent.map((f) => f[4].body), ['one', 'two'])
    t.ok(sent.every((f) => f[0] === join[0]), 'sent under the current join_ref')
    conn().reply(sent[0]!, 'ok', { status: 'ok' })
    t.same(replies, [{ status: 'ok' }])
  })
  t.end()
})

t.test('a buffered push times out on its own timer and is then never sent', (t) => {
  withClock((clock) => {
    const { socket, conn } = connected()
    const channel = socket.channel('room:lobby')
    channel.join(5000)
    const outcomes: string[] = []
    channel.push('quick', {}, 300).receive('timeout', () => outcomes.push(`quick timeout at ${clock.now}`))
    channel.push('patient', {}, 5000).receive('ok', () => outcomes.push('patient ok'))
    clock.tick(300)
    t.same(outcomes, ['quick timeout at 300'])
    clock.tick(700)
    conn().reply(conn().frames('hb_join')[0]!)
    t.same(conn().frames('quick'), [], 'the timed-out push is not sent after the join')
    const [patient] = conn().frames('patient')
    conn().reply(patient!)
    t.same(outcomes, ['quick timeout at 300', 'patient ok'])
  })
  t.end()
})

t.test('a sent push keeps the deadline it got when it was buffered', (t) => {
  withClock((clock) => {
    const { socket, conn } = connected()
    const channel = socket.channel('room:lobby')
    channel.join()
    const outcomes: number[] = []
    channel.push('event', {}, 500).receive('timeout', () => outcomes.push(clock.now))
    clock.tick(400)
    conn().reply(conn().frames('hb_join')[0]!)
    t.equal(conn().frames('event').length, 1)
    clock.tick(100)
    t.same(outcomes, [500], 'times out 500 ms after push(), not after it was sent')
  })
  t.end()
})

t.test('pushes while the socket is down wait for the reconnect and the rejoin', (t) => {
  withClock((clock) => {
    const { socket, conn } = connected()
    const channel = socket.channel('room:lobby')
    const errors: unknown[] = []
    channel.onError((reason) => errors.push(reason))
    channel.join(5000)
    conn().reply(conn().frames('hb_join')[0]!)
    conn().serverClose(1012)
    t.equal(channel.state, 'errored')
    t.same(errors, [{ reason: 'socket closed' }])
    const replies: unknown[] = []
    channel.push('new_msg', { body: 'while down' }, 5000).receive('ok', (r) => replies.push(r))
    clock.tick(10)
    const second = conn()
    t.equal(FakeWebSocket.instances.length, 2)
    second.open()
    t.equal(channel.state, 'joining', 'rejoins as soon as the socket is open')
    t.same(second.frames('new_msg'), [])
    second.reply(second.frames('hb_join')[0]!)
    const [msg] = second.frames('new_msg')
    t.same(msg![4], { body: 'while down' })
    second.reply(msg!, 'ok', { stored: true })
    t.same(replies, [{ stored: true }])
  })
  t.end()
})

t.test('lifecycle frames with a stale join_ref are ignored', (t) => {
  withClock((clock) => {
    const { socket, conn, logs } = connected()
    const channel = socket.channel('room:lobby')
    const closes: unknown[] = []
    const errors: unknown[] = []
    const oks: unknown[] = []
    channel.onClose((p) => closes.push(p))
    channel.onError((p) => errors.push(p))
    channel.join().receive('ok', (r) => oks.push(r))
    const old = conn().frames('hb_join')[0]!
    clock.tick(1000) // timeout
    clock.tick(REJOIN[0]!) // rejoin
    const current = conn().frames('hb_join')[1]!
    t.not(current[0], old[0])
    t.equal(channel.joinRef(), current[0])

    // The server finishes the old join late, then replaces it (hb_close with the old join_ref).
    conn().deliver([old[0], old[1], 'room:lobby', 'hb_reply', { status: 'ok', response: { late: true } }])
    conn().deliver([old[0], old[0], 'room:lobby', 'hb_close', {}])
    conn().deliver([old[0], old[0], 'room:lobby', 'hb_error', {}])
    t.equal(channel.state, 'joining', 'none of them touched the current join')
    t.same(oks, [])
    t.same(closes, [])
    t.same(errors, [])
    t.equal(logs.filter(([kind, msg]) => kind === 'channel' && /dropped stale/.test(msg)).length, 3)

    // Ordinary events carry no join semantics and still arrive.
    const events: unknown[] = []
    channel.on('new_msg', (p) => events.push(p))
    conn().deliver([old[0], null, 'room:lobby', 'new_msg', { body: 'hi' }])
    t.same(events, [{ body: 'hi' }])

    conn().reply(current, 'ok', { fresh: true })
    t.equal(channel.state, 'joined')
    t.same(oks, [{ fresh: true }])
    conn().deliver([current[0], current[0], 'room:lobby', 'hb_close', { reason: 'stopped' }])
    t.equal(channel.state, 'closed', 'the current join_ref closes it')
    t.same(closes, [{ reason: 'stopped' }])
  })
  t.end()
})

t.test('a refused join reports the reason, is not retried on that connection, and is on the next', (t) => {
  withClock((clock) => {
    const { socket, conn } = connected()
    const channel = socket.channel('room:lobby', {})
    const errors: unknown[] = []
    channel.join().receive('error', (resp) => errors.push(resp))
    conn().reply(conn().frames('hb_join')[0]!, 'error', { reason: 'username required' })
    t.same(errors, [{ reason: 'username required' }])
    t.equal(channel.state, 'errored')
    clock.tick(60_000)
    t.equal(conn().frames('hb_join').length, 1, 'not asked again on the same connection')
    conn().serverClose(1012)
    clock.tick(10)
    conn().open()
    t.equal(conn().frames('hb_join').length, 1, 'asked again on the next connection')
    channel.rejoin()
    t.equal(conn().frames('hb_join').length, 2, 'or when rejoin() is called')
  })
  t.end()
})

t.test('hb_error: errored, callbacks, rejoin after rejoinAfterMs', (t) => {
  withClock((clock) => {
    const { socket, conn } = connected()
    const channel = socket.channel('room:lobby')
    const errors: unknown[] = []
    channel.onError((p) => errors.push(p))
    channel.join()
    const join = conn().frames('hb_join')[0]!
    conn().reply(join)
    conn().deliver([join[0], join[0], 'room:lobby', 'hb_error', {}])
    t.equal(channel.state, 'errored')
    t.same(errors, [{}])
    clock.tick(REJOIN[0]! - 1)
    t.equal(conn().frames('hb_join').length, 1)
    clock.tick(1)
    t.equal(conn().frames('hb_join').length, 2)
  })
  t.end()
})

t.test('hb_close from the server: closed for good, buffered pushes fail, the socket forgets it', (t) => {
  withClock((clock) => {
    const { socket, conn } = connected()
    const channel = socket.channel('room:lobby')
    channel.join()
    const join = conn().frames('hb_join')[0]!
    conn().reply(join)
    conn().deliver([join[0], join[0], 'room:lobby', 'hb_close', { reason: 'kicked' }])
    t.equal(channel.state, 'closed')
    t.same(socket.channels, [])
    const results: unknown[] = []
    channel.push('new_msg', {}).receive('error', (r) => results.push(r))
    t.same(results, [{ reason: 'channel closed' }])
    clock.tick(60_000)
    t.equal(conn().frames('hb_join').length, 1, 'no rejoin')
  })
  t.end()
})

t.test('leave(): hb_leave, closed on the reply; buffered pushes fail; at once when disconnected', (t) => {
  withClock(() => {
    const { socket, conn } = connected()
    const channel = socket.channel('room:lobby')
    channel.join()
    const join = conn().frames('hb_join')[0]!
    conn().reply(join)
    const closes: unknown[] = []
    channel.onClose((p) => closes.push(p))
    let left = false
    channel.leave().receive('ok', () => (left = true))
    t.equal(channel.state, 'leaving')
    const [leave] = conn().frames('hb_leave')
    t.equal(leave![0], join[0])
    conn().reply(leave!)
    t.ok(left)
    t.equal(channel.state, 'closed')
    t.same(closes, [{ reason: 'leave' }])

    // A channel on a socket that is down leaves at once.
    const other = socket.channel('room:other')
    other.join()
    const buffered: unknown[] = []
    other.push('x', {}).receive('error', (r) => buffered.push(r))
    socket.disconnect()
    let otherLeft = false
    other.leave().receive('ok', () => (otherLeft = true))
    t.ok(otherLeft)
    t.equal(other.state, 'closed')
    t.same(buffered, [{ reason: 'channel closed' }])
  })
  t.end()
})

t.test('push before join throws; join twice throws', (t) => {
  const { socket } = connected()
  const channel = socket.channel('room:lobby')
  t.throws(() => channel.push('x', {}), /before joining/)
  channel.join()
  t.throws(() => channel.join(), /twice/)
  socket.disconnect()
  t.end()
})

t.test('push replies: routed by ref, error replies, the seed reply shape', (t) => {
  withClock(() => {
    const { socket, conn } = connected()
    const channel = socket.channel('room:lobby')
    channel.join()
    conn().reply(conn().frames('hb_join')[0]!)
    const seen: string[] = []
    const a = channel.push('a', {}).receive('ok', (r) => seen.push(`a ok ${JSON.stringify(r)}`))
    const b = channel.push('b', {}).receive('error', (r) => seen.push(`b error ${r.reason}`))
    const [fa] = conn().frames('a')
    const [fb] = conn().frames('b')
    conn().reply(fb!, 'error', { status: 'error', reason: 'empty message' })
    conn().reply(fa!, 'ok', { status: 'ok' })
    t.same(seen, ['b error empty message', 'a ok {"status":"ok"}'])
    t.ok(a.hasReceived('ok'))
    t.ok(b.hasReceived('error'))
    // A callback added after the outcome runs at once.
    a.receive('ok', () => seen.push('late'))
    t.equal(seen.at(-1), 'late')
  })
  t.end()
})

t.test('joining a topic a second time on one socket leaves the first channel', (t) => {
  withClock(() => {
    const { socket, conn } = connected()
    const first = socket.channel('room:lobby')
    first.join()
    conn().reply(conn().frames('hb_join')[0]!)
    const second = socket.channel('room:lobby')
    second.join()
    t.equal(first.state, 'leaving')
    t.equal(conn().frames('hb_leave').length, 1)
    t.equal(conn().frames('hb_join').length, 2)
  })
  t.end()
})

t.test("the upstream client's state predicates: isJoining, isJoined, isErrored, isLeaving, isClosed", (t) => {
  withClock(() => {
    const { socket, conn } = connected()
    const channel = socket.channel('room:lobby')
    const states = () => [channel.isClosed(), channel.isJoining(), channel.isJoined(), channel.isErrored(), channel.isLeaving()]
    t.same(states(), [true, false, false, false, false], 'closed before join')
    channel.join()
    t.same(states(), [false, true, false, false, false], 'joining')
    const join = conn().frames('hb_join')[0]!
    conn().reply(join)
    t.same(states(), [false, false, true, false, false], 'joined')
    channel.leave()
    t.same(states(), [false, false, false, false, true], 'leaving')
    const other = socket.channel('room:other')
    other.join()
    const otherJoin = conn().frames('hb_join')[1]!
    conn().reply(otherJoin)
    conn().deliver([otherJoin[0], otherJoin[0], 'room:other', 'hb_error', {}])
    t.ok(other.isErrored(), 'errored')
  })
  t.end()
})

t.test('history: the position follows broadcasts, a rejoin resumes from it, duplicates are dropped, onRecover tells', (t) => {
  withClock((clock) => {
    const { socket, conn } = connected()
    const channel = socket.channel('room:lobby', { username: 'alice' })
    const got: number[] = []
    const recovered: unknown[] = []
    channel.on('m', (payload: { n: number }) => got.push(payload.n))
    channel.onRecover((info) => recovered.push(info))
    channel.join()
    const join = conn().frames('hb_join')[0]!
    t.same(join[4], { username: 'alice' }, 'a first join carries no position')
    conn().reply(join)
    conn().deliver([join[0], null, 'room:lobby', 'hb_history', { position: 'ep1:0', resumed: false, replayed: 0, connection: 'n.1' }])
    t.equal(channel.position, 'ep1:0', 'a position from the join, before any message')
    conn().deliver([null, 'ep1:1', 'room:lobby', 'm', { n: 1 }])
    conn().deliver([null, 'ep1:2', 'room:lobby', 'm', { n: 2 }])
    t.equal(channel.position, 'ep1:2')
    conn().serverClose(1006)
    clock.tick(10)
    conn().open()
    const rejoin = conn().frames('hb_join')[0]!
    t.same(rejoin[4], { username: 'alice', hb_position: 'ep1:2', hb_previous: 'n.1' }, 'the rejoin resumes from the last position')
    conn().reply(rejoin)
    // The server replays 3 and 4; a 2 sent again (an overlap) is dropped.
    for (const [ref, n] of [['ep1:2', 2], ['ep1:3', 3], ['ep1:4', 4]] as const) conn().deliver([null, ref, 'room:lobby', 'm', { n }])
    conn().deliver([rejoin[0], null, 'room:lobby', 'hb_history', { position: 'ep1:4', resumed: true, recovered: true, replayed: 2, connection: 'n.2' }])
    t.same(got, [1, 2, 3, 4], 'each once, in order')
    t.same(recovered, [{ recovered: true, replayed: 2, position: 'ep1:4' }])
    // A history that restarted: a new epoch, and the app is told it missed things for good.
    conn().deliver([rejoin[0], null, 'room:lobby', 'hb_history', { position: 'ep2:7', resumed: true, recovered: false, reason: 'unknown epoch', replayed: 0 }])
    t.same(recovered[1], { recovered: false, reason: 'unknown epoch', replayed: 0, position: 'ep2:7' })
    conn().deliver([null, 'ep2:8', 'room:lobby', 'm', { n: 8 }])
    t.same(got, [1, 2, 3, 4, 8], 'the new epoch is followed')
  })
  t.end()
})
