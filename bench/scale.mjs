#!/usr/bin/env node
// Many sockets on one server process: Hornbeam on node:http with the hub's default options against
// the bare `ws` server (the ceiling), one after the other in one run, each in a process of its
// own (`--expose-gc`), the clients spread over several load-generator processes that each bind
// a source address of their own (127.0.0.2, 127.0.0.3, ...) so no address runs out of ephemeral
// ports. Per server:
//   1. connect: every socket opens and joins one topic at a bounded concurrency, waiting for its
//      join reply: sockets held and joined, connect+join rate, time until all joined;
//   2. memory: the server's RSS and heap after two full GCs, minus before any connection, ÷ sockets;
//   3. idle: everything open, no broadcasts, for --idle-seconds: the server's CPU (process.cpuUsage)
//      per socket per second, once with the clients' heartbeats (every 30 s, phases spread evenly,
//      as phoenix.js sends them) and once quiet (heartbeats paused: only the server's own timers,
//      e.g. the hub's idle sweep); its active timers, to show there is none per socket;
//   4. broadcasts: --broadcasts messages of 100 B to the topic, one at a time (the next 50 ms after
//      every socket got the previous one): server CPU per delivery (process.cpuUsage), time from broadcast to
//      the last delivery (p50 and max over broadcasts), every socket's count checked.
//
//   node bench/scale.mjs                 19,000 sockets, 4 load generators
//   node bench/scale.mjs --quick         2,000 sockets
// Options:
//   --sockets n        sockets per server (default 19000; quick 2000); the server holds them all,
//                      so n must stay under its open-file limit (`ulimit -n`)
//   --generators n     load-generator processes (default 4; quick 2), each with its own source
//                      address; sockets per generator must stay under its open-file limit and the
//                      ephemeral port range
//   --servers a,b      of hornbeam-http,hornbeam-http-nohistory,ws-raw (default hornbeam-http,ws-raw)
//   --concurrency n    connects (with their join) in flight, over all generators (default 256)
//   --idle-seconds s   each idle window (default 10; quick 4)
//   --heartbeat-ms n   the clients' heartbeat period (default 30000, phoenix.js's)
//   --heartbeat-tick-ms n   each generator's heartbeat timer ticks this often and sends the
//                      heartbeats due (default 10: close to independent clients, whose heartbeats
//                      reach the server one by one, not in batches)
//   --profile-idle dir after the measured idle windows, one more with heartbeats under V8's CPU
//                      profiler (started in the server over IPC, node:inspector): the .cpuprofile
//                      goes to dir, its summary (bench/lib/profile.mjs) to the results
//   --heap             after the broadcasts, a heap snapshot of each server (bench/lib/heap.mjs):
//                      Timeout objects and closures per socket (slow with many sockets)
//   --broadcasts n     measured broadcasts (default 20), after 3 unmeasured ones
//   --size n           payload bytes (default 100)
//   --out dir          where results go (default bench/results): scale-<date>[-quick].{json,md}
//                      and scale-latest[-quick].{json,md} (not with a custom count or selection)
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import os, { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connectClients, measuredPump, settledMemory, sleep, startGenerators, startServer, stopAll, sum, urlOf, waitConnections } from './lib/fanout.mjs'
import { cpuMicros, machineInfo, machineTicks } from './lib/proc.mjs'
import { renderScaleMarkdown, renderScaleSvg, scaleGoals } from './lib/scale-report.mjs'
import { aggregate } from './lib/heap.mjs'
import { summarizeProfiles } from './lib/profile.mjs'

