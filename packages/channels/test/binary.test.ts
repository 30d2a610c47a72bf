// Binary payloads over real sockets, one client per wire in the same topic: phoenix v2 sends and
// receives binary frames (push, reply, broadcast, server push); the hornbeam dialect and phoenix
// vsn 1 receive the JSON form `{"hb_binary": "<base64>"}` in ordinary text frames, and a binary
// frame from them is ignored and counted, the socket living on.
import t from 'tap'
import { RawClient, broadcastMarker, startServer } from '../../../test/helpers/wire.js'

const bytes = Buffer.from([0, 1, 2, 127, 128, 254, 255])
const base64 = bytes.toString('base64')

async function setup(t: Tap.Test) {
  const srv = await startServer()
  t.teardown(srv.close)
  const received: unknown[] = []
  const room = srv.hub.channel('room:*')
  // The handler gets the bytes as a Buffer and answers with them (a Uint8Array view, to show any view goes).
  room.on('echo', (payload, socket) => {
    received.push(payload)
    return ['reply', Buffer.isBuffer(payload) ? new Uint8Array(payload.buffer, payload.byteOffset, payload.length) : payload, socket]
  })
  room.on('share', (payload, socket) => {
    received.push(payload)
    socket.broadcastFrom('frame', payload)
    return ['reply', { size: payload.length }, socket]
  })
  room.on('direct', (_payload, socket) => {
    socket.push('direct', bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length))
    return ['noreply', socket]
  })
  const v2 = await RawClient.connect(srv.url() + '?vsn=2.0.0', 'phoenix')
  const v1 = await RawClient.connect(srv.url() + '?vsn=1.0.0', 'phoenix', true)
  const hb = await RawClient.connect(srv.url())
  t.teardown(() => Promise.all([v2.close(), v1.close(), hb.close()]))
  const joins = { v2: (await v2.join('room:lobby')).joinRef, v1: (await v1.join('room:lobby')).joinRef, hb: (await hb.join('room:lobby')).joinRef }
  return { srv, received, v2, v1, hb, joins }
}

t.test('phoenix v2: a binary push reaches the handler as a Buffer; bytes in the reply come back binary', async (t) => {
  const { received, v2, joins } = await setup(t)
  const reply = await v2.requestBinary(joins.v2, 'room:lobby', 'echo', bytes)
  const frame = v2.frames.find((f) => f[4] === reply)!
  t.ok(v2.binary.has(frame), 'the reply came as a binary message (kind 1)')
  t.same(reply, { status: 'ok', response: bytes })
  t.ok(Buffer.isBuffer(received[0]), 'the handler got a Buffer')
  t.same(received[0], bytes)
})

t.test('a binary broadcast: bytes to v2, the JSON form to the hornbeam and vsn 1 sockets', async (t) => {
  const { srv, received, v2, v1, hb, joins } = await setup(t)
  t.same(await v2.requestBinary(joins.v2, 'room:lobby', 'share', bytes), { status: 'ok', response: { size: bytes.length } }, 'a JSON reply to a binary push')
  t.same(received[0], bytes)
  // The sender is left out (broadcastFrom); a second v2 socket gets the binary broadcast.
  const other = await RawClient.connect(srv.url() + '?vsn=2.0.0', 'phoenix')
  t.teardown(() => other.close())
  await other.join('room:lobby')
  srv.hub.broadcast('room:lobby', 'frame', bytes)
  const got = await other.waitFor((f) => f[3] === 'frame')
  t.ok(other.binary.has(got), 'binary (kind 2)')
  t.same(got, [null, null, 'room:lobby', 'frame', bytes], 'no join_ref, no ref: the binary broadcast has no position slot')
  const json = await hb.waitFor((f) => f[3] === 'frame')
  t.same(json[4], { hb_binary: base64 }, 'hornbeam dialect: the JSON form')
  t.match(json[1], /^[a-z][a-z0-9]+:\d+$/, 'with its position, as every broadcast')
  t.same((await v1.waitFor((f) => f[3] === 'frame'))[4], { hb_binary: base64 }, 'phoenix vsn 1: the JSON form')
  // Two frames each: the broadcastFrom and the hub's broadcast; the sender only got the hub's.
  await broadcastMarker(srv.hub, 'room:lobby', [v2, v1, hb])
  t.equal(hb.events('room:lobby', 'frame').length, 2)
  t.equal(v1.events('room:lobby', 'frame').length, 2)
  t.equal(v2.events('room:lobby', 'frame').length, 1, 'broadcastFrom left the sender out')
  t.ok(v2.binary.has(v2.events('room:lobby', 'frame')[0]!))
})

