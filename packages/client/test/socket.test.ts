import t from 'tap'
import { Socket, endPointURL, jittered, type CloseInfo } from '@hornbeam/client'
import { FakeWebSocket } from './fixtures/fake-transport.js'
import { withClock } from './fixtures/fake-clock.js'

function makeSocket(options: ConstructorParameters<typeof Socket>[1] = {}) {
  FakeWebSocket.reset()
  const logs: Array<[string, string]> = []
  const socket = new Socket('ws://example.test/ws', {
    transport: FakeWebSocket,
    // These tests are about the backoff: a server restart's close reconnects as a drop does.
    restartWindowMs: 0,
    jitter: 0,
    heartbeatIntervalMs: 0,
    logger: (kind, msg) => logs.push([kind, msg]),
    ...options,
  })
  return { socket, logs }
}

t.test('endpoint: /websocket appended, paths resolved against the page, params in the query', (t) => {
  const page = { href: 'http://localhost:4000/chat/index.html' }
  t.equal(endPointURL('/ws', { token: 'a b' }, page), 'ws://localhost:4000/ws/websocket?token=a+b')
  t.equal(endPointURL('/ws', {}, { href: 'https://example.com/' }), 'wss://example.com/ws/websocket')
  t.equal(endPointURL('//other.test/ws', {}, { href: 'https://example.com/' }), 'wss://other.test/ws/websocket')
  t.equal(endPointURL('ws://127.0.0.1:4000/ws/', {}), 'ws://127.0.0.1:4000/ws/websocket')
  t.equal(endPointURL('http://127.0.0.1:4000/ws', { a: 1, b: null, c: undefined, d: true }), 'ws://127.0.0.1:4000/ws/websocket?a=1&d=true')
  t.equal(endPointURL('https://h.test/ws?x=1', { y: 2 }), 'wss://h.test/ws/websocket?x=1&y=2')
  t.equal(endPointURL('ws://h.test/ws/websocket', {}), 'ws://h.test/ws/websocket', 'not appended twice')
  t.throws(() => endPointURL('/ws', {}, undefined), /relative.*absolute URL/)
  t.equal(endPointURL('/ws', { token: 't' }, undefined, true), '/ws/websocket?token=t', 'relative, for an explicit transport')
  t.equal(endPointURL('//h.test/ws', {}, undefined, true), '//h.test/ws/websocket')
  t.throws(() => endPointURL('ftp://h.test/ws', {}), /must be a ws:/)
  t.end()
})

t.test('new Socket(relative, { transport }): the transport gets the relative URL, as with the upstream client', (t) => {
  withClock(() => {
    FakeWebSocket.reset()
    const socket = new Socket('/ws', { transport: FakeWebSocket, params: { token: 'x' }, heartbeatIntervalMs: 0 })
    socket.connect()
    t.equal(FakeWebSocket.last.url, '/ws/websocket?token=x')
    socket.disconnect()
  })
  t.end()
})

t.test('without a transport and without a global WebSocket, connect() says what to do', (t) => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket')
  Object.defineProperty(globalThis, 'WebSocket', { value: undefined, configurable: true, writable: true })
  try {
    const socket = new Socket('ws://example.test/ws')
    t.throws(() => socket.connect(), /no WebSocket implementation.*transport: WebSocket.*'ws'/)
    // With a global WebSocket (browsers, Node 22) it is the default.
    ;(globalThis as any).WebSocket = FakeWebSocket
    FakeWebSocket.reset()
    new Socket('ws://example.test/ws').connect()
    t.equal(FakeWebSocket.instances.length, 1)
  } finally {
    if (saved) Object.defineProperty(globalThis, 'WebSocket', saved)
    else delete (globalThis as any).WebSocket
  }
  t.end()
})

t.test('a params function is evaluated on every connect', (t) => {
  withClock((clock) => {
    let calls = 0
    const { socket } = makeSocket({ params: () => ({ token: `t${++calls}` }), reconnectAfterMs: () => 100 })
    socket.connect()
    t.equal(FakeWebSocket.last.url, 'ws://example.test/ws/websocket?token=t1')
    FakeWebSocket.last.open()
    FakeWebSocket.last.serverClose(1012, 'server restart')
    clock.tick(100)
    t.equal(FakeWebSocket.instances.length, 2)
    t.equal(FakeWebSocket.last.url, 'ws://example.test/ws/websocket?token=t2')
    t.equal(calls, 2)
  })
  t.end()
})

