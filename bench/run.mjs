#!/usr/bin/env node
// Hornbeam Channels benchmark: Hornbeam on node:http, Fastify, Express, Koa, Hono and NestJS
// against a raw `ws` server (the ceiling) and Socket.IO, each in its own process, driven by the
// same load generator.
//
//   node bench/run.mjs            full run (about 10 minutes)
//   node bench/run.mjs --quick    smaller counts (under two minutes)
//   node bench/run.mjs --tiny     a few clients per server; exits non-zero if a server did not
//                                 answer or a message did not arrive (counts only, never times)
// Options:
//   --out <dir>          where results go (default bench/results; --tiny: a temp directory)
//   --servers a,b        a subset of: hornbeam-http,hornbeam-fastify,hornbeam-express,hornbeam-koa,
//                        hornbeam-hono,hornbeam-nest,ws-raw,socketio,
//                        hornbeam-http-nohistory (not run unless named: hornbeam-http with history off;
//                        with hornbeam-http beside it the report compares history on / off)
//   --entries a=path,b=path   builds of the core side by side: each dist/index.js runs as its own
//                        node:http server (replacing hornbeam-http), compared with the first
//   --scenarios a,b      a subset of: fanout,joins,presence,cluster,history-memory,fanout-topics,binary,longpoll
//                        (fanout-topics, many topics of 1 to 10 subscribers, only when named; binary,
//                        binary broadcasts against text ones of the same size, only when named:
//                        takes --subscribers, --sizes, --rounds; longpoll, long-poll sessions
//                        opened/s and memory per idle session, only when named)
//   --per-topic a,b      fanout-topics: subscribers per topic (default 1,2,5,10; quick 1,10)
//   --topic-sockets n    fanout-topics: clients in all (default 1000), spread over sockets/per-topic topics
//   --name <label>       results are written as <label>-<date>-<mode>.* and <label>-latest-<mode>.*
//   --generators <n>     load-generator processes (default 3; tiny 2)
//   --subscribers a,b    fan-out subscriber counts instead of the mode's (full: 1000,5000,10000)
//   --sizes a,b          payload sizes in bytes instead of the mode's (100,1024)
//   --profile / --no-profile   an extra, unscored pass of the hornbeam servers under --cpu-prof
//                        (default on in full runs) with their top self-time functions
//   --rounds <n>         fan-out measurements per cell (median shown; full 3, quick and tiny 1)
//   --profile-dir <dir>  where the .cpuprofile files go (default: a temp directory)
// See bench/README.md for what each scenario measures and how.
import { mkdirSync, copyFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Child } from './lib/child.mjs'
import { clientKindOf, connectClients, measuredPump, settledMemory, sleep, startGenerators, startServer, stopAll, sum, urlOf, waitConnections } from './lib/fanout.mjs'
import { nowMicros } from './lib/hist.mjs'
import { cpuDelta, cpuSnapshot, machineInfo } from './lib/proc.mjs'
import { summarizeProfiles } from './lib/profile.mjs'
import { renderMarkdown, evaluateGoals } from './lib/report.mjs'
import { renderSvg } from './lib/chart.mjs'
import { compareEntries, entriesFromArgs, kindOf, roundOrder, withEntries } from './lib/entries.mjs'
import { combineTopicRounds, compareHistory, fanoutTopicsFor, HISTORY_GROUPS, historyRoundOrder } from './lib/history-cost.mjs'
import { binaryCost } from './lib/binary-cost.mjs'
import { runLongPoll } from './lib/longpoll.mjs'

const argv = process.argv.slice(2)
const flag = (name) => argv.includes(`--${name}`)
const option = (name) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : undefined
}
const mode = flag('tiny') ? 'tiny' : flag('quick') ? 'quick' : 'full'

