import t from 'tap'
import { createServer } from 'node:http'
import WebSocket from 'ws'
import { createHub } from '@hornbeam/channels'

t.test('join and reply', async (t) => {
  const hub = createHub()
  hub.channel('room:*').onJoin((topic, tp) => ['ok', { room: tp.room_id }])
  const server = createServer()
  hub.attach(server, { path: '/ws' })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as any).port
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/websocket`)
  const msgs: any[] = []
  ws.on('message', (d) => msgs.push(JSON.parse(d.toString())))
  await new Promise((r) => ws.on('open', r))
  ws.send(JSON.stringify(['1', '1', 'room:lobby', 'hb_join', {}]))
  await new Promise((r) => setTimeout(r, 100))
  t.same(msgs[0], ['1', '1', 'room:lobby', 'hb_reply', { status: 'ok', response: { room: 'lobby' } }])
  t.same(msgs[1], [null, null, 'room:lobby', 'presence_state', {}])
  ws.close()
  await hub.close()
  server.close()
})
