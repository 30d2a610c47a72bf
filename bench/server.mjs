// One server under test, in its own process (forked by bench/run.mjs or bench/cluster.mjs).
//   node --expose-gc bench/server.mjs '<json options>'
// Options: { kind, entry?, redisUrl?, redisCluster?, presence?, defaults? } where kind is one of
//   hornbeam-http     @hornbeam/channels on plain node:http (hub.attach); with `entry` (a path to
//                     a build's dist/index.js, from run.mjs --entries) that build of the core
//   hornbeam-http-nohistory  the same with `createHub({ history: false })`: topic history off
//                     (on by default: the `bench:*` topics keep their last 100 broadcasts), to
//                     measure what history costs, side by side with hornbeam-http
//   hornbeam-fastify  @hornbeam/fastify plugin on Fastify 5
//   hornbeam-express  @hornbeam/express middleware on Express 5
//   hornbeam-koa      @hornbeam/koa middleware on Koa 3 (app.use(channels(...)), app.listen)
//   hornbeam-hono     @hornbeam/hono (createChannels: middleware, routes, serve()'s websocket) on
//                     Hono 4 and @hono/node-server
//   hornbeam-nest     @hornbeam/nestjs ChannelsModule.forRoot on NestJS 12, platform-express
//   ws-raw            a bare `ws` server: frames a broadcast once and writes the same buffer to
//                     every subscriber's TCP socket (the ceiling for Node), speaking just enough
//                     of the join protocol for the shared load generator
//   socketio          Socket.IO 4, room broadcast (websocket transport)
// `defaults: true` (bench/scale.mjs) gives hornbeam-http and hornbeam-http-nohistory the hub's
// default options (rate limits, idle and unjoined timeouts as shipped; only the logger is silent)
// instead of the load-test options below.
// It listens on 127.0.0.1:<random port>, reports { type: 'ready', port, path } over IPC and then
// obeys IPC requests { id, op, ... } (see `ops` below). It never exits on its own except on
// 'exit' or when its parent goes away.
import { createServer } from 'node:http'
import { nowMicros } from './lib/hist.mjs'
import { importPackage, MissingPackageError } from './lib/packages.mjs'
import { serveRequests } from './lib/child.mjs'

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
// `p` is a string of its own per message (copied out of PAD, not a slice that shares PAD's
// memory), as an application's payloads are: a server that keeps messages (topic history) keeps
// what they really weigh.
const PAD = Buffer.alloc(1 << 20, 'x')
function payloadOf(seq, size) {
  const t = nowMicros()
  const base = 15 + String(seq).length + String(t).length // {"s":,"t":,"p":""}
  return { s: seq, t, p: PAD.toString('latin1', 0, Math.max(0, size - base)) }
}

/**
 * A binary payload of exactly `size` bytes (at least 12): seq (uint32) and the send time
 * (float64, µs) first, then padding, a Buffer of its own per message as payloadOf's string is.
 */
function bytesOf(seq, size) {
  const buf = Buffer.allocUnsafe(Math.max(12, size))
  buf.writeUInt32BE(seq, 0)
  buf.writeDoubleBE(nowMicros(), 4)
  PAD.copy(buf, 12, 0, buf.length - 12)
  return buf
}

const messageOf = (seq, size, binary) => (binary ? bytesOf(seq, size) : payloadOf(seq, size))

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
      // The same for the history's bytes per topic; its totals stay.
      if (s.history) s.history = { topics: s.history.topics, entries: s.history.entries, bytes: s.history.bytes }
      return { connections: s.connections, channels: s.channels, presenceEntries: s.presence.entries, history: s.history ?? null, hub: s }
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

async function startHornbeamHttp({ history } = {}) {
  const { core, from } = await channelsCore()
  const { createHub, silentLogger } = core
  let adapter
  if (options.redisUrl) adapter = await redisAdapterFor(options.redisUrl)
  if (options.redisCluster) adapter = await redisAdapterFor(options.redisCluster, true)
  const base = options.defaults ? {} : hubOptions
  const hub = createHub({ ...base, logger: silentLogger, ...(adapter ? { adapter } : {}), ...(history === false ? { history: false } : {}) })
  await hub.ready?.()
  const common = await hornbeamCommon(hub)
  const server = createServer((_req, res) => res.end('ok'))
  hub.attach(server, { path: '/ws' })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return listening(common, server, from, () => hub.close())
}

