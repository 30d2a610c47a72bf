// The long-poll scenario (`node bench/run.mjs --scenarios longpoll`): Hornbeam on node:http
// (bench/server.mjs, hornbeam-http, a child process) and long-poll clients in another
// (bench/lib/longpoll-loadgen.mjs).
//
// 1. Sessions opened per second: `opens` GETs that open a session (the checks, the connect hook,
//    a Connection, a signed token), `concurrency` at a time over kept-alive connections; the
//    server's CPU time per open from /proc. Beside it, the same number of GETs of a plain route
//    of the same server (`res.end('ok')`), measured the same way: what any HTTP request costs there.
// 2. Memory per idle long-poll session: N sessions joined to one topic, each with a poll waiting at
//    the server (as an idle phoenix.js client keeps one), RSS and heap of the server after two full
//    GCs minus before, ÷ N. Beside it, for reference, N idle WebSockets joined to one topic, in a
//    fresh server process, measured the same way.
import { connectClients, settledMemory, sleep, startGenerators, startServer, stopAll, waitConnections } from './fanout.mjs'
import { Child } from './child.mjs'
import { cpuDelta, cpuSnapshot } from './proc.mjs'

export const LONGPOLL_CONFIG = {
  full: { opens: 10_000, idle: 5_000, concurrency: 32 },
  quick: { opens: 2_000, idle: 1_000, concurrency: 32 },
  tiny: { opens: 40, idle: 20, concurrency: 4 },
}

async function withServer(fn) {
  const started = await startServer('hornbeam-http', { name: 'server hornbeam-http (long-poll)' })
  if (started.error) throw new Error(`server did not start: ${started.error}`)
  const { child, ready } = started
  try {
    return await fn(child, ready)
  } finally {
    await child.stop(8000)
  }
}

async function opensPerSecond(cfg, log) {
  return withServer(async (server, ready) => {
    const gen = new Child('lib/longpoll-loadgen.mjs', [], { name: 'longpoll loadgen' })
    try {
      await gen.ready
      const url = `http://127.0.0.1:${ready.port}/ws/longpoll`
      // Warm-up: the first opens pay for the JIT and the agent's connections.
      await gen.request('open', { url, count: Math.min(200, cfg.opens), concurrency: cfg.concurrency }, 120_000)
      await gen.request('stop', {}, 30_000)
      const pids = { server: [ready.pid], clients: [gen.pid] }
      // The server's CPU from process.cpuUsage (µs): /proc's 10 ms ticks read 0 for a short phase.
      const before = cpuSnapshot(pids)
      const serverBefore = await server.request('cpu')
      const r = await gen.request('open', { url, count: cfg.opens, concurrency: cfg.concurrency }, 600_000)
      const serverMicros = (await server.request('cpu')).micros - serverBefore.micros
      const cpu = cpuDelta(before, cpuSnapshot(pids))
      await gen.request('stop', {}, 30_000)
      const plainUrl = `http://127.0.0.1:${ready.port}/plain`
      await gen.request('plain', { url: plainUrl, count: Math.min(200, cfg.opens), concurrency: cfg.concurrency }, 120_000)
      const plainBefore = cpuSnapshot(pids)
      const plainServerBefore = await server.request('cpu')
      const plain = await gen.request('plain', { url: plainUrl, count: cfg.opens, concurrency: cfg.concurrency }, 600_000)
      const plainServerMicros = (await server.request('cpu')).micros - plainServerBefore.micros
      const plainCpu = cpuDelta(plainBefore, cpuSnapshot(pids))
      const row = {
        sessions: cfg.opens,
        concurrency: cfg.concurrency,
        opened: r.opened,
        failed: r.failed,
        errors: r.errors,
        seconds: r.seconds,
        opensPerSecond: r.perSecond,
        serverCpuMicrosPerOpen: +(serverMicros / Math.max(1, r.opened)).toFixed(2),
        serverCoreShare: +cpu.groups.server.coreShare.toFixed(3),
        clientsCoreShare: +cpu.groups.clients.coreShare.toFixed(3),
        machineBusyShare: +cpu.machineBusyShare.toFixed(3),
        plain: {
          requests: plain.ok,
          perSecond: plain.perSecond,
          serverCpuMicrosPerRequest: +(plainServerMicros / Math.max(1, plain.ok)).toFixed(2),
          serverCoreShare: +plainCpu.groups.server.coreShare.toFixed(3),
          clientsCoreShare: +plainCpu.groups.clients.coreShare.toFixed(3),
        },
      }
      log(`long-poll: ${row.opensPerSecond} sessions opened/s, ${row.serverCpuMicrosPerOpen.toFixed(1)} µs server CPU/open (${r.opened}/${cfg.opens}); a plain request: ${plain.perSecond}/s, ${row.plain.serverCpuMicrosPerRequest.toFixed(1)} µs`)
      return row
    } finally {
      await gen.stop()
    }
  })
}