const argv = process.argv.slice(2)
const flag = (name) => argv.includes(`--${name}`)
const option = (name) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : undefined
}
const quick = flag('quick')
const cfg = {
  sockets: Number(option('sockets') ?? (quick ? 2000 : 19_000)),
  generators: Number(option('generators') ?? (quick ? 2 : 4)),
  servers: (option('servers') ?? 'hornbeam-http,ws-raw').split(','),
  concurrency: Number(option('concurrency') ?? 256),
  idleSeconds: Number(option('idle-seconds') ?? (quick ? 4 : 10)),
  heartbeatMs: Number(option('heartbeat-ms') ?? 30_000),
  heartbeatTickMs: Number(option('heartbeat-tick-ms') ?? 10),
  heap: flag('heap'),
  profileIdle: option('profile-idle'),
  broadcasts: Number(option('broadcasts') ?? 20),
  warmupBroadcasts: 3,
  gapMs: 50,
  size: Number(option('size') ?? 100),
  topic: 'bench:scale',
}
const LABELS = {
  'hornbeam-http': 'Hornbeam (node:http, hub defaults)',
  'hornbeam-http-nohistory': 'Hornbeam (node:http, hub defaults, history off)',
  'ws-raw': 'raw ws (ceiling)',
}
for (const s of cfg.servers) if (!LABELS[s]) throw new Error(`unknown server ${s}: one of ${Object.keys(LABELS).join(', ')}`)
const benchDir = fileURLToPath(new URL('.', import.meta.url))
const outDir = option('out') ?? join(benchDir, 'results')
const machine = machineInfo()

// Limits: the server holds every socket; each generator its share (plus a few files of its own).
const FILES_OF_OUR_OWN = 64
const perGenerator = Math.ceil(cfg.sockets / cfg.generators)
const ports = machine.localPortRange ? machine.localPortRange[1] - machine.localPortRange[0] + 1 : Infinity
if (machine.fdLimit && cfg.sockets + FILES_OF_OUR_OWN > machine.fdLimit) {
  throw new Error(`${cfg.sockets} sockets: the server may open ${machine.fdLimit} files (ulimit -n); at most ${machine.fdLimit - FILES_OF_OUR_OWN}`)
}
if (machine.fdLimit && perGenerator + FILES_OF_OUR_OWN > machine.fdLimit) throw new Error(`${perGenerator} sockets per generator: over the open-file limit ${machine.fdLimit}: use more --generators`)
if (perGenerator > ports) throw new Error(`${perGenerator} sockets per generator: over the ${ports} ephemeral ports of one source address: use more --generators`)
// One source address per generator and server, fresh for each server: a closed socket's
// TIME_WAIT never stands in the way of the next server's connections.
const sourceAddresses = (serverIndex) => Array.from({ length: cfg.generators }, (_, i) => {
  const n = 2 + serverIndex * cfg.generators + i
  return `127.0.${Math.floor(n / 256)}.${n % 256}`
})