export const DEFAULT_SERVERS = [
  'hornbeam-http', 'hornbeam-fastify', 'hornbeam-express', 'hornbeam-koa', 'hornbeam-hono', 'hornbeam-nest', 'ws-raw', 'socketio',
]
// hornbeam-http-nohistory runs only when named in --servers (history on / off side by side).
export const ALL_SERVERS = [...DEFAULT_SERVERS, 'hornbeam-http-nohistory']
const HORNBEAM = new Set([
  'hornbeam-http', 'hornbeam-fastify', 'hornbeam-express', 'hornbeam-koa', 'hornbeam-hono', 'hornbeam-nest', 'hornbeam-http-nohistory',
])
const LABELS = {
  'hornbeam-http': 'Hornbeam (node:http)',
  'hornbeam-http-nohistory': 'Hornbeam (node:http, history off)',
  'hornbeam-fastify': 'Hornbeam (Fastify)',
  'hornbeam-express': 'Hornbeam (Express)',
  'hornbeam-koa': 'Hornbeam (Koa)',
  'hornbeam-hono': 'Hornbeam (Hono)',
  'hornbeam-nest': 'Hornbeam (NestJS)',
  'ws-raw': 'raw ws (ceiling)',
  socketio: 'Socket.IO',
}

const configs = {
  full: {
    subscribers: [1000, 5000, 10000],
    sizes: [100, 1024],
    // Each fan-out cell is measured `rounds` times, interleaved with the other servers (a fresh
    // process each time); the tables show the median round. Loopback on two cores is noisy.
    rounds: 3,
    throughputMs: 2500,
    warmupMessages: 20,
    // Messages in flight: enough deliveries queued to keep the pipeline full, whatever the fan-out.
    inFlightDeliveries: 20_000,
    latencyRounds: (n) => (n >= 10000 ? 20 : n >= 5000 ? 30 : 50),
    latencyGapMs: 5,
    burstSize: 10,
    burstMs: 1200,
    joins: { clients: 1000, perClient: 20 },
    generators: 3,
    profile: true,
    topics: { sockets: 1000, perTopic: [1, 2, 5, 10] },
    // fanout-topics warm-up: until every topic's history holds its 100 messages, or this long.
    topicsWarmupMs: 2000,
  },
  quick: {
    rounds: 1,
    subscribers: [500, 1000],
    sizes: [100, 1024],
    throughputMs: 1200,
    warmupMessages: 10,
    inFlightDeliveries: 10_000,
    latencyRounds: () => 15,
    latencyGapMs: 5,
    burstSize: 10,
    burstMs: 600,
    joins: { clients: 500, perClient: 10 },
    generators: 3,
    profile: false,
    topics: { sockets: 1000, perTopic: [1, 10] },
    topicsWarmupMs: 1500,
  },
  tiny: {
    rounds: 1,
    subscribers: [12],
    sizes: [100],
    // Counted, not timed: a fixed number of messages.
    throughputMs: Infinity,
    throughputMessages: 30,
    warmupMessages: 3,
    inFlightDeliveries: 60,
    latencyRounds: () => 10,
    latencyGapMs: 0,
    burstSize: 10,
    burstMs: Infinity,
    burstMessages: 20,
    joins: { clients: 4, perClient: 3 },
    generators: 2,
    profile: false,
    topics: { sockets: 12, perTopic: [1, 3] },
    topicsWarmupMessages: 24,
    topicsWarmupMs: Infinity,
  },
}
const cfg = configs[mode]
cfg.historySize = 100 // the default history: the last 100 broadcasts per topic
cfg.generators = Number(option('generators') ?? cfg.generators)
if (option('subscribers')) cfg.subscribers = option('subscribers').split(',').map(Number)
if (option('rounds')) cfg.rounds = Number(option('rounds'))
if (option('sizes')) cfg.sizes = option('sizes').split(',').map(Number)
if (option('per-topic')) cfg.topics.perTopic = option('per-topic').split(',').map(Number)
if (option('topic-sockets')) cfg.topics.sockets = Number(option('topic-sockets'))
if (flag('profile')) cfg.profile = true
if (flag('no-profile')) cfg.profile = false
const selected = (option('servers')?.split(',') ?? DEFAULT_SERVERS).filter(Boolean)
for (const s of selected) if (!ALL_SERVERS.includes(s)) throw new Error(`unknown server ${s}; known: ${ALL_SERVERS.join(', ')}`)
const entries = entriesFromArgs(option('entries'))
// Server keys: a plain kind, or `hornbeam-http@<name>` for each --entries build.
const servers = withEntries(selected, entries)
/** What a server key runs: its kind, the core build it imports (entries only) and its label. */
function specOf(key) {
  const kind = kindOf(key)
  const entry = entries.find((e) => e.server === key)
  return { kind, entry: entry?.path, label: entry ? `${LABELS[kind]} [${entry.name}]` : LABELS[kind] }
}
const defaultScenarios = mode === 'tiny' ? ['fanout', 'joins'] : ['fanout', 'joins', 'presence', 'cluster', 'history-memory']
const scenarios = option('scenarios')?.split(',') ?? defaultScenarios
const benchDir = fileURLToPath(new URL('.', import.meta.url))
const outDir = option('out') ?? (mode === 'tiny' ? mkdtempSync(join(tmpdir(), 'hornbeam-bench-')) : join(benchDir, 'results'))

