// The phoenix v2 binary frame codec (src/binary-frame.ts), checked against phoenix.js's own
// serializer both ways, with properties: what is encoded decodes to itself, and no sequence of
// bytes makes the decoder throw (it answers with a reason instead).
import assert from 'node:assert/strict'
import t from 'tap'
import fc from 'fast-check'
// @ts-expect-error the phoenix package ships no types
import { Serializer } from 'phoenix'
import {
  BINARY_KIND, MAX_FIELD_BYTES, broadcastHeader, binaryFrame, clientPushHeader, decodeClientPush, decodeServerMessage, encodeClientPush,
  framePayload, replyHeader, serverPushHeader,
} from './fixtures/internals.js'

/** What phoenix.js sends for a push whose payload is an ArrayBuffer. */
function phoenixEncode(joinRef: string, ref: string, topic: string, event: string, payload: Uint8Array): Buffer {
  const copy = payload.slice().buffer
  let out!: ArrayBuffer
  Serializer.encode({ join_ref: joinRef, ref, topic, event, payload: copy }, (encoded: ArrayBuffer) => (out = encoded))
  return Buffer.from(out)
}

/** What phoenix.js makes of a binary message from the server. */
function phoenixDecode(data: Buffer): any {
  let out: any
  const exact = data.buffer.slice(data.byteOffset, data.byteOffset + data.length)
  Serializer.decode(exact, (decoded: any) => (out = decoded))
  return out
}

t.test('a push from phoenix.js decodes to its fields and payload', async (t) => {
  const bytes = phoenixEncode('3', '7', 'room:lobby', 'upload', new Uint8Array([0, 1, 2, 255]))
  t.equal(bytes[0], BINARY_KIND.push)
  const decoded = decodeClientPush(bytes)
  t.ok(decoded.ok)
  if (!decoded.ok) return
  t.same({ ...decoded.push, payload: [...decoded.push.payload] }, { joinRef: '3', ref: '7', topic: 'room:lobby', event: 'upload', payload: [0, 1, 2, 255] })
  t.same(encodeClientPush(decoded.push), bytes, 'and encodes back to the same bytes')
})

t.test('a reply, a broadcast and a server push read by phoenix.js', async (t) => {
  const payload = Buffer.from([9, 8, 7])
  const reply = phoenixDecode(Buffer.concat([replyHeader('3', '7', 'room:lobby', 'ok')!, payload]))
  t.same({ ...reply, payload: { ...reply.payload, response: [...new Uint8Array(reply.payload.response)] } }, {
    join_ref: '3', ref: '7', topic: 'room:lobby', event: 'phx_reply', payload: { status: 'ok', response: [9, 8, 7] },
  })
  const broadcast = phoenixDecode(Buffer.concat([broadcastHeader('room:lobby', 'frame')!, payload]))
  t.same({ ...broadcast, payload: [...new Uint8Array(broadcast.payload)] }, { join_ref: null, ref: null, topic: 'room:lobby', event: 'frame', payload: [9, 8, 7] })
  const push = phoenixDecode(Buffer.concat([serverPushHeader('3', 'room:lobby', 'direct')!, payload]))
  t.same({ ...push, payload: [...new Uint8Array(push.payload)] }, { join_ref: '3', ref: null, topic: 'room:lobby', event: 'direct', payload: [9, 8, 7] })
  // Our own reader of server messages (used by tests and the bench) agrees.
  t.same(decodeServerMessage(Buffer.concat([replyHeader('3', '7', 't', 'error')!, payload]))?.event, 'error')
})

t.test('fields over 255 bytes have no header (the caller falls back to JSON)', async (t) => {
  const long = 'é'.repeat(128) // 256 bytes
  t.equal(broadcastHeader(long, 'e'), undefined)
  t.equal(replyHeader('1', '2', 'room:1', long), undefined)
  t.equal(serverPushHeader(null, 'room:1', long), undefined)
  t.equal(clientPushHeader('1', '2', 'x'.repeat(MAX_FIELD_BYTES), 'e')?.length, 5 + 1 + 1 + 255 + 1, 'exactly 255 fits')
  t.throws(() => encodeClientPush({ joinRef: '1', ref: '2', topic: long, event: 'e', payload: Buffer.alloc(0) }), RangeError)
})

