// Binary payloads in @hornbeam/client. With `dialect: 'phoenix'` (the phoenix v2 wire) bytes go
// out as binary pushes and come back as binary replies and broadcasts; on the hornbeam dialect
// they travel as JSON text in their reserved form {"hb_binary": "<base64>"}; the app gives
// Uint8Array or ArrayBuffer and always receives a Uint8Array. Binary broadcasts carry no
// position, so a resume drops, by count, the ones the channel already delivered.
import t from 'tap'
import WebSocket from 'ws'
import { Presence, Socket, type Message, type SocketOptions } from '@hornbeam/client'
import { startChat, waitFor, type ChatServer } from './fixtures/server.js'
import { FakeWebSocket } from './fixtures/fake-transport.js'
import { withClock } from './fixtures/fake-clock.js'

const bytes = new Uint8Array([0, 1, 2, 127, 128, 255])

/** A `ws` WebSocket that records what the client sends: text or binary. */
function recordingTransport(sent: Array<string | Uint8Array>) {
  return class extends WebSocket {
    override send(data: any, ...rest: any[]): void {
      sent.push(typeof data === 'string' ? data : new Uint8Array(data))
      ;(super.send as any)(data, ...rest)
    }
  }
}

async function server(t: Tap.Test): Promise<{ srv: ChatServer; received: unknown[] }> {
  const srv = await startChat(0, { connect: (params) => ({ user: params.user }), id: (socket) => String(socket.assigns.user) })
  t.teardown(() => srv.close())
  const received: unknown[] = []
  const bin = srv.hub.channel('bin:*')
  bin.on('echo', (payload, socket) => (received.push(payload), ['reply', payload, socket]))
  bin.on('share', (payload, socket) => {
    received.push(payload)
    socket.broadcast('frame', payload)
    return ['reply', { size: payload.length }, socket]
  })
  return { srv, received }
}

function client(t: Tap.Test, srv: ChatServer, user: string, options: SocketOptions = {}) {
  const socket = new Socket(srv.url, { transport: WebSocket, params: { user }, reconnectAfterMs: () => 20, restartWindowMs: 0, ...options })
  const messages: Message[] = []
  socket.onMessage((m) => messages.push(m))
  socket.connect()
  t.teardown(() => socket.disconnect())
  return { socket, messages }
}

function push(channel: any, event: string, payload: unknown): Promise<[string, any]> {
  return new Promise((resolve) => {
    channel.push(event, payload).receive('ok', (r: any) => resolve(['ok', r])).receive('error', (r: any) => resolve(['error', r])).receive('timeout', () => resolve(['timeout', null]))
  })
}

t.test("dialect 'phoenix': bytes out as a binary push, back as a binary reply and broadcast", async (t) => {
  const { srv, received } = await server(t)
  const sent: Array<string | Uint8Array> = []
  const { socket, messages } = client(t, srv, 'alice', { dialect: 'phoenix', transport: recordingTransport(sent) })
  t.match(socket.endPointURL(), /[?&]vsn=2\.0\.0/, 'the phoenix v2 wire')
  const channel = socket.channel('bin:1')
  const frames: unknown[] = []
  channel.on('frame', (payload) => frames.push(payload))
  t.equal((await new Promise((resolve) => channel.join().receive('ok', () => resolve('ok')))), 'ok')

  const [status, reply] = await push(channel, 'echo', bytes)
  t.equal(status, 'ok')
  t.ok(reply instanceof Uint8Array, 'the reply is a Uint8Array')
  t.same([...reply], [...bytes])
  t.same(received[0], Buffer.from(bytes), 'the handler got the bytes as a Buffer')
  t.ok(sent.some((d) => d instanceof Uint8Array && d[0] === 0), 'sent as a binary push (kind 0)')
  t.equal(messages.find((m) => m.ref !== null && m.payload?.response === reply)?.binary, 'reply', 'received as a binary reply (kind 1)')

  // An ArrayBuffer goes too; the broadcast comes back binary.
  t.same(await push(channel, 'share', bytes.slice().buffer), ['ok', { size: bytes.length }], 'a JSON reply to a binary push')
  await waitFor(() => frames.length === 1, 'the broadcast')
  t.ok(frames[0] instanceof Uint8Array)
  t.same([...(frames[0] as Uint8Array)], [...bytes])
  t.equal(messages.find((m) => m.event === 'frame')?.binary, 'broadcast', 'a binary broadcast (kind 2)')
  t.same(await push(channel, 'echo', { json: true }), ['ok', { json: true }], 'JSON payloads as before')
})

