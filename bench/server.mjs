// One server under test, in its own process (forked by bench/run.mjs or bench/cluster.mjs).
//   node --expose-gc bench/server.mjs '<json options>'
// Options: { kind, entry?, redisUrl?, presence? } where kind is one of
//   hornbeam-http     @hornbeam/channels on plain node:http (hub.attach); with `entry` (a path to
//                     a build's dist/index.js, from run.mjs --entries) that build of the core
//   hornbeam-fastify  @hornbeam/fastify plugin on Fastify 5
//   hornbeam-express  @hornbeam/express middleware on Express 5
//   ws-raw            a bare `ws` server: frames a broadcast once and writes the same buffer to
//                     every subscriber's TCP socket (the ceiling for Node), speaking just enough
//                     of the join protocol for the shared load generator
//   socketio          Socket.IO 4, room broadcast (websocket transport)
// It listens on 127.0.0.1:<random port>, reports { type: 'ready', port, path } over IPC and then
// obeys IPC requests { id, op, ... } (see `ops` below). It never exits on its own except on
// 'exit' or when its parent goes away.
import { createServer } from 'node:http'
import { nowMicros } from './lib/hist.mjs'
import { importPackage, MissingPackageError } from './lib/packages.mjs'

const options = JSON.parse(process.argv[2] ?? '{}')
const kind = options.kind
const gc = globalThis.gc ?? (() => {})

/** Hub options for load tests: the per-socket rate limits are lifted, the rest are defaults. */
const hubOptions = {
  joinsPerSecond: 0,
  messagesPerSecond: 0,
  maxChannelsPerSocket: 100_000,
  // Load-generator clients send no heartbeats; a run holds sockets idle for longer than 60 s.
  idleTimeoutMs: 3_600_000,
  // The joins scenario holds its clients unjoined while they all connect (and cluster.mjs its node
  // A clients until they join one by one): a slow or profiled run must not lose them to the
  // 45 s default of newer cores. Older cores ignore the option.
  unjoinedTimeoutMs: 3_600_000,
  ...(options.presence ? { presence: options.presence } : {}),
}

function send(message) {
  if (process.connected) process.send(message)
}

process.on('disconnect', () => process.exit(0))

// -- payloads: JSON.stringify(payload) is exactly `size` bytes (given enough room for s and t).
const PAD = 'x'.repeat(1 << 20)
function payloadOf(seq, size) {
  const t = nowMicros()
  const base = 15 + String(seq).length + String(t).length // {"s":,"t":,"p":""}
  return { s: seq, t, p: PAD.slice(0, Math.max(0, size - base)) }
}

// -- the servers. Each returns { port, path, broadcast(topic, payload), stats(), close() }.

async function hornbeamCommon(hub) {
  hub.channel('bench:*') // fan-out and idle subscribers: joins are simply accepted
  hub.channel('track:*').onJoin((topic, _topicParams, params, socket) => {
    hub.presence(topic).track(socket, String(params.user ?? socket.id), { user: params.user ?? null })
    return ['ok', {}]
  })
  return {
    broadcast: (topic, payload) => hub.broadcast(topic, 'm', payload),
    stats: () => {
      const s = hub.stats()
      delete s.topics // one key per topic: too big to ship after the join scenario
      return { connections: s.connections, channels: s.channels, presenceEntries: s.presence.entries, hub: s }
    },
  }
}

/**
 * The core the node:http server runs: @hornbeam/channels, or `options.entry` (a path to another
 * build's dist/index.js) to compare builds of the core without touching packages/. An option of
 * this child, not an environment variable, so that the children of one run can load different
 * builds (run.mjs --entries; it also maps the deprecated BENCH_CHANNELS_ENTRY onto it).
 */
async function channelsCore() {
  const entry = options.entry
  if (!entry) return { core: await import('@hornbeam/channels'), from: '@hornbeam/channels' }
  const { pathToFileURL } = await import('node:url')
  return { core: await import(pathToFileURL(entry).href), from: entry }
}

async function startHornbeamHttp() {
  const { core, from } = await channelsCore()
  const { createHub, silentLogger } = core
  let adapter
  if (options.redisUrl) adapter = await redisAdapterFor(options.redisUrl)
  const hub = createHub({ ...hubOptions, logger: silentLogger, ...(adapter ? { adapter } : {}) })
  await hub.ready?.()
  const common = await hornbeamCommon(hub)
  const server = createServer((_req, res) => res.end('ok'))
  hub.attach(server, { path: '/ws' })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    ...common,
    port: server.address().port,
    path: '/ws/websocket',
    from,
    close: async () => {
      await hub.close()
      server.closeAllConnections?.()
      server.close()
    },
  }
}

