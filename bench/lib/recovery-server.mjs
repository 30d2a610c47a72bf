// One server of the recovery scenario (bench/recovery.mjs), in its own process:
//   node bench/lib/recovery-server.mjs '<json options>'
// Options: { kind, port?, redisUrl?, streamName?, maxDisconnectionMs? } where kind is
//   hornbeam       @hornbeam/channels on node:http, `hub.attach(server)`, every option default
//                  (history on, in memory); with `redisUrl` over `redisAdapter({ url })` (default
//                  options: history in Redis Streams, shared by the nodes)
//   socketio       Socket.IO 4, default options; with `redisUrl` over @socket.io/redis-streams-adapter
//   socketio-csr   the same with `connectionStateRecovery` (default options, maxDisconnectionDuration
//                  set to cover the run)
// It listens on 127.0.0.1:<port> (0: a random one), reports { type: 'ready', port } over IPC and
// then obeys { id, op } requests: `broadcast { seq }` stamps { s: seq, t: monotonic µs } and sends
// it to the room, answering { seq, t, ok, position }. SIGTERM is a rolling restart's stop: the
// server closes as an application would on shutdown (hub.close(), io.close()) and exits.
import { createServer } from 'node:http'
import { nowMicros } from './hist.mjs'
import { importPackage } from './packages.mjs'
import { serveRequests } from './child.mjs'

const options = JSON.parse(process.argv[2] ?? '{}')
const kind = options.kind
export const TOPIC = 'room:bench'

const send = (m) => process.connected && process.send(m)
process.on('disconnect', () => process.exit(0))

// Warnings and errors from the server libraries, counted and kept (the last few) for the report.
const warnings = { count: 0, last: [] }
function warn(level, obj, msg) {
  warnings.count++
  const text = `${level} ${msg ?? ''} ${obj instanceof Error ? obj.message : JSON.stringify(obj, (k, v) => (v instanceof Error ? v.message : v))}`.slice(0, 400)
  warnings.last = [...warnings.last.slice(-9), text]
  process.stderr.write(`[recovery-server ${kind}] ${text}\n`)
}
const logger = { debug() {}, info() {}, warn: (o, m) => warn('warn', o, m), error: (o, m) => warn('error', o, m) }

async function listen(server) {
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', resolve)
  })
  return server.address().port
}

async function startHornbeam() {
  const { createHub } = await import('@hornbeam/channels')
  let adapter
  if (options.redisUrl) {
    const { mod } = await importPackage('@hornbeam/redis', 'redis')
    adapter = mod.redisAdapter({ url: options.redisUrl, logger })
  }
  // Default options: only the logger (to count warnings) and, across nodes, the Redis adapter.
  const hub = createHub({ logger, ...(adapter ? { adapter } : {}) })
  await hub.ready?.()
  hub.channel('room:*') // history is on by default
  const server = createServer((_req, res) => res.end('ok'))
  hub.attach(server)
  const port = await listen(server)
  let failed = 0
  return {
    port,
    async broadcast(payload) {
      const r = await hub.broadcast(TOPIC, 'm', payload)
      if (!r?.ok) failed++
      return { ok: r?.ok !== false, position: r?.position ?? null }
    },
    stats: () => {
      const s = hub.stats()
      return { connections: s.connections, channels: s.channels, history: s.history ?? null, broadcastsFailed: failed }
    },
    async close() {
      await hub.close()
      server.closeAllConnections?.()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

async function startSocketIo(recovery) {
  const { Server } = await import('socket.io')
  const server = createServer((_req, res) => res.end('ok'))
  const io = new Server(server, {
    ...(recovery ? { connectionStateRecovery: { maxDisconnectionDuration: options.maxDisconnectionMs ?? 2 * 60_000 } } : {}),
  })
  let redis
  if (options.redisUrl) {
    const { createAdapter } = await import('@socket.io/redis-streams-adapter')
    const { Redis } = await import('ioredis')
    redis = new Redis(options.redisUrl)
    redis.on('error', (err) => warn('error', err, 'redis'))
    io.adapter(createAdapter(redis, options.streamName ? { streamName: options.streamName } : {}))
  }
  let joins = 0
  let recovered = 0
  io.on('connection', (socket) => {
    if (socket.recovered) recovered++
    // The app joins the room on request (socket.io's rooms are server-side): with connection state
    // recovery the client asks only when the connection was not recovered.
    socket.on('join', (room, ack) => {
      socket.join(room)
      joins++
      if (typeof ack === 'function') ack({ ok: true })
    })
  })
  const port = await listen(server)
  return {
    port,
    async broadcast(payload) {
      io.to(TOPIC).emit('m', payload)
      return { ok: true, position: null }
    },
    stats: () => ({ connections: io.engine.clientsCount, joins, recovered }),
    async close() {
      await new Promise((resolve) => io.close(() => resolve()))
      // quit, not disconnect: what the adapter still has to write (a session persisted on close,
      // a message published) reaches Redis before the process exits.
      await redis?.quit().catch(() => redis.disconnect())
    },
  }
}

const starters = { hornbeam: startHornbeam, socketio: () => startSocketIo(false), 'socketio-csr': () => startSocketIo(true) }

let srv
try {
  if (!starters[kind]) throw new Error(`unknown server kind ${kind}`)
  srv = await starters[kind]()
} catch (err) {
  send({ type: 'error', message: err?.stack ?? String(err) })
  setTimeout(() => process.exit(1), 50)
}

if (srv) {
  let closing
  const shutdown = () => {
    closing ??= Promise.race([srv.close(), new Promise((resolve) => setTimeout(resolve, 10_000))]).then(() => setImmediate(() => process.exit(0)))
    return closing
  }
  process.on('SIGTERM', shutdown)
  const ops = {
    async broadcast({ seq }) {
      const t = nowMicros()
      const r = await srv.broadcast({ s: seq, t })
      return { seq, t, ...r }
    },
    stats: () => ({ ...srv.stats(), warnings, memory: process.memoryUsage().rss }),
    async exit() {
      await shutdown()
      return { closed: true }
    },
  }
  serveRequests(ops)
  send({ type: 'ready', port: srv.port, pid: process.pid })
}