t.test("dialect 'phoenix': the chat with presence (phx_ref metas)", async (t) => {
  const { srv } = await server(t)
  const { socket } = client(t, srv, 'alice', { dialect: 'phoenix', params: { user: 'alice', token: 'demo' } })
  const channel = socket.channel('room:lobby', { username: 'alice' })
  const presence = new Presence(channel)
  const joined: string[] = []
  presence.onJoin((key, current) => !current && joined.push(key))
  channel.join()
  await waitFor(() => joined.length === 1, 'alice in presence')
  t.match(presence.list()[0]?.metas[0], { username: 'alice', phx_ref: String })
  t.same(await push(channel, 'new_msg', { body: 'hi' }), ['ok', { status: 'ok' }])
})

t.test('the hornbeam dialect: bytes travel in their JSON form, the app sees Uint8Array both ways', async (t) => {
  const { srv, received } = await server(t)
  const sent: Array<string | Uint8Array> = []
  const { socket, messages } = client(t, srv, 'bob', { transport: recordingTransport(sent) })
  const channel = socket.channel('bin:1')
  const frames: unknown[] = []
  channel.on('frame', (payload) => frames.push(payload))
  await new Promise((resolve) => channel.join().receive('ok', resolve))
  const [, reply] = await push(channel, 'echo', bytes)
  t.ok(reply instanceof Uint8Array)
  t.same([...reply], [...bytes])
  t.same(received[0], Buffer.from(bytes), 'the handler got a Buffer')
  t.ok(sent.every((d) => typeof d === 'string'), 'only text frames were sent')
  t.ok(sent.some((d) => typeof d === 'string' && d.includes(`{"hb_binary":"${Buffer.from(bytes).toString('base64')}"}`)), 'bytes in the JSON form')
  await push(channel, 'share', bytes)
  await waitFor(() => frames.length === 1, 'the broadcast')
  t.same([...(frames[0] as Uint8Array)], [...bytes])
  t.notOk(messages.some((m) => m.binary), 'nothing came as a binary frame')
})

t.test("dialect 'phoenix' against a real server: a resume delivers each binary broadcast once", async (t) => {
  const { srv } = await server(t)
  const { socket } = client(t, srv, 'carol', { dialect: 'phoenix' })
  const channel = socket.channel('bin:resume')
  const got: string[] = []
  const recovered: unknown[] = []
  channel.on('m', (payload: any) => got.push(payload instanceof Uint8Array ? `b${payload[0]}` : `t${payload.n}`))
  channel.onRecover((info) => recovered.push(info))
  await new Promise((resolve) => channel.join().receive('ok', resolve))
  srv.hub.broadcast('bin:resume', 'm', { n: 1 })
  srv.hub.broadcast('bin:resume', 'm', new Uint8Array([1]))
  srv.hub.broadcast('bin:resume', 'm', new Uint8Array([2]))
  await waitFor(() => got.length === 3, 't1 b1 b2')
  // Away: the server drops the connection, and broadcasts meanwhile.
  srv.hub.disconnect('carol', 4001, 'test')
  srv.hub.broadcast('bin:resume', 'm', new Uint8Array([3]))
  srv.hub.broadcast('bin:resume', 'm', { n: 4 })
  await waitFor(() => recovered.length === 1, 'the resume')
  t.match(recovered[0], { recovered: true, replayed: 4 }, 'the replay held b1 b2 b3 t4')
  srv.hub.broadcast('bin:resume', 'm', { n: 5 })
  await waitFor(() => got.includes('t5'), 't5')
  t.same(got, ['t1', 'b1', 'b2', 'b3', 't4', 't5'], 'each once, in order')
})

/** A server's binary broadcast (kind 2), as the server frames it. */
function binaryBroadcast(topic: string, event: string, payload: number[]): Uint8Array {
  return new Uint8Array([2, topic.length, event.length, ...Buffer.from(topic + event), ...payload])
}

class BinaryFake extends FakeWebSocket {
  readonly binarySent: Uint8Array[] = []
  override send(data: string | Uint8Array): void {
    if (typeof data === 'string') super.send(data)
    else this.binarySent.push(data)
  }
}