async function redisAdapterFor(url) {
  const { mod } = await importPackage('@hornbeam/redis', 'redis')
  const { silentLogger } = await import('@hornbeam/channels')
  // A prefix of our own: other users of this Redis (tests, other runs) never see our channels.
  return mod.redisAdapter({ url, logger: silentLogger, keyPrefix: `hornbeam-bench-${options.clusterId ?? 'x'}:` })
}

async function startHornbeamFastify() {
  const { mod, from } = await importPackage('@hornbeam/fastify', 'fastify')
  const channels = mod.default ?? mod.channels
  if (typeof channels !== 'function') throw new MissingPackageError(`${from} has no default export (the plugin)`)
  const { silentLogger } = await import('@hornbeam/channels')
  const { default: Fastify } = await import('fastify')
  const app = Fastify({ logger: false })
  await app.register(channels, { path: '/ws', ...hubOptions, logger: silentLogger })
  await app.after()
  const hub = app.channels
  const common = await hornbeamCommon(hub)
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { ...common, port: app.server.address().port, path: '/ws/websocket', from, close: () => app.close() }
}

async function startHornbeamExpress() {
  const { mod, from } = await importPackage('@hornbeam/express', 'express')
  const { channelsMiddleware } = mod
  if (typeof channelsMiddleware !== 'function') throw new MissingPackageError(`${from} does not export channelsMiddleware`)
  const { silentLogger } = await import('@hornbeam/channels')
  const { default: express } = await import('express')
  const app = express()
  const mw = channelsMiddleware({ path: '/ws', ...hubOptions, logger: silentLogger })
  app.use(mw)
  app.get('/', (_req, res) => res.send('ok'))
  const server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err) => (err ? reject(err) : resolve(s)))
  })
  const hub = mw.hub
  const common = await hornbeamCommon(hub)
  return {
    ...common,
    port: server.address().port,
    path: '/ws/websocket',
    from,
    close: async () => {
      await (mw.close?.() ?? hub.close())
      server.closeAllConnections?.()
      server.close()
    },
  }
}

/** A text frame: 0x81, the length (7-bit, 16-bit or 64-bit form), the payload. */
function textFrame(text) {
  const length = Buffer.byteLength(text)
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10
  const buf = Buffer.allocUnsafe(header + length)
  buf[0] = 0x81
  if (length < 126) buf[1] = length
  else if (length < 65536) {
    buf[1] = 126
    buf.writeUInt16BE(length, 2)
  } else {
    buf[1] = 127
    buf.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    buf.writeUInt32BE(length >>> 0, 6)
  }
  buf.write(text, header, 'utf8')
  return buf
}