async function idleLongPoll(cfg, log) {
  return withServer(async (server, ready) => {
    const gen = new Child('lib/longpoll-loadgen.mjs', [], { name: 'longpoll loadgen' })
    try {
      await gen.ready
      const before = await settledMemory(server, ready.pid)
      const opened = await gen.request('open', { url: `http://127.0.0.1:${ready.port}/ws/longpoll`, count: cfg.idle, concurrency: cfg.concurrency }, 600_000)
      const joined = await gen.request('join', { topic: 'bench:lp', concurrency: cfg.concurrency }, 600_000)
      await gen.request('idle', {}, 30_000)
      // Every session has a poll on its way or waiting; give the last ones a moment to land.
      await sleep(500)
      const after = await settledMemory(server, ready.pid)
      const stats = await server.request('stats', {}, 30_000)
      const polled = await gen.request('stop', {}, 30_000)
      const n = joined.joined
      const row = {
        sessions: cfg.idle,
        opened: opened.opened,
        joined: n,
        errors: [...opened.errors, ...joined.errors],
        serverSessions: stats.hub.longPollSessions,
        channels: stats.channels,
        pollErrors: polled.pollErrors,
        rssBytesPerSession: (after.rss - before.rss) / n,
        heapBytesPerSession: (after.heapUsed - before.heapUsed) / n,
        externalBytesPerSession: (after.external - before.external) / n,
      }
      log(`long-poll: ${Math.round(row.rssBytesPerSession)} B RSS, ${Math.round(row.heapBytesPerSession)} B heap per idle session (${n} joined)`)
      return row
    } finally {
      await gen.stop()
    }
  })
}

async function idleWebSocket(cfg, log) {
  return withServer(async (server, ready) => {
    const gens = await startGenerators(1)
    try {
      const before = await settledMemory(server, ready.pid)
      const connect = await connectClients(gens, { kind: 'hornbeam', url: `ws://127.0.0.1:${ready.port}${ready.path}`, total: cfg.idle, topic: 'bench:ws', concurrency: cfg.concurrency })
      await waitConnections(server, cfg.idle)
      const after = await settledMemory(server, ready.pid)
      const n = connect.joined
      const row = {
        sockets: cfg.idle,
        joined: n,
        errors: connect.errors,
        rssBytesPerSocket: (after.rss - before.rss) / n,
        heapBytesPerSocket: (after.heapUsed - before.heapUsed) / n,
        externalBytesPerSocket: (after.external - before.external) / n,
      }
      log(`long-poll reference: ${Math.round(row.rssBytesPerSocket)} B RSS, ${Math.round(row.heapBytesPerSocket)} B heap per idle WebSocket (${n} joined)`)
      return row
    } finally {
      await Promise.all(gens.map((g) => g.request('close', {}, 60_000).catch(() => {})))
      await stopAll(gens)
    }
  })
}

