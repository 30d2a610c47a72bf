// The chat on Koa, in CommonJS: `node server.cjs` (no build), then open http://127.0.0.1:3000
const Koa = require('koa')
const channels = require('@hornbeam/koa')

const app = new Koa()
const mw = channels({ path: '/ws' })
app.use(mw)
const room = mw.channel('room:*')
room.onJoin((topic, { room_id }, { username }, socket) => {
  if (typeof username !== 'string' || !username.trim()) return ['error', { reason: 'username required' }]
  if (username.length > 32) return ['error', { reason: 'username too long (at most 32 characters)' }]
  socket = socket.assign('username', username.trim())
  mw.presence(topic).track(socket, `user:${socket.assigns.username}`, { username: socket.assigns.username, joined_at: new Date().toISOString() })
  return ['ok', { room_id, message: `Welcome to ${room_id}!` }, socket]
})
room.on('new_msg', ({ body }, socket) => {
  if (typeof body !== 'string' || !body) return ['reply', { status: 'error', reason: 'empty message' }, socket]
  socket.broadcastFrom('new_msg', { username: socket.assigns.username, body })
  return ['reply', { status: 'ok' }, socket]
})
room.on('typing', ({ typing }, socket) => (socket.broadcastFrom('typing', { username: socket.assigns.username, typing: typing === true }), ['noreply', socket]))
room.on('get_history', (_payload, socket) => ['reply', { messages: [{ username: 'system', body: 'Welcome to the chat!' }] }, socket])

const page = require('node:fs').readFileSync(`${__dirname}/public/index.html`, 'utf8')
app.use((ctx) => void (ctx.method === 'GET' && ctx.path === '/' && ((ctx.type = 'html'), (ctx.body = page))))
const server = app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1', () => {
  console.log(`chat listening on http://${server.address().address}:${server.address().port}`)
})
server.on('error', (err) => (console.error(err.message), process.exit(1)))