/** A Hornbeam server on a listening node:http server: closing closes the hub (or its mount), then the server. */
function listening(common, server, from, closeHub) {
  return {
    ...common,
    port: server.address().port,
    path: '/ws/websocket',
    from,
    close: async () => {
      await closeHub()
      server.closeAllConnections?.()
      server.close()
    },
  }
}

/** The Redis adapter on `url`, or with `cluster` on the Redis Cluster whose seeds `url` lists (host:port,...). */
async function redisAdapterFor(url, cluster = false) {
  const { mod } = await importPackage('@hornbeam/redis', 'redis')
  const { silentLogger } = await import('@hornbeam/channels')
  const where = cluster ? { cluster: { nodes: mod.parseClusterNodes(url) } } : { url }
  // A prefix of our own: other users of this Redis (tests, other runs) never see our channels.
  return mod.redisAdapter({ ...where, logger: silentLogger, keyPrefix: `hornbeam-bench-${options.clusterId ?? 'x'}:` })
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
  return listening(common, server, from, () => mw.close?.() ?? hub.close())
}

async function startHornbeamKoa() {
  const { mod, from } = await importPackage('@hornbeam/koa', 'koa')
  const channels = mod.default ?? mod.channels
  if (typeof channels !== 'function') throw new MissingPackageError(`${from} has no default export (the middleware factory)`)
  const { silentLogger } = await import('@hornbeam/channels')
  const { default: Koa } = await import('koa')
  const app = new Koa()
  const mw = channels({ path: '/ws', ...hubOptions, logger: silentLogger })
  app.use(mw)
  app.use((ctx) => {
    ctx.body = 'ok'
  })
  // app.listen's server is attached for every channels middleware in app.middleware (@hornbeam/koa).
  const server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
  const hub = mw.hub
  const common = await hornbeamCommon(hub)
  return listening(common, server, from, () => mw.close?.() ?? hub.close())
}

async function startHornbeamHono() {
  const { mod, from } = await importPackage('@hornbeam/hono', 'hono')
  const createChannels = mod.default ?? mod.createChannels
  if (typeof createChannels !== 'function') throw new MissingPackageError(`${from} does not export createChannels`)
  const { silentLogger } = await import('@hornbeam/channels')
  const { Hono } = await import('hono')
  const { serve } = await import('@hono/node-server')
  const channels = createChannels({ path: '/ws', ...hubOptions, logger: silentLogger })
  const app = new Hono()
  app.use(channels.middleware)
  channels.routes(app)
  app.get('/', (c) => c.text('ok'))
  const server = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', websocket: channels.websocket }, () => resolve(s))
    s.once('error', reject)
  })
  const hub = channels.hub
  const common = await hornbeamCommon(hub)
  return listening(common, server, from, () => channels.close?.() ?? hub.close())
}