for (const form of ['binary frames', 'the JSON form, with positions']) {
  t.test(`the resume skip, with a replay in ${form}; a failed resume skips nothing`, (t) => {
    withClock((clock) => {
      FakeWebSocket.reset()
      const socket = new Socket('ws://example.test/ws', { transport: BinaryFake, dialect: 'phoenix', heartbeatIntervalMs: 0, jitter: 0, restartWindowMs: 0, reconnectAfterMs: () => 10 })
      socket.connect()
      const conn = () => FakeWebSocket.last
      conn().open()
      const channel = socket.channel('room:1')
      const got: string[] = []
      channel.on('m', (p: any) => got.push(p instanceof Uint8Array ? `b${p[0]}` : `t${p.n}`))
      channel.join()
      const join = conn().frames('phx_join')[0]!
      conn().deliver([join[0], join[1], 'room:1', 'phx_reply', { status: 'ok', response: {} }])
      conn().deliver([join[0], null, 'room:1', 'hb_history', { position: 'ep:0', resumed: false, replayed: 0, connection: 'c1' }])
      conn().deliver([null, 'ep:1', 'room:1', 'm', { n: 1 }])
      for (const n of [2, 3]) conn().onmessage?.({ data: binaryBroadcast('room:1', 'm', [n]).buffer })
      t.same(got, ['t1', 'b2', 'b3'])
      conn().serverClose(1006)
      clock.tick(10)
      conn().open()
      const rejoin = conn().frames('phx_join')[0]!
      t.same(rejoin[4], { hb_position: 'ep:1', hb_previous: 'c1' }, 'resumes from the last position it has')
      conn().deliver([rejoin[0], rejoin[1], 'room:1', 'phx_reply', { status: 'ok', response: {} }])
      // The replay: b2 b3 (delivered already), b4 (missed), t5.
      for (const n of [2, 3, 4]) {
        if (form === 'binary frames') conn().onmessage?.({ data: binaryBroadcast('room:1', 'm', [n]).buffer })
        else conn().deliver([null, `ep:${n}`, 'room:1', 'm', { hb_binary: Buffer.from([n]).toString('base64') }])
      }
      conn().deliver([null, 'ep:5', 'room:1', 'm', { n: 5 }])
      conn().deliver([rejoin[0], null, 'room:1', 'hb_history', { position: 'ep:5', resumed: true, recovered: true, replayed: 4, connection: 'c2' }])
      t.same(got, ['t1', 'b2', 'b3', 'b4', 't5'], 'b2 and b3 were dropped from the replay')
      t.equal(channel.position, 'ep:5')
      // Live binary broadcasts, then a resume that fails: nothing replayed, nothing skipped after.
      conn().onmessage?.({ data: binaryBroadcast('room:1', 'm', [6]).buffer })
      conn().serverClose(1006)
      clock.tick(10)
      conn().open()
      const third = conn().frames('phx_join')[0]!
      conn().deliver([third[0], third[1], 'room:1', 'phx_reply', { status: 'ok', response: {} }])
      conn().deliver([third[0], null, 'room:1', 'hb_history', { position: 'new:0', resumed: true, recovered: false, reason: 'unknown epoch', replayed: 0, connection: 'c3' }])
      conn().onmessage?.({ data: binaryBroadcast('room:1', 'm', [7]).buffer })
      t.same(got, ['t1', 'b2', 'b3', 'b4', 't5', 'b6', 'b7'], 'b7 is live after a failed resume: delivered')
      socket.disconnect()
    })
    t.end()
  })
}

t.test('binary frames the client cannot read are dropped and logged; on the hornbeam dialect every binary frame is', (t) => {
  FakeWebSocket.reset()
  const logs: string[] = []
  const socket = new Socket('ws://example.test/ws', { transport: BinaryFake, dialect: 'phoenix', heartbeatIntervalMs: 0, logger: (_k, msg) => logs.push(msg) })
  socket.connect()
  FakeWebSocket.last.open()
  for (const data of [new Uint8Array([9, 1]), new Uint8Array([2, 5, 1, 0x61]), new Uint8Array([])]) FakeWebSocket.last.onmessage?.({ data: data.buffer })
  t.equal(logs.filter((m) => /dropped malformed frame/.test(m)).length, 3)
  t.equal(socket.connectionState(), 'open')
  socket.disconnect()
  t.throws(() => new Socket('ws://x/ws', { dialect: 'elixir' as any }), /unknown dialect "elixir"/)
  t.end()
})
