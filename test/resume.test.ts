// Nothing lost on reconnect, with real clients over real sockets: @hornbeam/client resumes by
// itself, and the official phoenix client resumes through a params function; cut off by a
// destroyed socket or by a silent drop (no FIN: the old channel lives on when the client comes
// back), each gets every message once, in order, while broadcasts never stop.
import type { Socket as NetSocket } from 'node:net'
import t from 'tap'
import WebSocket from 'ws'
import { Socket } from '@hornbeam/client'
// @ts-expect-error the phoenix package ships no types
import { Socket as PhoenixSocket } from 'phoenix'
import { eventually, startServer, type TestServer } from './helpers/wire.js'

/** A broadcast every millisecond on `room:1` until stopped; `sent` is the last number. */
function pump(srv: TestServer) {
  const state = { sent: 0, timer: setInterval(() => srv.hub.broadcast('room:1', 'm', { n: ++state.sent }), 1) }
  return state
}

/** The server-side TCP sockets, in connect order (the connect hook sees each upgrade request). */
function serverSockets() {
  const sockets: NetSocket[] = []
  return { sockets, connect: (_params: unknown, request: { socket: NetSocket }) => void sockets.push(request.socket) }
}

const inOrderOnce = (got: number[], last: number) => got.length === last && got.every((n, i) => n === i + 1)

for (const cut of ['destroyed', 'silent'] as const) {
  t.test(`@hornbeam/client: a ${cut === 'destroyed' ? 'destroyed socket' : 'silent drop (no FIN)'} loses nothing`, async (t) => {
    const server = serverSockets()
    const srv = await startServer({ connect: server.connect })
    t.teardown(srv.close)
    // A message a millisecond for as long as a heartbeat takes to time out: keep them all.
    srv.hub.channel('room:*', { history: { size: 5000 } })
    const socket = new Socket(`ws://127.0.0.1:${srv.port}/ws`, { transport: WebSocket as any, heartbeatIntervalMs: 100, reconnectAfterMs: () => 20 })
    t.teardown(() => socket.disconnect())
    const channel = socket.channel('room:1')
    const got: number[] = []
    const recovered: unknown[] = []
    channel.on('m', (payload: { n: number }) => got.push(payload.n))
    channel.onRecover((info) => recovered.push(info))
    socket.connect()
    await new Promise((resolve) => channel.join().receive('ok', resolve))
    const p = pump(srv)
    await eventually(() => got.length >= 20, 3000, 'messages flowing')
    const client = (socket as unknown as { conn: { _socket: NetSocket } }).conn._socket
    if (cut === 'destroyed') client.destroy()
    else {
      // Neither side reads any more: the client's heartbeat goes unanswered, it gives up the
      // connection and opens another; the server still holds the old one, subscribed.
      client.pause()
      server.sockets[0]!.pause()
    }
    await eventually(() => recovered.length === 1, 5000, 'the rejoin resumed')
    if (cut === 'silent') t.equal(srv.hub.stats().topics['room:1'], 2, 'the old channel was still alive when the client resumed')
    clearInterval(p.timer)
    await eventually(() => got.at(-1) === p.sent, 3000, 'the last message')
    t.match(recovered[0], { recovered: true })
    t.ok(inOrderOnce(got, p.sent), `1..${p.sent}, each once, in order (${got.length} delivered)`)
  })
}

t.test('the official phoenix client resumes through a params function, and sees every message once', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  srv.hub.channel('room:*', { history: { size: 5000 } })
  const socket = new PhoenixSocket(`ws://127.0.0.1:${srv.port}/ws`, { transport: WebSocket, heartbeatIntervalMs: 200, reconnectAfterMs: () => 20 })
  t.teardown(() => socket.disconnect())
  let position: string | undefined
  // phoenix.js hands a broadcast's ref (its position) to `on` callbacks as the second argument,
  // and evaluates a params function on every (re)join.
  const channel = socket.channel('room:1', () => (position ? { hb_position: position } : {}))
  const got: number[] = []
  const notices: any[] = []
  channel.on('m', (payload: { n: number }, ref: string) => {
    got.push(payload.n)
    position = ref
  })
  channel.on('hb_history', (notice: any) => {
    notices.push(notice)
    if (notice.position) position = notice.position
  })
  socket.connect()
  await new Promise((resolve) => channel.join().receive('ok', resolve))
  const p = pump(srv)
  await eventually(() => got.length >= 20, 3000, 'messages flowing')
  ;(socket.conn as { _socket: NetSocket })._socket.destroy()
  await eventually(() => notices.some((n) => n.resumed), 5000, 'resumed')
  clearInterval(p.timer)
  await eventually(() => got.at(-1) === p.sent, 3000, 'the last message')
  t.match(notices.find((n) => n.resumed), { recovered: true })
  t.ok(inOrderOnce(got, p.sent), `1..${p.sent}, each once, in order (${got.length} delivered)`)
})

t.test('a position the server cannot serve: @hornbeam/client is told recovered false, never nothing', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  srv.hub.channel('room:*', { history: { size: 5 } })
  const socket = new Socket(`ws://127.0.0.1:${srv.port}/ws`, { transport: WebSocket as any, reconnectAfterMs: () => 20 })
  t.teardown(() => socket.disconnect())
  const channel = socket.channel('room:1')
  const recovered: any[] = []
  channel.onRecover((info) => recovered.push(info))
  channel.on('m', () => {})
  socket.connect()
  await new Promise((resolve) => channel.join().receive('ok', resolve))
  srv.hub.broadcast('room:1', 'm', { n: 1 })
  await eventually(() => channel.position?.endsWith(':1') === true, 2000, 'the first message')
  const conn = (socket as unknown as { conn: { _socket: NetSocket } }).conn._socket
  conn.destroy()
  // Ten more while it is away: more than the history keeps.
  for (let n = 2; n <= 11; n++) srv.hub.broadcast('room:1', 'm', { n })
  await eventually(() => recovered.length === 1, 5000, 'the resume answered')
  t.match(recovered[0], { recovered: false, reason: 'messages expired', replayed: 0 })
})
