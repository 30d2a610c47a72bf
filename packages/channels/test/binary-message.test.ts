// Bytes as payloads (src/binary-payload.ts) and their frames per wire (src/message.ts): a binary
// broadcast is framed once per form and shared; JSON wires get `{"hb_binary": "<base64>"}`; a
// kept JSON frame turns into the binary frame a phoenix v2 replay needs (binaryFrameFromJsonFrame).
import t from 'tap'
import {
  BinaryPayload, OutboundMessage, WIRES, binaryBroadcastFrame, binaryFrameFromJsonFrame, binaryPayloadOf, bytesOfJsonFrame, decodeServerMessage, framePayload, frameForSocket, isBinaryJson,
  replyFrame, textFrame,
} from './fixtures/internals.js'

const bytes = Buffer.from([0, 1, 2, 250, 251, 252])
const base64 = bytes.toString('base64')
const json = (frame: Buffer) => JSON.parse(framePayload(frame).toString())

t.test('what counts as bytes', async (t) => {
  const backing = new Uint8Array([9, 9, 0, 1, 2, 250, 251, 252, 9])
  for (const [name, value] of [
    ['a Buffer', bytes],
    ['a Uint8Array view at an offset', backing.subarray(2, 8)],
    ['an ArrayBuffer', bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)],
    ['the JSON form', { hb_binary: base64 }],
    ['a BinaryPayload', BinaryPayload.fromBytes(bytes)],
  ] as Array<[string, unknown]>) {
    t.same(binaryPayloadOf(value)?.bytes, bytes, name)
    t.same(JSON.parse(JSON.stringify(binaryPayloadOf(value))), { hb_binary: base64 }, `${name}: JSON form`)
  }
  for (const value of [null, 'hb_binary', 42, {}, { hb_binary: 1 }, { hb_binary: base64, other: 1 }, [bytes], { data: bytes }]) {
    t.equal(binaryPayloadOf(value), undefined, `not bytes: ${JSON.stringify(value)}`)
  }
  t.ok(isBinaryJson({ hb_binary: '' }), 'empty bytes have a JSON form too')
  const copied = binaryPayloadOf(bytes, true)!
  t.not(copied.bytes, bytes, 'a copy when asked')
  t.same(copied.bytes, bytes)
})

t.test('a binary broadcast: one binary frame for phoenix v2, JSON for the others, each built once', async (t) => {
  const message = new OutboundMessage('room:lobby', 'frame', bytes)
  message.ref = 'abcd:7'
  const v2 = message.frameFor(WIRES.phoenixV2)
  t.equal(message.frameFor(WIRES.phoenixV2), v2, 'the same Buffer for every v2 subscriber')
  t.equal(v2[0], 0x82, 'a binary WebSocket frame')
  t.same(decodeServerMessage(framePayload(v2)), { kind: 'broadcast', joinRef: null, ref: null, topic: 'room:lobby', event: 'frame', payload: bytes })
  const hornbeam = message.frameFor(WIRES.hornbeam)
  t.equal(hornbeam[0], 0x81, 'a text frame')
  t.same(json(hornbeam), [null, 'abcd:7', 'room:lobby', 'frame', { hb_binary: base64 }], 'the JSON form, with the position')
  t.same(json(message.frameFor(WIRES.phoenixV1)), { join_ref: null, ref: 'abcd:7', topic: 'room:lobby', event: 'frame', payload: { hb_binary: base64 } })
  // A message from another node (or a shared history) carries the JSON form: v2 still gets bytes.
  const remote = new OutboundMessage('room:lobby', 'frame', { hb_binary: base64 })
  t.same(remote.frameFor(WIRES.phoenixV2), v2, 'the JSON form is framed as bytes for v2')
})

t.test('a topic too long for a binary frame: v2 gets the JSON form', async (t) => {
  const topic = `room:${'x'.repeat(300)}`
  const message = new OutboundMessage(topic, 'frame', bytes)
  t.same(json(message.frameFor(WIRES.phoenixV2)), [null, null, topic, 'frame', { hb_binary: base64 }])
})

t.test('pushes and replies to one socket', async (t) => {
  const push = frameForSocket(WIRES.phoenixV2, 'array', '3', null, 'room:1', 'direct', bytes)
  t.same(decodeServerMessage(framePayload(push)), { kind: 'push', joinRef: '3', ref: null, topic: 'room:1', event: 'direct', payload: bytes }, 'v2: a binary push')
  t.same(json(frameForSocket(WIRES.hornbeam, 'array', '3', null, 'room:1', 'direct', bytes)), ['3', null, 'room:1', 'direct', { hb_binary: base64 }])
  t.same(json(frameForSocket(WIRES.phoenixV2, 'array', '3', null, 'room:1', 'direct', { a: 1 })), ['3', null, 'room:1', 'direct', { a: 1 }], 'JSON as before')
  const reply = replyFrame(WIRES.phoenixV2, 'array', '3', '9', 'room:1', 'ok', bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length))
  t.same(decodeServerMessage(framePayload(reply)), { kind: 'reply', joinRef: '3', ref: '9', topic: 'room:1', event: 'ok', payload: bytes }, 'v2: a binary reply')
  t.same(json(replyFrame(WIRES.phoenixV1, 'object', '3', '9', 'room:1', 'ok', bytes)), { join_ref: '3', ref: '9', topic: 'room:1', event: 'phx_reply', payload: { status: 'ok', response: { hb_binary: base64 } } })
  t.same(json(replyFrame(WIRES.hornbeam, 'object', '3', '9', 'room:1', 'ok', bytes)).payload, { status: 'ok', response: { hb_binary: base64 } }, 'the hornbeam object form')
})

t.test('binaryFrameFromJsonFrame: a kept JSON frame to the binary frame of a v2 replay', async (t) => {
  const message = new OutboundMessage('room:lobby', 'frame', bytes)
  message.ref = 'abcd:7'
  const kept = message.frameFor(WIRES.hornbeam)
  t.same(binaryFrameFromJsonFrame(kept), message.frameFor(WIRES.phoenixV2), 'the same bytes as the live binary frame')
  t.same(bytesOfJsonFrame(kept), { topic: 'room:lobby', event: 'frame', bytes }, 'the parts of it')
  t.same(binaryBroadcastFrame('room:lobby', 'frame', bytes), message.frameFor(WIRES.phoenixV2), 'built from the parts')
  t.equal(binaryBroadcastFrame('x'.repeat(256), 'frame', bytes), undefined, 'a topic too long for a binary frame')
  const large = new OutboundMessage('room:lobby', 'frame', Buffer.alloc(100_000, 3))
  t.same(binaryFrameFromJsonFrame(large.frameFor(WIRES.hornbeam)), large.frameFor(WIRES.phoenixV2), 'a large one (64-bit length header)')
  t.equal(binaryFrameFromJsonFrame(new OutboundMessage('room:lobby', 'msg', { body: 'hi' }).frameFor(WIRES.hornbeam)), undefined, 'not bytes: undefined')
  t.equal(binaryFrameFromJsonFrame(textFrame('[null,null,"t","e",{"hb_binary":"AA==","x":1}]')), undefined, 'another key beside hb_binary: not bytes')
  t.equal(binaryFrameFromJsonFrame(textFrame('not json {"hb_binary":"AA=="}]')), undefined, 'not JSON: undefined')
})