/** Runs the scenario; never throws (a failure is the result's `status` and `error`). */
export async function runLongPoll({ mode, log }) {
  const cfg = LONGPOLL_CONFIG[mode] ?? LONGPOLL_CONFIG.quick
  try {
    const opens = await opensPerSecond(cfg, log)
    const idle = await idleLongPoll(cfg, log)
    const websocket = await idleWebSocket(cfg, log)
    const problems = []
    if (opens.failed > 0) problems.push(`${opens.failed} of ${opens.sessions} opens failed: ${opens.errors.join('; ')}`)
    if (idle.joined !== idle.sessions) problems.push(`${idle.joined} of ${idle.sessions} long-poll sessions joined: ${idle.errors.join('; ')}`)
    if (idle.serverSessions !== idle.sessions) problems.push(`the server held ${idle.serverSessions} long-poll sessions, not ${idle.sessions}`)
    if (websocket.joined !== websocket.sockets) problems.push(`${websocket.joined} of ${websocket.sockets} WebSockets joined`)
    return { status: problems.length ? 'failed' : 'ok', error: problems.join('; ') || undefined, config: cfg, opens, idle, websocket }
  } catch (err) {
    return { status: 'failed', error: String(err?.message ?? err), config: cfg }
  }
}

const fmt = (v, digits = 0) => (typeof v === 'number' && Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–')

export function renderLongPoll(r) {
  const L = ['## Long-poll: sessions opened per second, memory per idle session (`longpoll`)', '']
  if (!r || !r.opens) {
    L.push(`Not measured: ${r?.error ?? 'not run'}`, '')
    return L
  }
  L.push(
    'Hornbeam on node:http (`hornbeam-http`, its own process), long-poll clients in another (`bench/lib/longpoll-loadgen.mjs`, Phoenix\'s protocol as phoenix.js speaks it). ' +
      `Opens: ${fmt(r.opens.sessions)} GETs that open a session, ${r.opens.concurrency} at a time over kept-alive connections, server CPU from /proc. ` +
      `Memory: ${fmt(r.idle.sessions)} sessions joined to one topic, each with a poll waiting at the server as an idle phoenix.js client keeps one; ` +
      'server RSS and heap after two full GCs minus before, ÷ N; beside it the same number of idle WebSockets joined to one topic, in a fresh server process.',
  )
  L.push('')
  L.push('| requests | per second | server CPU µs each | server CPU | clients CPU | answered |')
  L.push('| --- | ---: | ---: | ---: | ---: | ---: |')
  L.push(`| GET that opens a long-poll session | ${fmt(r.opens.opensPerSecond)} | ${fmt(r.opens.serverCpuMicrosPerOpen, 1)} | ${fmt(r.opens.serverCoreShare * 100)}% | ${fmt(r.opens.clientsCoreShare * 100)}% | ${fmt(r.opens.opened)}/${fmt(r.opens.sessions)} |`)
  const plain = r.opens.plain
  if (plain) L.push(`| GET of a plain route, same server (reference) | ${fmt(plain.perSecond)} | ${fmt(plain.serverCpuMicrosPerRequest, 1)} | ${fmt(plain.serverCoreShare * 100)}% | ${fmt(plain.clientsCoreShare * 100)}% | ${fmt(plain.requests)}/${fmt(r.opens.sessions)} |`)
  L.push('')
  L.push('| idle connection, joined to one topic | N | RSS B each | heap B each | external B each |')
  L.push('| --- | ---: | ---: | ---: | ---: |')
  L.push(`| long-poll session (a poll waiting) | ${fmt(r.idle.joined)} | ${fmt(r.idle.rssBytesPerSession)} | ${fmt(r.idle.heapBytesPerSession)} | ${fmt(r.idle.externalBytesPerSession)} |`)
  if (r.websocket) L.push(`| WebSocket (reference) | ${fmt(r.websocket.joined)} | ${fmt(r.websocket.rssBytesPerSocket)} | ${fmt(r.websocket.heapBytesPerSocket)} | ${fmt(r.websocket.externalBytesPerSocket)} |`)
  if (r.status !== 'ok') L.push('', `Problems: ${r.error}`)
  L.push('')
  return L
}