t.test('malformed client frames: a reason, and the addressing fields that could be read', async (t) => {
  const push = encodeClientPush({ joinRef: '1', ref: '2', topic: 'room:lobby', event: 'echo', payload: Buffer.from('abc') })
  const cases: Array<[string, Buffer, object]> = [
    ['empty', Buffer.alloc(0), { reason: 'empty binary frame' }],
    ['a reply', Buffer.from([1, 0, 0, 0, 0]), { reason: 'binary frame kind 1 (reply) is sent by servers only' }],
    ['a broadcast', Buffer.from([2, 0, 0]), { reason: 'binary frame kind 2 (broadcast) is sent by servers only' }],
    ['an unknown kind', Buffer.from([7, 1, 2, 3]), { reason: 'unknown binary frame kind 7' }],
    ['a truncated header', Buffer.from([0, 1, 1]), { reason: 'binary push header truncated: 3 of 5 bytes' }],
    // Cut inside the event: join_ref, ref and topic were read, so an error reply can be addressed.
    ['sizes past the end', push.subarray(0, 5 + 1 + 1 + 10 + 2), { reason: 'binary push fields run past the end of the frame (21 bytes of header, 19 in the frame)', joinRef: '1', ref: '2', topic: 'room:lobby' }],
    ['cut inside the topic', push.subarray(0, 10), { reason: 'binary push fields run past the end of the frame (21 bytes of header, 10 in the frame)', joinRef: '1', ref: '2' }],
    ['an empty topic', encodeClientPush({ joinRef: '1', ref: '2', topic: '', event: 'e', payload: Buffer.alloc(0) }), { reason: 'topic must be a non-empty string', joinRef: '1', ref: '2' }],
    ['an empty event', encodeClientPush({ joinRef: '1', ref: '2', topic: 't', event: '', payload: Buffer.alloc(0) }), { reason: 'event must be a non-empty string', joinRef: '1', ref: '2', topic: 't' }],
    ['a topic that is not UTF-8', Buffer.from([0, 1, 1, 2, 1, 0x31, 0x32, 0xc3, 0x28, 0x65]), { reason: 'binary push topic is not valid UTF-8', joinRef: '1', ref: '2' }],
  ]
  for (const [name, bytes, expected] of cases) t.same(decodeClientPush(bytes), { ok: false, ...expected }, name)
  const noRefs = decodeClientPush(encodeClientPush({ joinRef: null, ref: null, topic: 't', event: 'e', payload: Buffer.alloc(0) }))
  t.same(noRefs.ok && [noRefs.push.joinRef, noRefs.push.ref], [null, null], 'empty refs are null, as in the text form')
})

t.test('WebSocket framing of a binary frame at each length boundary', async (t) => {
  for (const size of [0, 120, 121, 125, 65530, 65531, 70_000]) {
    const head = Buffer.from([2, 1, 1, 0x74, 0x65])
    const body = Buffer.alloc(size, 7)
    const frame = binaryFrame(head, body)
    t.equal(frame[0], 0x82, 'FIN + binary opcode')
    t.same(framePayload(frame), Buffer.concat([head, body]), `${size + 5} bytes`)
  }
})

const field = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => (s as any).isWellFormed() && Buffer.byteLength(s) <= MAX_FIELD_BYTES)
const bytes = fc.uint8Array({ maxLength: 300 })

t.test('property: a push round-trips through encode and decode, and phoenix.js agrees', async (t) => {
  fc.assert(
    fc.property(field, field, field.filter((s) => s.length > 0), field.filter((s) => s.length > 0), bytes, (joinRef, ref, topic, event, payload) => {
      const push = { joinRef: joinRef || null, ref: ref || null, topic, event, payload: Buffer.from(payload) }
      const ours = encodeClientPush(push)
      const decoded = decodeClientPush(ours)
      if (!decoded.ok) throw new Error(decoded.reason)
      assert.deepStrictEqual(decoded.push, push)
      assert.deepStrictEqual(phoenixEncode(joinRef, ref, topic, event, payload), ours)
    }),
    { numRuns: 300 },
  )
  t.pass('300 pushes round-tripped')
})

t.test('property: any bytes decode to a push or to a reason, never a throw', async (t) => {
  // Arbitrary bytes, and valid pushes mutated: truncated, a byte changed.
  const valid = fc.tuple(field, field, field, field, bytes).map(([a, b, c, d, p]) => encodeClientPush({ joinRef: a, ref: b, topic: c, event: d, payload: Buffer.from(p) }))
  const mutated = fc.tuple(valid, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()).map(([v, i, byte, cut]) => {
    if (v.length === 0) return v
    if (cut) return v.subarray(0, i % v.length)
    const copy = Buffer.from(v)
    copy[i % copy.length] = byte
    return copy
  })
  let reasons = 0
  fc.assert(
    fc.property(fc.oneof(bytes.map((b) => Buffer.from(b)), mutated), (data) => {
      const decoded = decodeClientPush(data)
      if (decoded.ok) return decoded.push.topic.length > 0 && decoded.push.event.length > 0
      reasons++
      return typeof decoded.reason === 'string' && decoded.reason.length > 0
    }),
    { numRuns: 2000 },
  )
  t.ok(reasons > 0, `malformed input was answered with reasons (${reasons})`)
})
