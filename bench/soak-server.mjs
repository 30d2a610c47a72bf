// The server side of bench/soak.mjs: a hub with a chat-like channel and a /stats endpoint that
// reports its memory and handles after a full GC. Run with --expose-gc.
import { createServer } from 'node:http'
import { createHub, silentLogger } from '@hornbeam/channels'

const hub = createHub({ logger: silentLogger, messagesPerSecond: 0, joinsPerSecond: 0 })
const room = hub.channel('room:*')
room.onJoin((topic, _tp, params, socket) => {
  hub.presence(topic).track(socket, `user:${params.user}`, { user: params.user })
  return ['ok', {}, socket.assign('user', params.user)]
})
room.on('msg', (payload, socket) => {
  socket.broadcastFrom('msg', { user: socket.assigns.user, body: payload.body })
  return ['reply', { status: 'ok' }, socket]
})

const server = createServer((req, res) => {
  if (req.url !== '/stats') return void res.end('soak')
  globalThis.gc?.()
  globalThis.gc?.()
  const mem = process.memoryUsage()
  const stats = hub.stats()
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    handles: process.getActiveResourcesInfo().length,
    connections: stats.connections,
    channels: stats.channels,
    presences: stats.presence.entries,
    framesIn: stats.framesIn,
    framesOut: stats.framesOut,
  }))
})
hub.attach(server, { path: '/ws' })
server.listen(0, '127.0.0.1', () => console.log(`READY ${server.address().port}`))