t.test('socket.push of bytes: a binary push (kind 0) to v2, the JSON form elsewhere', async (t) => {
  const { v2, v1, hb, joins } = await setup(t)
  v2.send(joins.v2, v2.nextRef(), 'room:lobby', 'direct', {})
  const frame = await v2.waitFor((f) => f[3] === 'direct')
  t.ok(v2.binary.has(frame))
  t.same(frame, [joins.v2, null, 'room:lobby', 'direct', bytes], 'with the join_ref, as phoenix.js reads kind 0')
  hb.send(joins.hb, hb.nextRef(), 'room:lobby', 'direct', {})
  t.same((await hb.waitFor((f) => f[3] === 'direct'))[4], { hb_binary: base64 })
  v1.send(joins.v1, v1.nextRef(), 'room:lobby', 'direct', {})
  t.same((await v1.waitFor((f) => f[3] === 'direct'))[4], { hb_binary: base64 })
})

t.test('JSON clients send bytes in the reserved form: the handler gets a Buffer, the reply is the JSON form', async (t) => {
  const { received, hb, v1, joins } = await setup(t)
  t.same(await hb.request(joins.hb, 'room:lobby', 'echo', { hb_binary: base64 }), { status: 'ok', response: { hb_binary: base64 } })
  t.same(received[0], bytes)
  t.same(await v1.request(joins.v1, 'room:lobby', 'echo', { hb_binary: base64 }), { status: 'ok', response: { hb_binary: base64 } })
  t.same(received[1], bytes)
})

t.test('a binary frame on a hornbeam or vsn 1 socket is ignored and counted; the socket lives on', async (t) => {
  const { srv, received, v1, hb, joins } = await setup(t)
  const before = srv.hub.stats()
  hb.sendRaw(Buffer.from([0, 1, 1, 10, 4]), true)
  v1.sendRaw(Buffer.from('["1","2","room:lobby","echo",{}]'), true) // even valid JSON, when sent as binary
  await hb.probe() // answered after the binary frame was handled
  t.same(await v1.request(joins.v1, 'room:lobby', 'echo', { after: true }), { status: 'ok', response: { after: true } }, 'vsn 1 socket still works')
  t.same(await hb.request(joins.hb, 'room:lobby', 'echo', { after: true }), { status: 'ok', response: { after: true } }, 'hornbeam socket still works')
  const after = srv.hub.stats()
  t.equal(after.binaryIgnored, before.binaryIgnored + 2, 'counted in stats().binaryIgnored')
  t.equal(after.malformed, before.malformed, 'not counted as malformed')
  t.notOk(hb.closeEvent || v1.closeEvent, 'nobody was disconnected')
  t.same(received, [{ after: true }, { after: true }], 'no handler saw the binary frames')
})

t.test('the in-memory history replays bytes as binary frames to phoenix v2, in the JSON form with positions to JSON wires', async (t) => {
  const { srv, v2 } = await setup(t)
  const start = (await v2.waitFor((f) => f[3] === 'hb_history'))[4].position as string
  await srv.hub.broadcast('room:lobby', 'frame', bytes)
  const after = await srv.hub.broadcast('room:lobby', 'text', { n: 1 })
  const resumers = {
    v2: await RawClient.connect(srv.url() + '?vsn=2.0.0', 'phoenix'),
    v1: await RawClient.connect(srv.url() + '?vsn=1.0.0', 'phoenix', true),
    hb: await RawClient.connect(srv.url()),
  }
  t.teardown(() => Promise.all(Object.values(resumers).map((c) => c.close())))
  for (const [name, c] of Object.entries(resumers)) {
    await c.join('room:lobby', { hb_position: start })
    const notice = (await c.waitFor((f) => f[3] === 'hb_history'))[4]
    t.match(notice, { resumed: true, recovered: true, replayed: 2 }, `${name}: both replayed`)
    const [frame, text] = [c.events('room:lobby', 'frame')[0]!, c.events('room:lobby', 'text')[0]!]
    t.same(text[4], { n: 1 }, `${name}: the text message after it`)
    t.equal(text[1], after.ok ? after.position : undefined, `${name}: the text message with its position`)
    if (name === 'v2') {
      t.ok(c.binary.has(frame), 'v2: the bytes as a binary frame (kind 2)')
      t.same(frame, [null, null, 'room:lobby', 'frame', bytes], 'v2: the bytes, no position slot')
    } else {
      t.notOk(c.binary.has(frame), `${name}: a text frame`)
      t.same(frame[4], { hb_binary: base64 }, `${name}: the JSON form`)
      t.match(frame[1], /^[a-z][a-z0-9]+:\d+$/, `${name}: with its position`)
    }
  }
})
