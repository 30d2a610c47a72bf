// The server of bench/big-room.mjs: Hornbeam on node:http with the hub's defaults, and the
// example chat's room as it is: every joiner is tracked in onJoin with its username and the time
// it joined (examples/chat-fastify/src/chat.ts), so every joiner gets the room's presence_state
// and every member a presence_diff for it.
//   node bench/lib/big-room-server.mjs '{"entry": "<path of @hornbeam/channels>"}'
// IPC requests:
//   listen              listen on 127.0.0.1, port 0: { port }
//   stats               the hub's counters, presence and memory figures, CPU and event-loop delay
//   resetLag            restart the event-loop delay histogram
import { createServer } from 'node:http'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { serveRequests } from './child.mjs'

const options = JSON.parse(process.argv[2] ?? '{}')
const send = (m) => process.connected && process.send(m)
process.on('disconnect', () => process.exit(0))

const { createHub, silentLogger } = await import(options.entry ? pathToFileURL(options.entry).href : '@hornbeam/channels')
const hub = createHub({ logger: silentLogger })

hub.channel('room:*').onJoin((topic, _topicParams, params, socket) => {
  const username = String(params.username ?? '')
  if (username === '') return ['error', { reason: 'username required' }]
  const joined = socket.assign('username', username)
  hub.presence(topic).track(joined, `user:${username}`, { username, joined_at: new Date().toISOString() })
  return ['ok', { room: topic }, joined]
})

const server = createServer((_req, res) => res.end('ok'))
hub.attach(server, { path: '/ws' })
const lag = monitorEventLoopDelay({ resolution: 10 })
lag.enable()
let rssPeak = 0
// The event loop's long stalls, when they ended (ms since resetLag) and how long they were.
let stalls = []
let lastTick = performance.now()
let lagSince = performance.now()
setInterval(() => {
  const now = performance.now()
  if (now - lastTick > 150) stalls.push([Math.round(now - lagSince), Math.round(now - lastTick - 100)])
  lastTick = now
  rssPeak = Math.max(rssPeak, process.memoryUsage.rss())
}, 100).unref()

const ms = (ns) => +(ns / 1e6).toFixed(2)

const ops = {
  listen: () =>
    new Promise((resolve) => {
      server.listen(0, '127.0.0.1', () => resolve({ port: server.address().port }))
    }),
  resetLag() {
    lag.reset()
    stalls = []
    lagSince = performance.now()
    rssPeak = process.memoryUsage.rss()
    return {}
  },
  stats() {
    const s = hub.stats()
    return {
      connections: s.connections,
      channels: s.channels,
      slowConsumers: s.slowConsumers,
      droppedFrames: s.droppedFrames,
      framesOut: s.framesOut,
      bytesOut: s.bytesOut,
      presence: s.presence,
      rss: process.memoryUsage.rss(),
      rssPeak,
      eventLoopDelay: { p50Ms: ms(lag.percentile(50)), p99Ms: ms(lag.percentile(99)), maxMs: ms(lag.max) },
      stalls,
    }
  },
  exit() {
    setImmediate(() => process.exit(0))
    return {}
  },
}

serveRequests(ops)
send({ type: 'ready', pid: process.pid })