t.test('heartbeat: an answered one keeps the connection, an unanswered one reconnects with 4000', (t) => {
  withClock((clock) => {
    const { socket, logs } = makeSocket({ heartbeatIntervalMs: 1000, reconnectAfterMs: () => 100 })
    const closes: CloseInfo[] = []
    socket.onClose((event) => closes.push(event))
    const channel = socket.channel('room:lobby')
    channel.join()
    socket.connect()
    const first = FakeWebSocket.last
    first.open()
    first.reply(first.frames('hb_join')[0]!)
    t.equal(channel.state, 'joined')

    clock.tick(1000)
    const beats = first.frames('heartbeat')
    t.equal(beats.length, 1)
    t.same(beats[0], [null, beats[0]![1], 'hornbeam', 'heartbeat', {}])
    first.deliver([null, beats[0]![1], 'hornbeam', 'hb_reply', { status: 'ok', response: {} }])
    clock.tick(1000)
    t.equal(first.frames('heartbeat').length, 2, 'the next heartbeat one interval after the answer')
    t.same(first.closeCalls, [])

    clock.tick(999)
    t.same(first.closeCalls, [], 'not yet: the heartbeat still has time')
    clock.tick(1)
    t.same(first.closeCalls, [{ code: 4000, reason: 'heartbeat timeout' }])
    t.same(closes, [{ code: 4000, reason: 'heartbeat timeout', wasClean: false }])
    t.equal(channel.state, 'errored')
    t.ok(logs.some(([, msg]) => /heartbeat timeout/.test(msg)))

    // The dead connection's late close event changes nothing.
    first.serverClose(1006)
    t.equal(closes.length, 1)

    clock.tick(99)
    t.equal(FakeWebSocket.instances.length, 1)
    clock.tick(1)
    t.equal(FakeWebSocket.instances.length, 2, 'reconnected after the backoff')
    const second = FakeWebSocket.last
    second.open()
    t.equal(second.frames('hb_join', 'room:lobby').length, 1, 'the channel rejoins on the new connection')
  })
  t.end()
})

t.test('jittered(): delays stay within [base × (1 − jitter), base]', (t) => {
  t.equal(jittered(1000, 0.5, () => 0), 1000)
  t.equal(jittered(1000, 0.5, () => 0.5), 750)
  t.ok(jittered(1000, 0.5, () => 0.999999) > 500)
  t.equal(jittered(1000, 0, () => 0.9), 1000, 'no jitter')
  t.equal(jittered(1000, 3, () => 0.5), 500, 'jitter is clamped to 1')
  const samples = Array.from({ length: 2000 }, () => jittered(200, 0.5))
  t.ok(samples.every((d) => d > 100 && d <= 200), 'all within bounds')
  t.ok(new Set(samples).size > 100, 'and spread out')
  t.end()
})

t.test('reconnect backoff: grows with each failed try, jittered, reset once connected', (t) => {
  withClock((clock) => {
    const steps = [100, 200, 400]
    const { socket } = makeSocket({ reconnectAfterMs: (tries) => steps[tries - 1] ?? 800, jitter: 0.5 })
    clock.fixRandom(0.5) // every delay is 75% of its step
    socket.connect()
    FakeWebSocket.last.fail()
    for (const [i, step] of [...steps, 800, 800].entries()) {
      const expected = step * 0.75
      t.same(clock.pending(), [expected], `try ${i + 1} in ${expected} ms`)
      clock.tick(expected - 1)
      t.equal(FakeWebSocket.instances.length, i + 1)
      clock.tick(1)
      t.equal(FakeWebSocket.instances.length, i + 2)
      if (i < 4) FakeWebSocket.last.fail()
    }
    FakeWebSocket.last.open()
    FakeWebSocket.last.serverClose(1001, 'going away')
    t.same(clock.pending(), [75], 'after a successful connect the backoff starts over')
  })
  t.end()
})

