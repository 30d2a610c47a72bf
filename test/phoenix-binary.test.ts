// Binary payloads with the official `phoenix` npm client, unchanged (vsn 2.0.0, its v2 binary
// serializer): it pushes an ArrayBuffer and gets a binary reply and binary broadcasts, bytes
// compared. In the same topic, JSON-only clients are unaffected: @hornbeam/client on the
// hornbeam dialect (what the seed's pages load as hornbeam.js) gets the bytes back as a
// Uint8Array from their JSON form, a raw hornbeam socket sees only JSON text frames, and
// phoenix.js speaking vsn 1.0.0 (JSON objects) gets {"hb_binary": "<base64>"}.
import t from 'tap'
import WebSocket from 'ws'
// @ts-expect-error the phoenix package ships no types
import { Socket as PhoenixSocket } from 'phoenix'
import { Socket as HornbeamSocket } from '@hornbeam/client'
import { RawClient, broadcastMarker, startServer } from './helpers/wire.js'

const bytes = new Uint8Array([0, 1, 2, 3, 127, 128, 200, 255])
const base64 = Buffer.from(bytes).toString('base64')

function phoenix(url: string, options: Record<string, unknown> = {}) {
  const socket = new PhoenixSocket(url, { transport: WebSocket, heartbeatIntervalMs: 200, reconnectAfterMs: () => 100, ...options })
  socket.connect()
  return socket
}

/** phoenix.js as a vsn 1.0.0 client: JSON objects both ways, as Phoenix's V1 serializer. */
function phoenixV1(url: string) {
  const errors: unknown[] = []
  const socket = phoenix(url, {
    vsn: '1.0.0',
    encode: (msg: unknown, callback: (s: string) => void) => callback(JSON.stringify(msg)),
    decode: (raw: unknown, callback: (m: unknown) => void) => {
      if (typeof raw !== 'string') errors.push(new Error('a binary frame reached a vsn 1 client'))
      else callback(JSON.parse(raw))
    },
  })
  return { socket, errors }
}

function receive(push: any): Promise<[string, any]> {
  return new Promise((resolve) => {
    push.receive('ok', (r: any) => resolve(['ok', r]))
    push.receive('error', (r: any) => resolve(['error', r]))
    push.receive('timeout', () => resolve(['timeout', null]))
  })
}

/** Resolves with the next payload of `event` on `channel`. */
function next(channel: any, event: string): Promise<any> {
  return new Promise((resolve) => {
    const ref = channel.on(event, (payload: any) => {
      channel.off(event, ref)
      resolve(payload)
    })
  })
}

const asArray = (data: ArrayBuffer | Uint8Array) => [...new Uint8Array(data)]

t.test('phoenix.js pushes an ArrayBuffer, gets a binary reply and binary broadcasts; JSON clients unaffected', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  const seen: unknown[] = []
  const room = srv.hub.channel('room:*')
  room.on('echo', (payload, socket) => (seen.push(payload), ['reply', payload, socket]))
  room.on('share', (payload, socket) => {
    seen.push(payload)
    socket.broadcastFrom('frame', payload)
    return ['reply', { bytes: payload.length }, socket]
  })
  room.on('say', (payload, socket) => (socket.broadcast('said', payload), ['reply', {}, socket]))
  const url = `ws://127.0.0.1:${srv.port}/ws`

  const alice = phoenix(url)
  const bob = phoenix(url)
  const v1 = phoenixV1(url)
  const carol = new HornbeamSocket(url, { transport: WebSocket })
  carol.connect()
  const raw = await RawClient.connect(srv.url())
  t.teardown(() => {
    for (const s of [alice, bob, v1.socket, carol]) s.disconnect()
    return raw.close()
  })
  const aliceCh = alice.channel('room:lobby')
  const bobCh = bob.channel('room:lobby')
  const v1Ch = v1.socket.channel('room:lobby')
  const carolCh = carol.channel('room:lobby')
  for (const ch of [aliceCh, bobCh, v1Ch]) t.equal((await receive(ch.join()))[0], 'ok')
  await new Promise((resolve) => carolCh.join().receive('ok', resolve))
  await raw.join('room:lobby')

  // A push of an ArrayBuffer, answered with bytes: phoenix.js gets an ArrayBuffer.
  const [status, response] = await receive(aliceCh.push('echo', bytes.slice().buffer))
  t.equal(status, 'ok')
  t.ok(response instanceof ArrayBuffer, 'the reply is binary: phoenix.js hands an ArrayBuffer')
  t.same(asArray(response), asArray(bytes), 'the same bytes back')
  t.same(seen[0], Buffer.from(bytes), 'the handler got a Buffer')

  // broadcastFrom of the pushed bytes: everyone but alice, each in its wire's form.
  const atBob = next(bobCh, 'frame')
  const atV1 = next(v1Ch, 'frame')
  const atCarol = next(carolCh, 'frame')
  t.same(await receive(aliceCh.push('share', bytes.slice().buffer)), ['ok', { bytes: bytes.length }])
  const bobGot = await atBob
  t.ok(bobGot instanceof ArrayBuffer, 'phoenix.js v2: a binary broadcast')
  t.same(asArray(bobGot), asArray(bytes))
  t.same(await atV1, { hb_binary: base64 }, 'phoenix.js vsn 1: the JSON form')
  const carolGot = await atCarol
  t.ok(carolGot instanceof Uint8Array, '@hornbeam/client, hornbeam dialect: a Uint8Array')
  t.same(asArray(carolGot), asArray(bytes))
  t.same((await raw.waitFor((f) => f[3] === 'frame'))[4], { hb_binary: base64 }, 'on the hornbeam wire: JSON text')

  // The hub's own broadcast of bytes reaches alice too, binary.
  const atAlice = next(aliceCh, 'frame')
  await srv.hub.broadcast('room:lobby', 'frame', Buffer.from(bytes))
  t.same(asArray(await atAlice), asArray(bytes), 'hub.broadcast of a Buffer: binary to phoenix v2')

  // JSON as before, for everyone, after the bytes.
  const said = [next(aliceCh, 'said'), next(bobCh, 'said'), next(v1Ch, 'said'), next(carolCh, 'said')]
  t.same(await receive(v1Ch.push('say', { text: 'still json' })), ['ok', {}])
  t.same(await Promise.all(said), Array(4).fill({ text: 'still json' }), 'every client still gets JSON broadcasts')
  await broadcastMarker(srv.hub, 'room:lobby', [raw])
  t.equal(raw.binary.size, 0, 'the hornbeam socket never received a binary frame')
  t.same(v1.errors, [], 'the vsn 1 client never received a binary frame')
  t.equal(srv.hub.stats().malformed, 0, 'nothing malformed on the way')
})