const t0 = Date.now()
const log = (...a) => console.log(`[scale ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a)

/** The server's CPU (process.cpuUsage, µs) and the machine's ticks over `seconds` of waiting. */
async function idleWindow(server, seconds, gens) {
  const heartbeatsSent = async () => sum((await Promise.all(gens.map((g) => g.request('heartbeats', { on: true, periodMs: cfg.heartbeatMs, tickMs: cfg.heartbeatTickMs })))).map((r) => r.sent))
  const sent0 = gens ? await heartbeatsSent() : 0
  const genCpu0 = gens ? sum(gens.map((g) => cpuMicros(g.pid))) : 0
  const m0 = machineTicks()
  const a = await server.request('cpu')
  await sleep(seconds * 1000)
  const b = await server.request('cpu')
  const m1 = machineTicks()
  const sent1 = gens ? await heartbeatsSent() : 0
  const wallSeconds = (b.at - a.at) / 1e6
  return {
    seconds: +wallSeconds.toFixed(3),
    serverCpuMicros: b.micros - a.micros,
    serverCpuMicrosPerSecond: +((b.micros - a.micros) / wallSeconds).toFixed(1),
    heartbeats: sent1 - sent0,
    clientsCoreShare: gens ? +((sum(gens.map((g) => cpuMicros(g.pid))) - genCpu0) / 1e6 / wallSeconds).toFixed(3) : null,
    machineBusyShare: +((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)).toFixed(3),
  }
}

/** Timers and closures in a heap snapshot of the server, in all and per socket. */
async function heapCounts(server, sockets) {
  const path = join(tmpdir(), `scale-${process.pid}-${server.pid}.heapsnapshot`)
  try {
    await server.request('heapSnapshot', { path }, 600_000)
    const { groups } = aggregate(path)
    const count = (f) => sum(groups.filter(f).map((g) => g.count))
    const timeouts = count((g) => g.name === 'Timeout')
    const closures = count((g) => g.name.startsWith('closure '))
    const top = groups.filter((g) => g.name.startsWith('closure ')).slice(0, 8).map((g) => ({ name: g.name, count: g.count }))
    return { timeouts, closures, closuresPerSocket: +(closures / sockets).toFixed(3), timeoutsPerSocket: +(timeouts / sockets).toFixed(4), biggestClosureGroups: top }
  } finally {
    rmSync(path, { force: true })
  }
}

async function runServer(key, serverIndex) {
  const row = { server: key, label: LABELS[key], sockets: cfg.sockets, status: 'ok', problems: [] }
  const started = await startServer(key, { extra: { defaults: true }, name: `server ${key}` })
  if (started.error) return { ...row, status: 'failed', error: started.error }
  const { child: server, ready } = started
  row.from = ready.from
  const gens = await startGenerators(cfg.generators)
  const pids = { server: [server.pid], clients: gens.map((g) => g.pid), orchestrator: [process.pid] }
  const addresses = sourceAddresses(serverIndex)
  row.sourceAddresses = addresses
  try {
    // Before any connection: memory, and what the process spends on its own with no socket.
    const before = await settledMemory(server, server.pid, 300)
    row.empty = await idleWindow(server, Math.min(5, cfg.idleSeconds))
    row.resourcesEmpty = await server.request('resources')
    // Heartbeats run from the start: a client's first one comes within a period of its join.
    await Promise.all(gens.map((g) => g.request('heartbeats', { on: true, periodMs: cfg.heartbeatMs, tickMs: cfg.heartbeatTickMs })))

    // 1. connect and join
    log(`${key}: connecting ${cfg.sockets} sockets from ${addresses[0]}…${addresses.at(-1)}, ${cfg.concurrency} at a time`)
    const connect = await connectClients(gens, {
      kind: 'hornbeam', url: urlOf(key, ready), total: cfg.sockets, topic: cfg.topic,
      concurrency: Math.max(1, Math.round(cfg.concurrency / cfg.generators)), localAddresses: addresses,
    })
    const stats = await waitConnections(server, connect.opened, 30_000)
    row.connect = { ...connect, serverConnections: stats.connections, serverChannels: stats.channels }
    log(`  ${connect.opened} open, ${connect.joined} joined in ${connect.seconds.toFixed(1)} s (${connect.perSecond}/s)${connect.failed ? `, ${connect.failed} failed: ${connect.errors.join('; ')}` : ''}`)
    if (connect.joined !== cfg.sockets) row.problems.push(`only ${connect.joined} of ${cfg.sockets} joined (${connect.failed} failed: ${connect.errors.join('; ')})`)

    // 2. memory
    const after = await settledMemory(server, server.pid, 1000)
    const n = Math.max(1, connect.joined)
    row.memory = {
      rssBefore: before.rss,
      rssAfter: after.rss,
      heapBefore: before.heapUsed,
      heapAfter: after.heapUsed,
      rssBytesPerSocket: Math.round((after.rss - before.rss) / n),
      heapBytesPerSocket: Math.round((after.heapUsed - before.heapUsed) / n),
    }
    row.resources = await server.request('resources')
    log(`  ${row.memory.rssBytesPerSocket} B RSS and ${row.memory.heapBytesPerSocket} B heap per socket; TCP sockets ${row.resources.TCPSocketWrap ?? 0}`)

    // 3. idle, with heartbeats, then quiet
    const hb = await idleWindow(server, cfg.idleSeconds, gens)
    await Promise.all(gens.map((g) => g.request('heartbeats', { on: false })))
    const quiet = await idleWindow(server, cfg.idleSeconds)
    await Promise.all(gens.map((g) => g.request('heartbeats', { on: true, periodMs: cfg.heartbeatMs, tickMs: cfg.heartbeatTickMs })))
    if (cfg.profileIdle) {
      const dir = join(cfg.profileIdle, key)
      mkdirSync(dir, { recursive: true })
      await server.request('profileStart')
      const profiled = await idleWindow(server, cfg.idleSeconds, gens)
      await server.request('profileStop', { path: join(dir, `idle-${server.pid}.cpuprofile`) }, 60_000)
      row.idleProfile = { window: profiled, ...summarizeProfiles(dir, 20) }
      log(`  idle under the profiler: ${profiled.serverCpuMicrosPerSecond} µs/s; top: ${row.idleProfile.topSelf?.slice(0, 5).map((t) => `${t.function} ${t.percent}%`).join(', ')}`)
    }
    const perSocket = (w) => +(w.serverCpuMicrosPerSecond / n).toFixed(4)
    const net = (w) => +((w.serverCpuMicrosPerSecond - row.empty.serverCpuMicrosPerSecond) / n).toFixed(4)
    row.idle = {
      heartbeats: {
        ...hb,
        microsPerSocketPerSecond: perSocket(hb),
        netMicrosPerSocketPerSecond: net(hb),
        // What a heartbeat costs: the window's CPU beyond the quiet window's rate, per heartbeat.
        microsPerHeartbeat: hb.heartbeats ? +(((hb.serverCpuMicrosPerSecond - quiet.serverCpuMicrosPerSecond) * hb.seconds) / hb.heartbeats).toFixed(2) : null,
      },
      quiet: { ...quiet, microsPerSocketPerSecond: perSocket(quiet), netMicrosPerSocketPerSecond: net(quiet) },
    }
    log(`  idle: ${row.idle.heartbeats.microsPerSocketPerSecond} µs/socket/s with heartbeats (${hb.heartbeats} in ${hb.seconds} s), ${row.idle.quiet.microsPerSocketPerSecond} quiet; ${row.empty.serverCpuMicrosPerSecond} µs/s with no socket`)

    // 4. broadcasts reaching every socket, one at a time
    const lastDelivery = new Map() // seq -> { t, at, gens }
    const off = gens.map((g) =>
      g.onReport((m) => {
        if (m.type !== 'done' || m.t === undefined) return
        const d = lastDelivery.get(m.seq) ?? { t: m.t, at: 0, gens: 0 }
        d.at = Math.max(d.at, m.at)
        d.gens++
        lastDelivery.set(m.seq, d)
      }),
    )
    const pace = { server, gens, pids, topic: cfg.topic, size: cfg.size, window: 1, gapMs: cfg.gapMs, stallMs: 30_000 }
    const warm = await measuredPump({ ...pace, maxMessages: cfg.warmupBroadcasts, seqStart: 1 })
    const firstMeasured = warm.seqNext
    const cpu0 = await server.request('cpu')
    const b = await measuredPump({ ...pace, maxMessages: cfg.broadcasts, seqStart: firstMeasured })
    const cpu1 = await server.request('cpu')
    // process.cpuUsage in the server (µs) rather than /proc's 10 ms ticks; /proc's figure stays beside it.
    b.procServerCpuMicrosPerDelivery = b.serverCpuMicrosPerDelivery
    b.serverCpuMicros = cpu1.micros - cpu0.micros
    b.serverCpuMicrosPerDelivery = b.deliveries > 0 ? +((cpu1.micros - cpu0.micros) / b.deliveries).toFixed(3) : null
    for (const o of off) o()
    const times = []
    for (let s = firstMeasured; s < b.seqNext; s++) {
      const d = lastDelivery.get(s)
      if (d && d.gens === gens.length) times.push((d.at - d.t) / 1000)
    }
    times.sort((x, y) => x - y)
    row.broadcasts = {
      ...b,
      warmupMissing: warm.missing,
      toLastDeliveryMs: {
        n: times.length,
        p50: times.length ? +times[Math.ceil(0.5 * times.length) - 1].toFixed(1) : null,
        max: times.length ? +times.at(-1).toFixed(1) : null,
        each: times.map((x) => +x.toFixed(1)),
      },
    }
    if (b.missing || warm.missing) row.problems.push(`${b.missing + warm.missing} deliveries missing (${b.clientsShort} sockets short, ${b.clientsClosed} closed)`)
    log(`  broadcasts: ${b.messages} × ${b.subscribers}: ${b.serverCpuMicrosPerDelivery} µs server CPU/delivery, last delivery p50 ${row.broadcasts.toLastDeliveryMs.p50} ms max ${row.broadcasts.toLastDeliveryMs.max} ms, missing ${b.missing}`)
    const final = await server.request('stats', {}, 30_000)
    row.serverStats = { connections: final.connections, channels: final.channels, ...(final.hub ? { framesOut: final.hub.framesOut, slowConsumers: final.hub.slowConsumers, droppedFrames: final.hub.droppedFrames, rateLimited: final.hub.rateLimited } : {}) }
    if (final.connections !== cfg.sockets) row.problems.push(`the server holds ${final.connections} connections at the end, not ${cfg.sockets}`)
    if (cfg.heap) row.heap = await heapCounts(server, n)
  } catch (err) {
    row.status = 'failed'
    row.error = String(err?.stack ?? err).split('\n').slice(0, 6).join('\n')
    log(`  failed: ${row.error}`)
  } finally {
    await Promise.all(gens.map((g) => g.request('close', {}, 60_000).catch(() => {})))
    const left = await waitConnections(server, 0, 20_000).catch(() => null)
    row.connectionsLeftAfterClose = left?.connections ?? null
    await stopAll([...gens, server])
  }
  if (row.status === 'ok' && row.problems.length) row.status = 'problems'
  return row
}

// -- main

const startedAt = new Date()
const result = {
  benchmark: 'hornbeam-scale',
  quick,
  startedAt: startedAt.toISOString(),
  machine,
  config: cfg,
  rows: [],
}
log(`${cfg.sockets} sockets per server, ${cfg.generators} load generators (${perGenerator} each), servers ${cfg.servers.join(', ')}`)
for (const [i, key] of cfg.servers.entries()) {
  result.rows.push(await runServer(key, i))
  await sleep(1000)
}
result.goals = scaleGoals(result)
result.seconds = Math.round((Date.now() - t0) / 1000)
result.machine.loadAverageAtEnd = os.loadavg()
mkdirSync(outDir, { recursive: true })
const stamp = startedAt.toISOString().slice(0, 16).replace(/:/g, '')
const custom = ['sockets', 'generators', 'servers', 'idle-seconds', 'broadcasts', 'size', 'heartbeat-ms', 'heartbeat-tick-ms', 'concurrency'].some((o) => option(o) !== undefined)
const base = `scale-${stamp}${quick ? '-quick' : ''}${custom ? '-custom' : ''}`
const files = { json: JSON.stringify(result, null, 2) + '\n', md: renderScaleMarkdown(result), svg: renderScaleSvg(result) }
for (const [ext, text] of Object.entries(files)) {
  writeFileSync(join(outDir, `${base}.${ext}`), text)
  if (!custom) copyFileSync(join(outDir, `${base}.${ext}`), join(outDir, `scale-latest${quick ? '-quick' : ''}.${ext}`))
}
log(`wrote ${join(outDir, base)}.{json,md,svg}`)
process.exitCode = result.rows.every((r) => r.status === 'ok') ? 0 : 1