t.test('disconnect(): closes with 1000 and stops reconnecting until connect()', (t) => {
  withClock((clock) => {
    const { socket } = makeSocket({ reconnectAfterMs: () => 10 })
    const closes: CloseInfo[] = []
    socket.onClose((e) => closes.push(e))
    socket.connect()
    const conn = FakeWebSocket.last
    conn.open()
    t.equal(socket.connectionState(), 'open')
    let called = false
    socket.disconnect(() => (called = true))
    t.ok(called)
    t.same(conn.closeCalls, [{ code: 1000, reason: 'client disconnect' }])
    t.same(closes, [{ code: 1000, reason: 'client disconnect', wasClean: true }])
    t.equal(socket.connectionState(), 'closed')
    conn.serverClose(1000)
    clock.tick(60_000)
    t.equal(FakeWebSocket.instances.length, 1, 'no reconnect')
    t.same(clock.pending(), [], 'no timer left behind')
    socket.connect()
    t.equal(FakeWebSocket.instances.length, 2)
  })
  t.end()
})

t.test('a close the client did not ask for reconnects, whatever its code', (t) => {
  withClock((clock) => {
    const { socket } = makeSocket({ reconnectAfterMs: () => 10 })
    socket.connect()
    for (const code of [1000, 1001, 1006, 1011, 1012, 4000]) {
      FakeWebSocket.last.open()
      FakeWebSocket.last.serverClose(code)
      const before = FakeWebSocket.instances.length
      clock.tick(10)
      t.equal(FakeWebSocket.instances.length, before + 1, `reconnects after ${code}`)
    }
  })
  t.end()
})

t.test('onOpen/onClose/onError/onMessage return refs that off() removes', (t) => {
  const { socket } = makeSocket()
  const seen: string[] = []
  const refs = [
    socket.onOpen(() => seen.push('open')),
    socket.onClose(() => seen.push('close')),
    socket.onError(() => seen.push('error')),
    socket.onMessage((m) => seen.push(`message ${m.event}`)),
  ]
  t.equal(new Set(refs).size, 4)
  socket.connect()
  FakeWebSocket.last.open()
  FakeWebSocket.last.deliver([null, null, 'room:lobby', 'new_msg', { body: 'hi' }])
  socket.off(refs.slice(0, 2))
  FakeWebSocket.last.deliver([null, null, 'room:lobby', 'new_msg', { body: 'hi' }])
  FakeWebSocket.last.fail()
  t.same(seen, ['open', 'message new_msg', 'message new_msg', 'error'])
  socket.off(refs)
  socket.disconnect()
  t.end()
})

t.test('malformed frames are dropped and logged, the connection lives on', (t) => {
  const { socket, logs } = makeSocket()
  const messages: string[] = []
  socket.onMessage((m) => messages.push(m.event))
  socket.connect()
  const conn = FakeWebSocket.last
  conn.open()
  conn.deliver('not json')
  conn.deliver('{"an":"object"}')
  conn.onmessage?.({ data: new Uint8Array([1, 2]) })
  conn.deliver([null, null, 'room:lobby', 'ok_event', {}])
  t.same(messages, ['ok_event'])
  t.equal(logs.filter(([, msg]) => /dropped malformed frame/.test(msg)).length, 3)
  t.equal(socket.connectionState(), 'open')
  socket.disconnect()
  t.end()
})

t.test('a params function that throws on reconnect is reported and retried later', (t) => {
  withClock((clock) => {
    let fail = false
    const { socket } = makeSocket({ params: () => { if (fail) throw new Error('no token'); return { token: 'x' } }, reconnectAfterMs: () => 10 })
    const errors: unknown[] = []
    socket.onError((e) => errors.push(e))
    socket.connect()
    FakeWebSocket.last.open()
    fail = true
    FakeWebSocket.last.serverClose(1012)
    clock.tick(10)
    t.equal(FakeWebSocket.instances.length, 1)
    t.match(errors, [{ message: 'no token' }])
    fail = false
    clock.tick(10)
    t.equal(FakeWebSocket.instances.length, 2)
  })
  t.end()
})

t.test('after a server restart (1012, 1001) the first reconnect comes at a random moment in restartWindowMs; a drop retries fast', (t) => {
  withClock((clock) => {
    const { socket } = makeSocket({ restartWindowMs: 4000, reconnectAfterMs: () => 10 })
    socket.connect()
    clock.fixRandom(0.75)
    for (const code of [1012, 1001]) {
      FakeWebSocket.last.open()
      FakeWebSocket.last.serverClose(code)
      t.same(clock.pending(), [3000], `${code}: 0.75 of the window`)
      clock.tick(3000)
    }
    FakeWebSocket.last.open()
    FakeWebSocket.last.serverClose(1006)
    t.same(clock.pending(), [10], 'a network drop: the usual fast retry')
  })
  t.end()
})