async function startWsRaw() {
  const { WebSocketServer } = await import('ws')
  const server = createServer((_req, res) => res.end('ok'))
  const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false, maxPayload: 1 << 20 })
  const topics = new Map() // topic -> Set<ws>
  let connections = 0
  let joins = 0
  wss.on('connection', (ws) => {
    connections++
    const joined = new Set()
    ws.on('message', (data) => {
      let frame
      try {
        frame = JSON.parse(data.toString())
      } catch {
        return
      }
      if (!Array.isArray(frame) || frame.length !== 5) return
      const [joinRef, ref, topic, event] = frame
      if (event === 'hb_join') {
        let set = topics.get(topic)
        if (!set) topics.set(topic, (set = new Set()))
        set.add(ws)
        joined.add(topic)
        joins++
        ws.send(JSON.stringify([joinRef, ref, topic, 'hb_reply', { status: 'ok', response: {} }]))
        ws.send(JSON.stringify([joinRef, null, topic, 'presence_state', {}]))
      } else if (event === 'heartbeat') {
        ws.send(JSON.stringify([null, ref, topic, 'hb_reply', { status: 'ok', response: {} }]))
      }
    })
    ws.on('close', () => {
      connections--
      for (const topic of joined) {
        const set = topics.get(topic)
        set?.delete(ws)
        if (set?.size === 0) topics.delete(topic)
      }
    })
    ws.on('error', () => {})
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  let writes = 0
  return {
    port: server.address().port,
    path: '/ws/websocket',
    from: 'ws',
    broadcast(topic, payload) {
      const set = topics.get(topic)
      if (!set) return
      const text = JSON.stringify([null, null, topic, 'm', payload])
      const frame = textFrame(text)
      for (const ws of set) {
        if (ws.readyState !== 1) continue
        const raw = ws._socket
        // ws's sender is idle (no compression, no blob in progress): the TCP socket is free.
        if (raw !== undefined && (ws._sender?._state ?? 0) === 0) raw.write(frame)
        else ws.send(text)
        writes++
      }
    },
    stats: () => ({ connections, channels: [...topics.values()].reduce((n, s) => n + s.size, 0), joins, writes, presenceEntries: null }),
    close: async () => {
      server.closeAllConnections?.()
      wss.close()
      server.close()
    },
  }
}

async function startSocketIo() {
  const { Server } = await import('socket.io')
  const server = createServer((_req, res) => res.end('ok'))
  const io = new Server(server, { transports: ['websocket'], serveClient: false, perMessageDeflate: false })
  if (options.redisUrl) {
    const { createAdapter } = await import('@socket.io/redis-adapter')
    const { Redis } = await import('ioredis')
    const pub = new Redis(options.redisUrl)
    const sub = pub.duplicate()
    io.adapter(createAdapter(pub, sub, { key: `socket.io-bench-${options.clusterId ?? 'x'}` }))
  }
  let joins = 0
  io.on('connection', (socket) => {
    // Join to a room only: Socket.IO has no presence.
    socket.on('hb_join', (topic, _params, ack) => {
      socket.join(topic)
      joins++
      if (typeof ack === 'function') ack({ status: 'ok', response: {} })
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: server.address().port,
    path: '/socket.io/',
    from: 'socket.io',
    broadcast: (topic, payload) => io.to(topic).emit('m', payload),
    stats: () => ({
      connections: io.engine.clientsCount,
      channels: [...io.of('/').adapter.rooms.entries()].reduce((n, [room, set]) => n + (io.of('/').sockets.has(room) ? 0 : set.size), 0),
      joins,
      presenceEntries: null,
    }),
    close: () => new Promise((resolve) => io.close(() => resolve())),
  }
}

const starters = {
  'hornbeam-http': startHornbeamHttp,
  'hornbeam-fastify': startHornbeamFastify,
  'hornbeam-express': startHornbeamExpress,
  'ws-raw': startWsRaw,
  socketio: startSocketIo,
}

let srv
try {
  const start = starters[kind]
  if (!start) throw new Error(`unknown server kind ${kind}`)
  srv = await start()
} catch (err) {
  send({ type: 'error', missing: err instanceof MissingPackageError, message: err?.stack ?? String(err) })
  setTimeout(() => process.exit(1), 50)
}

if (srv) {
  // One broadcast per event-loop turn: commands that arrive together (IPC delivers several in
  // one read) are queued and run one per turn, so every server pays one socket write per
  // delivery and none can coalesce what a real app would send in separate turns.
  const queue = []
  let draining = false
  const drain = () => {
    const m = queue.shift()
    srv.broadcast(m.topic, payloadOf(m.seq, m.size))
    if (queue.length > 0) setImmediate(drain)
    else draining = false
  }
  const ops = {
    /**
     * Broadcasts `count` messages of `size` bytes to `topic`, numbered from `seq`: all in this
     * turn when `burst`, else one per turn.
     */
    broadcast({ topic, seq, count = 1, size, burst = false }) {
      if (burst) {
        for (let i = 0; i < count; i++) srv.broadcast(topic, payloadOf(seq + i, size))
        return
      }
      for (let i = 0; i < count; i++) queue.push({ topic, seq: seq + i, size })
      if (!draining) {
        draining = true
        setImmediate(drain)
      }
    },
    gc() {
      gc()
      gc()
      return { memory: process.memoryUsage() }
    },
    stats() {
      return { ...srv.stats(), memory: process.memoryUsage() }
    },
    /** Writes a V8 heap snapshot to `path` (for bench/lib/heap.mjs). */
    async heapSnapshot({ path }) {
      const { writeHeapSnapshot } = await import('node:v8')
      gc()
      return { path: writeHeapSnapshot(path) }
    },
    async exit() {
      await Promise.race([srv.close(), new Promise((resolve) => setTimeout(resolve, 3000))])
      setImmediate(() => process.exit(0))
      return { closed: true }
    },
  }
  process.on('message', async (msg) => {
    const op = ops[msg.op]
    if (!op) return send({ id: msg.id, error: `unknown op ${msg.op}` })
    try {
      const result = await op(msg)
      if (msg.id !== undefined) send({ id: msg.id, result })
    } catch (err) {
      if (msg.id !== undefined) send({ id: msg.id, error: err?.stack ?? String(err) })
    }
  })
  send({ type: 'ready', port: srv.port, path: srv.path, from: srv.from, pid: process.pid })
}