async function startHornbeamNest() {
  // Nest's decorators read metadata through reflect-metadata: loaded before anything of Nest's.
  await import('reflect-metadata')
  const { mod, from } = await importPackage('@hornbeam/nestjs', 'nestjs')
  const { ChannelsModule, CHANNELS_HUB } = mod
  if (typeof ChannelsModule?.forRoot !== 'function') throw new MissingPackageError(`${from} does not export ChannelsModule`)
  const { silentLogger } = await import('@hornbeam/channels')
  const { Module } = await import('@nestjs/common')
  const { NestFactory } = await import('@nestjs/core')
  // `@Module({ imports: [...] })` without decorator syntax: the decorator applied by hand.
  class BenchModule {}
  Module({ imports: [ChannelsModule.forRoot({ path: '/ws', ...hubOptions, logger: silentLogger })] })(BenchModule)
  const app = await NestFactory.create(BenchModule, { logger: false }) // platform-express, Nest's default
  await app.listen(0, '127.0.0.1')
  // The hub the module created (global: CHANNELS_HUB resolves from the app).
  const hub = app.get(CHANNELS_HUB)
  const common = await hornbeamCommon(hub)
  const server = app.getHttpServer()
  return {
    ...common,
    port: server.address().port,
    path: '/ws/websocket',
    from,
    // The module closes its hub in onModuleDestroy (1012 to clients), then Nest closes the server.
    close: () => app.close(),
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
  if (options.redisCluster) {
    // Socket.IO's sharded adapter (Redis 7 SPUBLISH/SSUBSCRIBE) on ioredis Clusters, its
    // subscriber with ioredis's sharded subscribers (one connection per master), in its default
    // subscription mode ('dynamic': a channel per room).
    const { createShardedAdapter } = await import('@socket.io/redis-adapter')
    const { Cluster } = await import('ioredis')
    const nodes = options.redisCluster.split(',').map((s) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) }))
    const pub = new Cluster(nodes)
    const sub = new Cluster(nodes, { shardedSubscribers: true })
    io.adapter(createShardedAdapter(pub, sub, { channelPrefix: `socket.io-bench-${options.clusterId ?? 'x'}` }))
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
  'hornbeam-http-nohistory': () => startHornbeamHttp({ history: false }),
  'hornbeam-fastify': startHornbeamFastify,
  'hornbeam-express': startHornbeamExpress,
  'hornbeam-koa': startHornbeamKoa,
  'hornbeam-hono': startHornbeamHono,
  'hornbeam-nest': startHornbeamNest,
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
    srv.broadcast(m.topic, messageOf(m.seq, m.size, m.binary))
    if (queue.length > 0) setImmediate(drain)
    else draining = false
  }
  // Broadcasts spread over many topics (bench/lib/history-cost.mjs): `perTurn` per event-loop
  // turn, the topics taken in turn, so many topics of few subscribers each cost what they cost.
  const spread = []
  let spreading = false
  const drainSpread = () => {
    for (let i = 0, n = spread[0].perTurn; i < n && spread.length > 0; i++) {
      const head = spread[0]
      srv.broadcast(`${head.prefix}${head.topic}`, payloadOf(head.seq, head.size))
      head.seq++
      head.topic = (head.topic + 1) % head.topics
      if (--head.count === 0) spread.shift()
    }
    if (spread.length > 0) setImmediate(drainSpread)
    else spreading = false
  }
  let profiler
  const ops = {
    /**
     * Broadcasts `count` messages of `size` bytes to `topic`, numbered from `seq`: all in this
     * turn when `burst`, else one per turn; JSON payloads, or bytes when `binary`.
     */
    broadcast({ topic, seq, count = 1, size, burst = false, binary = false }) {
      if (burst) {
        for (let i = 0; i < count; i++) srv.broadcast(topic, messageOf(seq + i, size, binary))
        return
      }
      for (let i = 0; i < count; i++) queue.push({ topic, seq: seq + i, size, binary })
      if (!draining) {
        draining = true
        setImmediate(drain)
      }
    },
    /**
     * Broadcasts `count` messages of `size` bytes numbered from `seq`, the first to topic
     * `<prefix><topic>`, each next one to the next topic (modulo `topics`); `perTurn` per turn.
     */
    broadcastSpread({ prefix, topics, topic, seq, count, size, perTurn = 1 }) {
      if (count <= 0) return
      spread.push({ prefix, topics, topic: topic % topics, seq, count, size, perTurn })
      if (!spreading) {
        spreading = true
        setImmediate(drainSpread)
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
    /** This process's CPU time (process.cpuUsage: µs, not /proc's 10 ms ticks) and the monotonic time. */
    cpu() {
      const { user, system } = process.cpuUsage()
      return { user, system, micros: user + system, at: nowMicros() }
    },
    /** The active handles and requests by type (process.getActiveResourcesInfo): timers, sockets, ... */
    resources() {
      const counts = {}
      for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1
      return counts
    },
    /** Starts V8's CPU profiler in this process (node:inspector), for one window of a run. */
    async profileStart({ intervalMicros = 1000 } = {}) {
      const { Session } = await import('node:inspector/promises')
      profiler = new Session()
      profiler.connect()
      await profiler.post('Profiler.enable')
      await profiler.post('Profiler.setSamplingInterval', { interval: intervalMicros })
      await profiler.post('Profiler.start')
      return { started: true }
    },
    /** Stops the profiler and writes the profile to `path` (a .cpuprofile, for bench/lib/profile.mjs). */
    async profileStop({ path }) {
      const { profile } = await profiler.post('Profiler.stop')
      profiler.disconnect()
      profiler = undefined
      const { writeFileSync } = await import('node:fs')
      writeFileSync(path, JSON.stringify(profile))
      return { path }
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
  serveRequests(ops)
  send({ type: 'ready', port: srv.port, path: srv.path, from: srv.from, pid: process.pid })
}
