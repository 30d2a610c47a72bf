// Each example started as its README says (a child process on a free port): the page, the
// client bundle, and for rest-realtime the REST ↔ socket round trip.
import t from 'tap'
import { Socket } from '@hornbeam/client'
import WebSocket from 'ws'
import { startExample } from './helpers/examples.js'
import { eventually } from './helpers/wire.js'

for (const name of ['chat-fastify', 'chat-express']) {
  t.test(`${name}: serves the page and the client bundle`, async (t) => {
    const ex = await startExample(name)
    t.teardown(ex.stop)
    const page = await fetch(ex.url + '/')
    t.equal(page.status, 200)
    const html = await page.text()
    t.match(html, /<script src="\/ws\/hornbeam\.js"><\/script>/, 'the page loads the bundle the server serves')
    t.match(html, /new Hornbeam\.Socket\('\/ws'/)
    const bundle = await fetch(ex.url + '/ws/hornbeam.js')
    t.equal(bundle.status, 200)
    t.match(bundle.headers.get('content-type') ?? '', /javascript/)
    t.match(await bundle.text(), /Hornbeam/)

    // And the chat answers over the wire, username required.
    const socket = new Socket(ex.url.replace('http', 'ws') + '/ws', { transport: WebSocket as any })
    socket.connect()
    t.teardown(() => socket.disconnect())
    const refused = await new Promise((resolve) => socket.channel('room:lobby', {}).join().receive('error', resolve))
    t.same(refused, { reason: 'username required' })
  })
}

t.test('rest-realtime: REST writes appear on sockets, socket joins appear in REST reads', async (t) => {
  const ex = await startExample('rest-realtime')
  t.teardown(ex.stop)
  const socket = new Socket(ex.url.replace('http', 'ws') + '/ws', { transport: WebSocket as any })
  socket.connect()
  t.teardown(() => socket.disconnect())
  const channel = socket.channel('board:news', { name: 'ada' })
  const created: any[] = []
  channel.on('message_created', (m: any) => created.push(m))
  const joined: any = await new Promise((resolve, reject) => channel.join().receive('ok', resolve).receive('error', reject))
  t.same(joined, { board: 'news', messages: [] })

  const online = await (await fetch(ex.url + '/boards/news/online')).json()
  t.same(online, [{ name: 'ada', connections: 1 }], 'the socket join shows in GET /online')

  const res = await fetch(ex.url + '/boards/news/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ author: 'grace', body: 'hello sockets' }),
  })
  t.equal(res.status, 201)
  await eventually(() => created.length === 1, 3000, 'the REST write reached the socket')
  t.match(created[0], { author: 'grace', body: 'hello sockets', board: 'news' })
  t.equal((await (await fetch(ex.url + '/boards/news/messages')).json()).length, 1)
  t.equal((await fetch(ex.url + '/boards/news/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 400)
})