const log = (...a) => console.log(`[bench ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a)
const t0 = Date.now()

// -- scenario 1 and 2: fan-out and idle memory, one fresh server process per subscriber count

async function fanoutFor(key, subscribers, { execArgv = [], sizes = cfg.sizes, measureLatency = true } = {}) {
  const { kind, entry, label } = specOf(key)
  const row = { server: key, label, subscribers, status: 'ok', cells: [] }
  const started = await startServer(kind, { execArgv, extra: entry ? { entry } : {}, name: `server ${key}` })
  if (started.error) return { ...row, status: started.missing ? 'missing' : 'failed', error: started.error }
  const { child: server, ready } = started
  row.from = ready.from
  const gens = await startGenerators(cfg.generators)
  const pids = { server: [server.pid], clients: gens.map((g) => g.pid), orchestrator: [process.pid] }
  try {
    const before = await settledMemory(server, server.pid, 100)
    const topic = 'bench:fanout'
    const connect = await connectClients(gens, { kind: clientKindOf(kind), url: urlOf(kind, ready), total: subscribers, topic })
    row.connect = connect
    if (connect.joined !== subscribers) {
      row.status = 'failed'
      row.error = `only ${connect.joined} of ${subscribers} clients joined (${connect.failed} failed: ${connect.errors.join('; ')})`
    }
    const stats = await waitConnections(server, connect.opened)
    row.serverSaw = { connections: stats.connections, channels: stats.channels }
    const after = await settledMemory(server, server.pid, { tiny: 100, quick: 300, full: 700 }[mode])
    row.memory = {
      rssBefore: before.rss,
      rssAfter: after.rss,
      bytesPerConnection: Math.round((after.rss - before.rss) / Math.max(1, connect.joined)),
      heapBytesPerConnection: Math.round((after.heapUsed - before.heapUsed) / Math.max(1, connect.joined)),
    }
    log(`${key} ${subscribers} subscribers: connected in ${connect.seconds.toFixed(1)} s, ${row.memory.bytesPerConnection} B RSS/connection`)
    let seq = 1
    for (const size of sizes) {
      const window = Math.max(2, Math.ceil(cfg.inFlightDeliveries / subscribers))
      // Warm-up: JIT and buffers, not measured.
      const warm = await measuredPump({ server, gens, pids, topic, size, window, maxMessages: cfg.warmupMessages, seqStart: seq })
      seq = warm.seqNext
      const throughput = await measuredPump({
        server, gens, pids, topic, size, window, seqStart: seq,
        durationMs: cfg.throughputMs, maxMessages: cfg.throughputMessages ?? Infinity,
      })
      seq = throughput.seqNext
      // The same with `burstSize` broadcasts per server turn: what per-turn corking can coalesce.
      let burst
      if (cfg.burstSize > 1) {
        burst = await measuredPump({
          server, gens, pids, topic, size, window: Math.max(window, 2 * cfg.burstSize), burst: cfg.burstSize, seqStart: seq,
          durationMs: cfg.burstMs, maxMessages: cfg.burstMessages ?? Infinity,
        })
        seq = burst.seqNext
      }
      let latency
      if (measureLatency) {
        latency = await measuredPump({ server, gens, pids, topic, size, window: 1, gapMs: cfg.latencyGapMs, maxMessages: cfg.latencyRounds(subscribers), seqStart: seq })
        seq = latency.seqNext
      }
      row.cells.push({ size, window, warmup: { messages: warm.messages, missing: warm.missing }, throughput, burst, latency })
      log(
        `  ${size} B: ${throughput.deliveriesPerSecond} deliveries/s, ${throughput.serverCpuMicrosPerDelivery} µs server CPU/delivery,` +
          ` server ${(throughput.serverCoreShare * 100).toFixed(0)}% / clients ${(throughput.clientsCoreShare * 100).toFixed(0)}% of a core,` +
          (latency ? ` paced p50 ${latency.latency.p50Ms} ms p99 ${latency.latency.p99Ms} ms,` : '') +
          (burst ? ` burst of ${cfg.burstSize}: ${burst.serverCpuMicrosPerDelivery} µs/delivery,` : '') +
          ` missing ${throughput.missing + (latency?.missing ?? 0) + (burst?.missing ?? 0) + warm.missing}`,
      )
      if (throughput.missing || latency?.missing || burst?.missing || warm.missing) row.status = 'failed'
    }
    row.serverStats = await server.request('stats', {}, 30_000).then(({ hub, ...rest }) => ({ ...rest, hub: hub && pick(hub, ['framesOut', 'slowConsumers', 'droppedFrames', 'rateLimited', 'malformed']) }))
  } catch (err) {
    row.status = 'failed'
    row.error = String(err?.stack ?? err).split('\n').slice(0, 6).join('\n')
  } finally {
    await Promise.all(gens.map((g) => g.request('close', {}, 60_000).catch(() => {})))
    await waitConnections(server, 0, 5000).catch(() => {})
    await stopAll([...gens, server])
  }
  return row
}

const pick = (o, keys) => Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, o[k]]))

// -- scenario 3: joins per second (with presence tracking on the hornbeam servers)

async function joinsFor(key, { execArgv = [] } = {}) {
  const { clients, perClient } = cfg.joins
  const { kind, entry, label } = specOf(key)
  const row = {
    server: key,
    label,
    status: 'ok',
    what: HORNBEAM.has(kind)
      ? 'join + presence.track in onJoin, reply, presence_state'
      : kind === 'ws-raw' ? 'join reply + empty presence_state only (no presence)' : 'socket.join(room) + ack only (no presence)',
    clients,
    joinsPerClient: perClient,
  }
  const started = await startServer(kind, { execArgv, extra: entry ? { entry } : {}, name: `server ${key}` })
  if (started.error) return { ...row, status: started.missing ? 'missing' : 'failed', error: started.error }
  const { child: server, ready } = started
  row.from = ready.from
  const gens = await startGenerators(cfg.generators)
  const pids = { server: [server.pid], clients: gens.map((g) => g.pid), orchestrator: [process.pid] }
  try {
    const connect = await connectClients(gens, { kind: clientKindOf(kind), url: urlOf(kind, ready), total: clients, topic: null })
    if (connect.opened !== clients) throw new Error(`only ${connect.opened} of ${clients} clients connected: ${connect.errors.join('; ')}`)
    // Warm-up: one join per client on another prefix.
    await Promise.all(gens.map((g) => g.request('joinBurst', { prefix: 'track:w', joins: 1 }, 300_000)))
    await sleep(200)
    const before = cpuSnapshot(pids)
    const results = await Promise.all(gens.map((g) => g.request('joinBurst', { prefix: 'track:j', joins: perClient }, 600_000)))
    const after = cpuSnapshot(pids)
    const cpu = cpuDelta(before, after)
    const ok = sum(results.map((r) => r.ok))
    const total = clients * perClient
    const seconds = (Math.max(...results.map((r) => r.endMicros)) - Math.min(...results.map((r) => r.startMicros))) / 1e6
    await sleep(mode === 'tiny' ? 200 : 300) // let the last presence batch go out before counting
    const stats = await server.request('stats', {}, 30_000)
    Object.assign(row, {
      joins: total,
      ok,
      refused: total - ok,
      seconds: +seconds.toFixed(4),
      joinsPerSecond: Math.round(ok / seconds),
      serverCpuMicrosPerJoin: +(cpu.groups.server.cpuMicros / Math.max(1, ok)).toFixed(2),
      clientsCpuMicrosPerJoin: +(cpu.groups.clients.cpuMicros / Math.max(1, ok)).toFixed(2),
      serverCoreShare: +cpu.groups.server.coreShare.toFixed(3),
      clientsCoreShare: +cpu.groups.clients.coreShare.toFixed(3),
      machineBusyShare: +cpu.machineBusyShare.toFixed(3),
      presenceEntries: stats.presenceEntries,
      // Every measured join plus one warm-up join per client is tracked, on the hornbeam servers.
      expectedPresenceEntries: HORNBEAM.has(kind) ? total + clients : null,
    })
    if (ok !== total) row.status = 'failed'
    if (HORNBEAM.has(kind) && stats.presenceEntries !== total + clients) row.status = 'failed'
    log(`joins ${key}: ${row.joinsPerSecond} joins/s, ${row.serverCpuMicrosPerJoin} µs server CPU/join, ${ok}/${total} ok, presence ${stats.presenceEntries}`)
  } catch (err) {
    row.status = 'failed'
    row.error = String(err?.stack ?? err).split('\n').slice(0, 6).join('\n')
  } finally {
    await Promise.all(gens.map((g) => g.request('close', {}, 60_000).catch(() => {})))
    await stopAll([...gens, server])
  }
  return row
}

// -- scenario 4: presence burst (bench/presence.mjs, in its own process)

async function presenceScenario() {
  const child = new Child('lib/presence-child.mjs', mode === 'quick' ? ['--quick'] : [], { execArgv: ['--expose-gc'], name: 'presence' })
  try {
    await child.ready
    return await child.request('run', { quick: mode === 'quick' }, 600_000)
  } catch (err) {
    return { status: 'failed', error: String(err?.message ?? err) }
  } finally {
    await child.stop()
  }
}

// -- memory per message kept by the history (bench/lib/history-memory.mjs, in its own process)

async function historyMemoryScenario() {
  const child = new Child('lib/history-memory.mjs', ['--child'], { execArgv: ['--expose-gc'], name: 'history-memory' })
  try {
    await child.ready
    return await child.request('run', { quick: mode !== 'full' }, 600_000)
  } catch (err) {
    return { status: 'failed', error: String(err?.message ?? err) }
  } finally {
    await child.stop()
  }
}

// -- cross-node

async function clusterScenario() {
  const { runCluster } = await import('./cluster.mjs')
  return runCluster({ mode, generators: cfg.generators, log })
}

// -- profile pass: where the hornbeam server spends its time (unscored: the profiler costs CPU)

async function profilePass() {
  // The .cpuprofile files are large: kept out of bench/results (the summaries go in the JSON).
  const dir = option('profile-dir') ?? join(tmpdir(), 'hornbeam-bench-profiles', stamp)
  mkdirSync(dir, { recursive: true })
  // node:http: the core without framework noise; with --entries, every build (their profiles side by side).
  // History on and off side by side: both.
  const kinds = entries.length
    ? entries.map((e) => e.server)
    : servers.includes('hornbeam-http') && servers.includes('hornbeam-http-nohistory')
      ? ['hornbeam-http', 'hornbeam-http-nohistory']
      : servers.filter((k) => HORNBEAM.has(k)).slice(0, 1)
  const out = []
  for (const kind of kinds) {
    // The one-topic fan-out is profiled unless the run has only other scenarios (fanout-topics).
    if (scenarios.includes('fanout') || !scenarios.includes('fanout-topics')) {
      const n = cfg.subscribers.at(-1)
      const fanDir = join(dir, `${kind}-fanout`)
      log(`profile: ${kind} fan-out to ${n} under --cpu-prof`)
      await fanoutFor(kind, n, { execArgv: ['--cpu-prof', `--cpu-prof-dir=${fanDir}`], sizes: [100], measureLatency: false })
      out.push({ server: kind, scenario: `fan-out to ${n}, 100 B (connect + join + broadcast)`, ...summarizeProfiles(fanDir) })
    }
    if (scenarios.includes('fanout-topics')) {
      const k = cfg.topics.perTopic[0]
      const topicsDir = join(dir, `${kind}-fanout-topics`)
      log(`profile: ${kind} fanout-topics (${k} per topic) under --cpu-prof`)
      const row = await fanoutTopicsFor(kind, { spec: specOf, sockets: cfg.topics.sockets, perTopic: k, cfg: { ...cfg, sizes: [100] }, log, execArgv: ['--cpu-prof', `--cpu-prof-dir=${topicsDir}`] })
      const broadcasts = sum((row.cells ?? []).map((c) => (c.warmup?.messages ?? 0) + (c.throughput?.messages ?? 0) + (c.burst?.messages ?? 0)))
      const summary = summarizeProfiles(topicsDir, 25, HISTORY_GROUPS)
      for (const g of summary.groups ?? []) g.microsPerBroadcast = broadcasts > 0 ? +((g.ms * 1000) / broadcasts).toFixed(3) : null
      out.push({ server: kind, scenario: `fanout-topics, ${k} subscriber(s) per topic, 100 B (connect + join + warm-up + broadcast)`, broadcasts, ...summary })
    }
    if (scenarios.includes('joins')) {
      const joinDir = join(dir, `${kind}-joins`)
      log(`profile: ${kind} joins under --cpu-prof`)
      await joinsFor(kind, { execArgv: ['--cpu-prof', `--cpu-prof-dir=${joinDir}`] })
      out.push({ server: kind, scenario: `${cfg.joins.clients * cfg.joins.perClient} joins with presence (connect + join)`, ...summarizeProfiles(joinDir) })
    }
  }
  return out
}

// -- main

const now = new Date()
const stamp = now.toISOString().slice(0, 16).replace(/:/g, '')
const result = {
  benchmark: 'hornbeam-channels',
  mode,
  startedAt: now.toISOString(),
  machine: machineInfo(),
  config: { ...cfg, latencyRounds: cfg.subscribers.map((n) => [n, cfg.latencyRounds(n)]), servers, scenarios },
  servers: Object.fromEntries(servers.map((s) => [s, { label: specOf(s).label, ...(specOf(s).entry ? { entry: specOf(s).entry } : {}) }])),
  entries: entries.map(({ name, path, server }) => ({ name, path, server })),
  fanout: [],
  fanoutTopics: [],
  joins: [],
  presence: null,
  historyMemory: null,
  binary: null,
  longPoll: null,
  cluster: null,
  profiles: null,
}

/**
 * One row per (server, subscribers) from the rounds: each phase is the round with the median
 * server CPU per delivery (so its figures belong together), with every round's key figures
 * beside it; memory is the round with the median bytes per connection.
 */
function combineRounds(raw) {
  const groups = new Map()
  for (const row of raw) {
    const key = `${row.server}|${row.subscribers}`
    if (!groups.has(key)) groups.set(key, [])
    groups.get(key).push(row)
  }
  const medianBy = (items, f) => {
    const ok = items.filter((x) => x && typeof f(x) === 'number')
    if (ok.length === 0) return undefined
    return [...ok].sort((a, b) => f(a) - f(b))[Math.floor((ok.length - 1) / 2)]
  }
  const slim = (p) =>
    p && {
      serverCpuMicrosPerDelivery: p.serverCpuMicrosPerDelivery,
      deliveriesPerSecond: p.deliveriesPerSecond,
      serverCoreShare: p.serverCoreShare,
      clientsCoreShare: p.clientsCoreShare,
      otherCoreShare: p.otherCoreShare,
      missing: p.missing,
    }
  const out = []
  for (const rows of groups.values()) {
    const first = rows[0]
    const failed = rows.find((r) => r.status !== 'ok')
    const mem = medianBy(rows, (r) => r.memory?.bytesPerConnection)
    const row = {
      ...first,
      status: failed ? failed.status : 'ok',
      error: failed?.error,
      rounds: rows.length,
      memory: mem?.memory,
      memoryRounds: rows.map((r) => r.memory?.bytesPerConnection ?? null),
      connect: mem?.connect ?? first.connect,
      cells: [],
    }
    delete row.round
    for (const c of first.cells) {
      const all = rows.map((r) => r.cells.find((x) => x.size === c.size))
      const pickPhase = (name) => {
        const chosen = medianBy(all.map((x) => x?.[name]), (p) => p.serverCpuMicrosPerDelivery)
        return chosen && { ...chosen, rounds: all.map((x) => slim(x?.[name])) }
      }
      row.cells.push({
        size: c.size,
        window: c.window,
        throughput: pickPhase('throughput'),
        burst: pickPhase('burst'),
        latency: all.find((x) => x?.latency)?.latency,
      })
    }
    out.push(row)
  }
  return out
}

const fanoutRaw = []
const topicsRaw = []
let exitCode = 0
try {
  if (scenarios.includes('fanout')) {
    for (const n of cfg.subscribers) {
      for (let round = 1; round <= cfg.rounds; round++) {
        // Latency is paced and needs no repeat: measured in the first round only.
        for (const key of historyRoundOrder(roundOrder(servers, round), round)) fanoutRaw.push({ round, ...(await fanoutFor(key, n, { measureLatency: round === 1 })) })
      }
    }
    result.fanout = combineRounds(fanoutRaw)
  }
  if (scenarios.includes('fanout-topics')) {
    for (const k of cfg.topics.perTopic) {
      for (let round = 1; round <= cfg.rounds; round++) {
        for (const key of historyRoundOrder(roundOrder(servers, round), round)) {
          log(`fanout-topics ${key}: ${cfg.topics.sockets} clients, ${k} per topic, round ${round}`)
          topicsRaw.push({ round, ...(await fanoutTopicsFor(key, { spec: specOf, sockets: cfg.topics.sockets, perTopic: k, cfg, log })) })
        }
      }
    }
    result.fanoutTopics = combineTopicRounds(topicsRaw)
  }
  if (scenarios.includes('binary')) {
    log('binary broadcasts against text ones (bench/lib/binary-cost.mjs)')
    result.binary = await binaryCost({ subscribers: cfg.subscribers, sizes: cfg.sizes, rounds: cfg.rounds, cfg, log })
  }
  if (scenarios.includes('history-memory')) {
    log('memory per message kept by the history (bench/lib/history-memory.mjs)')
    result.historyMemory = await historyMemoryScenario()
  }
  if (scenarios.includes('joins')) {
    for (const kind of servers) result.joins.push(await joinsFor(kind))
  }
  if (scenarios.includes('longpoll')) {
    log('long-poll: sessions opened per second, memory per idle session (bench/lib/longpoll.mjs)')
    result.longPoll = await runLongPoll({ mode, log })
  }
  if (scenarios.includes('presence')) {
    log('presence burst (bench/presence.mjs)')
    result.presence = await presenceScenario()
  }
  if (scenarios.includes('cluster')) {
    log('cross-node (bench/cluster.mjs)')
    result.cluster = await clusterScenario()
  }
  if (cfg.profile && mode !== 'tiny') result.profiles = await profilePass()
} catch (err) {
  result.error = String(err?.stack ?? err)
  exitCode = 1
}

result.finishedAt = new Date().toISOString()
result.seconds = Math.round((Date.now() - t0) / 1000)
result.goals = evaluateGoals(result)
result.entriesComparison = compareEntries(result)
result.historyComparison = compareHistory(result)

// The tiny run's verdict: every server answered, every message and join arrived.
const problems = []
for (const row of fanoutRaw) {
  if (row.status !== 'ok') problems.push(`fan-out ${row.server} (${row.subscribers}, round ${row.round}): ${row.status}${row.error ? `: ${row.error}` : ''}`)
  for (const c of row.cells) {
    for (const [name, p] of Object.entries({ throughput: c.throughput, burst: c.burst, latency: c.latency })) {
      if (p && p.missing !== 0) problems.push(`fan-out ${row.server} ${c.size} B ${name} (round ${row.round}): ${p.missing} of ${p.expectedDeliveries} deliveries missing`)
    }
  }
}
for (const row of topicsRaw) {
  if (row.status !== 'ok') problems.push(`fanout-topics ${row.server} (${row.perTopic} per topic, round ${row.round}): ${row.status}${row.error ? `: ${row.error}` : ''}`)
  for (const c of row.cells ?? []) {
    for (const [name, p] of Object.entries({ warmup: c.warmup, throughput: c.throughput, burst: c.burst })) {
      if (p && p.missing !== 0) problems.push(`fanout-topics ${row.server} ${row.perTopic} per topic ${c.size} B ${name} (round ${row.round}): ${p.missing} deliveries missing`)
    }
  }
}
if (result.historyMemory && result.historyMemory.status !== 'ok') problems.push(`history-memory: ${result.historyMemory.error}`)
if (result.binary) problems.push(...result.binary.problems)
if (result.longPoll && result.longPoll.status !== 'ok') problems.push(`longpoll: ${result.longPoll.error}`)
for (const row of result.joins) if (row.status !== 'ok') problems.push(`joins ${row.server}: ${row.status}${row.error ? `: ${row.error}` : ` (${row.ok}/${row.joins} ok, presence ${row.presenceEntries}/${row.expectedPresenceEntries})`}`)
if (result.error) problems.push(result.error)
result.problems = problems
result.allDelivered =
  problems.length === 0 &&
  fanoutRaw.length === servers.length * cfg.subscribers.length * cfg.rounds * (scenarios.includes('fanout') ? 1 : 0)

mkdirSync(outDir, { recursive: true })
// A run with a narrowed selection, or with other builds of the core (--entries, or the deprecated
// BENCH_CHANNELS_ENTRY), is not a full/quick run of this tree: it never replaces latest-<mode>.
const custom = ['servers', 'scenarios', 'subscribers', 'sizes', 'generators', 'rounds', 'per-topic', 'topic-sockets', 'name'].some((o) => option(o) !== undefined) || entries.length > 0
const name = option('name')
if (name !== undefined && !/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`--name "${name}": letters, digits, '.', '_' and '-' only`)
const base = mode === 'tiny' ? (name ? `${name}-tiny` : 'tiny') : name ? `${name}-${stamp}-${mode}` : `${stamp}-${mode}${custom ? '-custom' : ''}`
// The measurements first: a report that fails to render must not lose them.
writeFileSync(join(outDir, `${base}.json`), JSON.stringify(result, null, 2) + '\n')
const files = {
  json: null,
  md: renderMarkdown(result),
  svg: renderSvg(result),
}
for (const [ext, text] of Object.entries(files)) {
  if (text !== null) writeFileSync(join(outDir, `${base}.${ext}`), text)
  if (mode !== 'tiny' && !custom) copyFileSync(join(outDir, `${base}.${ext}`), join(outDir, `latest-${mode}.${ext}`))
  if (mode !== 'tiny' && name) copyFileSync(join(outDir, `${base}.${ext}`), join(outDir, `${name}-latest-${mode}.${ext}`))
}
log(`wrote ${join(outDir, base)}.{json,md,svg}`)
if (problems.length) {
  console.error(`${problems.length} problem(s):\n- ${problems.join('\n- ')}`)
  if (mode === 'tiny') exitCode = 1
}
process.exitCode = exitCode
void nowMicros
