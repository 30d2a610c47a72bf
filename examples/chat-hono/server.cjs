// The chat on Hono, in CommonJS: `node server.cjs` (no build), then open http://127.0.0.1:3000
const { readFileSync } = require('node:fs')
const { serve } = require('@hono/node-server')
const { Hono } = require('hono')
const createChannels = require('@hornbeam/hono')

const channels = createChannels({ path: '/ws' })
const room = channels.channel('room:*')
room.onJoin((topic, { room_id }, { username }, socket) => {
  if (typeof username !== 'string' || !username.trim()) return ['error', { reason: 'username required' }]
  if (username.length > 32) return ['error', { reason: 'username too long (at most 32 characters)' }]
  socket = socket.assign('username', username.trim())
  channels.presence(topic).track(socket, `user:${socket.assigns.username}`, { username: socket.assigns.username, joined_at: new Date().toISOString() })
  return ['ok', { room_id, message: `Welcome to ${room_id}!` }, socket]
})
room.on('new_msg', ({ body }, socket) => {
  if (typeof body !== 'string' || !body) return ['reply', { status: 'error', reason: 'empty message' }, socket]
  socket.broadcastFrom('new_msg', { username: socket.assigns.username, body })
  return ['reply', { status: 'ok' }, socket]
})
room.on('typing', ({ typing }, socket) => (socket.broadcastFrom('typing', { username: socket.assigns.username, typing: typing === true }), ['noreply', socket]))
room.on('get_history', (_payload, socket) => ['reply', { messages: [{ username: 'system', body: 'Welcome to the chat!' }] }, socket])

const page = readFileSync(`${__dirname}/public/index.html`, 'utf8')
const app = channels.routes(new Hono().use(channels.middleware)).get('/', (c) => c.html(page))
const host = process.env.HOST ?? '127.0.0.1'
serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: host, websocket: channels.websocket }, (info) => console.log(`chat listening on http://${host}:${info.port}`))
  .once('error', (err) => (console.error(err.message), process.exit(1)))
