#!/usr/bin/env node
// Delivery under churn: every client's TCP socket is cut every 2–4 s while the server broadcasts to
// their room; per server, what each client's application got of what was broadcast while it was a
// member (lost, duplicated, out of order) and how long the messages it missed took to arrive.
// Hornbeam (default options: history on, in memory) against Socket.IO with and without
// connectionStateRecovery, each server in its own processes with its own clients, all at the same
// time in one run (--sequential: one after the other).
//
//   node bench/recovery.mjs                one node: 400 clients, 30 s of churn, 5 messages/s
//   node bench/recovery.mjs --quick        200 clients, 20 s
//   node bench/recovery.mjs --cluster      two nodes over one Redis (our own redis-server on a
//                                          free port), clients reconnect to either at random
//   node bench/recovery.mjs --restart      the cluster, plus a rolling restart: node B, then
//                                          node A, stopped with SIGTERM and started again
// Options: --clients n, --seconds s (churn), --rate r (messages/s), --settle s, --servers
//   hornbeam,socketio-csr,socketio, --generators n (per server), --sequential (one server after
//   the other instead of all at once), --out dir (default bench/results),
//   --redis-server path (default redis-server on PATH). BENCH_DEBUG=1 shows the children's stderr.
// Writes <out>/recovery-<mode>[-quick].{json,md}. See bench/README.md, "Recovery under churn".
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Child } from './lib/child.mjs'
import { Histogram, nowMicros } from './lib/hist.mjs'
import { cpuMicros, machineInfo, machineTicks } from './lib/proc.mjs'
import os from 'node:os'
import { renderRecovery } from './lib/recovery-report.mjs'

const argv = process.argv.slice(2)
const flag = (name) => argv.includes(`--${name}`)
const option = (name) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : undefined
}
const quick = flag('quick')
const mode = flag('restart') ? 'restart' : flag('cluster') ? 'cluster' : 'single'
const cfg = {
  mode,
  quick,
  clients: Number(option('clients') ?? (quick ? 200 : 400)),
  seconds: Number(option('seconds') ?? (quick ? 20 : 30)),
  rate: Number(option('rate') ?? 5),
  settleSeconds: Number(option('settle') ?? (mode === 'restart' ? 6 : quick ? 4 : 5)),
  cut: { minMs: 2000, maxMs: 4000, offlineMs: 500 },
  generators: Number(option('generators') ?? 2),
  nodes: mode === 'single' ? 1 : 2,
  servers: (option('servers') ?? 'hornbeam,socketio-csr,socketio').split(',').filter(Boolean),
  quiescence: { idleMs: 4000, maxMs: 20_000 },
  // Side by side: the servers run at the same time (each with its own processes, clients and, in
  // a cluster, its own Redis), so whatever else loads the machine loads them alike.
  sequential: flag('sequential'),
}
const benchDir = fileURLToPath(new URL('.', import.meta.url))
const outDir = option('out') ?? join(benchDir, 'results')
const name = `recovery-${mode}${quick ? '-quick' : ''}`

export const LABELS = {
  hornbeam: 'Hornbeam (default options)',
  'socketio-csr': 'Socket.IO + connectionStateRecovery',
  socketio: 'Socket.IO (default)',
}
const STACK = {
  hornbeam: { 1: '@hornbeam/channels on node:http, history in memory (default)', 2: 'redisAdapter({ url }): history in Redis Streams (default)' },
  'socketio-csr': { 1: 'in-memory adapter, connectionStateRecovery', 2: '@socket.io/redis-streams-adapter, connectionStateRecovery' },
  socketio: { 1: 'in-memory adapter', 2: '@socket.io/redis-streams-adapter' },
}
for (const s of cfg.servers) if (!LABELS[s]) throw new Error(`unknown server ${s}; known: ${Object.keys(LABELS).join(', ')}`)

const t0 = Date.now()
const log = (...a) => console.log(`[recovery ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// -- Redis: our own redis-server on a free port, never the shared one on 6379.

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

async function startRedis() {
  let port = await freePort()
  if (port === 6379) port = await freePort()
  const bin = option('redis-server') ?? 'redis-server'
  const proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  proc.stdout.on('data', (d) => (output = (output + d).slice(-4000)))
  proc.stderr.on('data', (d) => (output = (output + d).slice(-4000)))
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  proc.once('error', (err) => (output += String(err)))
  const { Redis } = await import('ioredis')
  const url = `redis://127.0.0.1:${port}`
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 })
  redis.on('error', () => {})
  const until = Date.now() + 10_000
  for (;;) {
    try {
      await redis.connect().catch(() => {})
      if ((await redis.ping()) === 'PONG') break
    } catch {}
    if (Date.now() > until || proc.exitCode !== null) throw new Error(`redis-server did not start on ${port}: ${output}`)
    await sleep(100)
  }
  const version = (await redis.info('server')).match(/redis_version:(\S+)/)?.[1]
  return {
    url,
    port,
    pid: proc.pid,
    version,
    stop: async () => {
      redis.disconnect()
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
}

// -- CPU over a phase, from /proc: per group of processes (the server nodes, the load generators,
// the orchestrator, Redis), sampled every 500 ms so a process that exits (a restarted node) keeps
// what it used until its last sample; one started during the phase counts from zero.

class CpuTracker {
  constructor() {
    this.pids = new Map() // pid -> { group, first, last }
    this.startedAt = nowMicros()
    this.machine = machineTicks()
    this.timer = setInterval(() => this.sample(), 500)
  }

  add(group, pid, { fromZero = false } = {}) {
    if (!pid || this.pids.has(pid)) return
    const v = cpuMicros(pid)
    this.pids.set(pid, { group, first: fromZero ? 0 : v, last: v })
  }

  sample() {
    for (const [pid, p] of this.pids) {
      const v = cpuMicros(pid)
      if (!Number.isNaN(v)) p.last = v
    }
  }

  stop() {
    for (const [pid, p] of this.pids) {
      const v = cpuMicros(pid)
      if (!Number.isNaN(v)) p.last = v
    }
    clearInterval(this.timer)
    const wall = nowMicros() - this.startedAt
    const m = machineTicks()
    const busy = (m.busy - this.machine.busy) / (m.total - this.machine.total)
    const groups = {}
    for (const p of this.pids.values()) groups[p.group] = (groups[p.group] ?? 0) + (p.last - p.first)
    const cores = Object.fromEntries(Object.entries(groups).map(([g, us]) => [g, +(us / wall).toFixed(3)]))
    const ours = Object.values(cores).reduce((a, b) => a + b, 0)
    const machineCores = busy * os.cpus().length
    return { seconds: +(wall / 1e6).toFixed(1), cores, machineBusyCores: +machineCores.toFixed(3), otherCores: +Math.max(0, machineCores - ours).toFixed(3) }
  }
}

// -- servers and load generators

async function startNode(kind, { port = 0, redisUrl, label }) {
  const opts = { kind, port, redisUrl, maxDisconnectionMs: Math.max(120_000, (cfg.seconds + cfg.settleSeconds + 60) * 1000) }
  const child = new Child('lib/recovery-server.mjs', [JSON.stringify(opts)], { name: `${kind} node ${label}` })
  let timer
  try {
    const ready = await Promise.race([
      child.ready,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${kind} node ${label} not ready within 30 s`)), 30_000))),
    ])
    return { child, port: ready.port, label, up: true, inFlight: new Set() }
  } catch (err) {
    await child.kill()
    throw err
  } finally {
    clearTimeout(timer)
  }
}

function splitEvenly(total, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0))
}

/** Resolves once `n` callers have arrived: the servers start churning at the same moment. */
function barrier(n) {
  let arrived = 0
  let open
  const opened = new Promise((resolve) => (open = resolve))
  return () => {
    if (++arrived >= n) open()
    return opened
  }
}

async function runServer(kind, redis, { arrive = async () => {}, onPhase = () => {} } = {}) {
  const row = { server: kind, label: LABELS[kind], stack: STACK[kind][cfg.nodes], status: 'ok', restarts: [] }
  const children = []
  const nodes = []
  const broadcasts = []
  const broadcastErrors = []
  let broadcaster
  let cpu
  let arrived = false
  try {
    for (const label of cfg.nodes === 1 ? ['A'] : ['A', 'B']) {
      const n = await startNode(kind, { redisUrl: redis?.url, label })
      nodes.push(n)
      children.push(n.child)
    }
    const gens = Array.from({ length: cfg.generators }, (_, i) => new Child('lib/recovery-loadgen.mjs', [], { name: `loadgen ${i}` }))
    children.push(...gens)
    await Promise.all(gens.map((g) => g.ready))
    const targets = nodes.map((n) => ({ node: n.label, port: n.port }))
    const per = splitEvenly(cfg.clients, gens.length)
    let first = 0
    const tc = nowMicros()
    const connected = await Promise.all(
      gens.map((g, i) => {
        const firstIndex = first
        first += per[i]
        return g.request('connect', { kind: kind === 'hornbeam' ? 'hornbeam' : 'socketio', targets, count: per[i], firstIndex, topic: 'room:bench', cut: cfg.cut }, 300_000)
      }),
    )
    const joined = connected.reduce((a, r) => a + r.joined, 0)
    row.connect = { joined, seconds: +((nowMicros() - tc) / 1e6).toFixed(2), errors: [...new Set(connected.flatMap((r) => r.errors))] }
    log(`  ${kind}: ${joined}/${cfg.clients} clients joined in ${row.connect.seconds} s`)
    if (joined !== cfg.clients) row.status = 'partial'
    await arrive()
    arrived = true

    // Broadcasts at `rate`/s from node A (from B while A restarts), numbered and stamped by the
    // server. One at a time: a broadcast goes out when the previous one has been answered, so
    // the order the nodes (and Redis) take them in is the order of their numbers even when the
    // sending node changes. A tick that finds one still in flight sends right after it.
    let seq = 0
    const startedAt = nowMicros()
    const pick = () => nodes.find((n) => n.up && n.label === 'A') ?? nodes.find((n) => n.up)
    let chain = Promise.resolve()
    const broadcastOne = () => {
      chain = chain.then(async () => {
        const node = pick()
        const s = ++seq
        if (!node) return void broadcastErrors.push({ seq: s, error: 'no node up' })
        const p = node.child
          .request('broadcast', { seq: s }, 30_000)
          .then((r) => void broadcasts.push({ ...r, node: node.label }))
          .catch((err) => void broadcastErrors.push({ seq: s, node: node.label, error: String(err?.message ?? err).split('\n')[0] }))
        node.inFlight.add(p)
        await p
        node.inFlight.delete(p)
      })
    }
    cpu = new CpuTracker()
    for (const n of nodes) cpu.add('server', n.child.pid)
    for (const g of gens) cpu.add('clients', g.pid)
    cpu.add('orchestrator', process.pid)
    if (redis) cpu.add('redis', redis.pid)
    onPhase('pids', [...nodes.map((n) => n.child.pid), ...gens.map((g) => g.pid), ...(redis ? [redis.pid] : [])])
    broadcaster = setInterval(broadcastOne, 1000 / cfg.rate)
    await Promise.all(gens.map((g) => g.request('churn', { on: true })))
    log(`  ${kind}: churn on for ${cfg.seconds} s`)

    // The rolling restart: node B at a third of the churn, node A at two thirds, and never both
    // down: A goes only once B is back (and has had a second).
    const restartNode = async (label) => {
      const i = nodes.findIndex((n) => n.label === label)
      const node = nodes[i]
      const r = { node: label, atSeconds: +((nowMicros() - startedAt) / 1e6).toFixed(2) }
      node.up = false // no new broadcasts to it; the one in flight finishes first
      await chain
      const tk = nowMicros()
      node.child.proc.kill('SIGTERM')
      const killTimer = setTimeout(() => node.child.proc.kill('SIGKILL'), 15_000)
      const ex = await node.child.exited
      clearTimeout(killTimer)
      r.stopMs = +((nowMicros() - tk) / 1000).toFixed(1)
      r.exit = ex.code ?? ex.signal
      const fresh = await startNode(kind, { port: node.port, redisUrl: redis?.url, label })
      children.push(fresh.child)
      cpu.add('server', fresh.child.pid, { fromZero: true })
      onPhase('pid', fresh.child.pid)
      nodes[i] = fresh
      r.downMs = +((nowMicros() - tk) / 1000).toFixed(1)
      row.restarts.push(r)
      log(`  ${kind}: node ${label} restarted (SIGTERM → exit ${r.exit} in ${r.stopMs} ms, back on port ${fresh.port} after ${r.downMs} ms)`)
    }
    const restarts =
      mode === 'restart'
        ? (async () => {
            await sleep((cfg.seconds / 3) * 1000)
            await restartNode('B')
            await sleep(Math.max(1000, (2 * cfg.seconds * 1000) / 3 - (nowMicros() - startedAt) / 1000))
            await restartNode('A')
          })()
        : Promise.resolve()
    await sleep(cfg.seconds * 1000)
    await restarts
    await Promise.all(gens.map((g) => g.request('churn', { on: false })))
    log(`  ${kind}: churn off; broadcasting ${cfg.settleSeconds} s more`)
    await sleep(cfg.settleSeconds * 1000)
    clearInterval(broadcaster)
    broadcaster = undefined
    await chain
    const lastSeq = seq
    const endedAt = nowMicros()
    row.cpu = cpu.stop()
    cpu = undefined
    onPhase('done')

    // Quiescence: every client has the last message, or nothing arrived for a while.
    const tq = Date.now()
    let lastDeliveries = -1
    let lastChange = Date.now()
    let progress
    for (;;) {
      const ps = await Promise.all(gens.map((g) => g.request('progress', { lastSeq })))
      progress = { complete: ps.reduce((a, p) => a + p.complete, 0), deliveries: ps.reduce((a, p) => a + p.deliveries, 0), connected: ps.reduce((a, p) => a + p.connected, 0) }
      if (progress.deliveries !== lastDeliveries) (lastDeliveries = progress.deliveries), (lastChange = Date.now())
      if (progress.complete === cfg.clients) break
      if (Date.now() - lastChange > cfg.quiescence.idleMs || Date.now() - tq > cfg.quiescence.maxMs) break
      await sleep(250)
    }
    row.quiescence = { ms: Date.now() - tq, ...progress }
    const sent = broadcasts.sort((a, b) => a.seq - b.seq)
    const reports = await Promise.all(gens.map((g) => g.request('report', { broadcasts: sent.map(({ seq, t, ok }) => ({ seq, t, ok })), detailLimit: 10 }, 120_000)))
    const sum = (k) => reports.reduce((a, r) => a + r[k], 0)
    const replay = Histogram.merge(reports.map((r) => r.replay))
    const live = Histogram.merge(reports.map((r) => r.live))
    const handshake = Histogram.merge(reports.map((r) => r.handshake))
    const causes = {}
    for (const cause of [...new Set(reports.flatMap((r) => Object.keys(r.causes)))]) {
      const replayC = Histogram.merge(reports.map((r) => r.causes[cause]?.replay))
      const gapC = Histogram.merge(reports.map((r) => r.causes[cause]?.gap))
      causes[cause] = {
        replay: { ...replayC.summary(), p95Ms: replayC.n ? +(replayC.quantile(0.95) / 1000).toFixed(3) : null },
        gap: { ...gapC.summary(), p95Ms: gapC.n ? +(gapC.quantile(0.95) / 1000).toFixed(3) : null },
      }
    }
    const recover = { resumes: 0, recovered: 0, notRecovered: 0, replayed: 0, reasons: {} }
    for (const r of reports) {
      for (const k of ['resumes', 'recovered', 'notRecovered', 'replayed']) recover[k] += r.recover[k]
      for (const [k, v] of Object.entries(r.recover.reasons)) recover.reasons[k] = (recover.reasons[k] ?? 0) + v
    }
    const stats = await Promise.all(nodes.map((n) => n.child.request('stats', {}, 10_000).catch((err) => ({ error: String(err?.message ?? err) }))))
    Object.assign(row, {
      clients: sum('clients'),
      joined: sum('joined'),
      broadcasts: sent.length,
      broadcastsFailed: sent.filter((b) => !b.ok).length,
      broadcastErrors,
      broadcastsByNode: Object.fromEntries(nodes.map((n) => [n.label, sent.filter((b) => b.node === n.label).length])),
      lastSeq,
      churnSeconds: cfg.seconds,
      broadcastSeconds: +((endedAt - startedAt) / 1e6).toFixed(2),
      expected: sum('expected'),
      delivered: sum('delivered'),
      lost: sum('lost'),
      duplicates: sum('duplicates'),
      outOfOrder: sum('outOfOrder'),
      early: sum('early'),
      unknown: sum('unknown'),
      clientsWithLoss: sum('clientsWithLoss'),
      clientsWithDuplicates: sum('clientsWithDuplicates'),
      clientsOutOfOrder: sum('clientsOutOfOrder'),
      cuts: sum('cuts'),
      cutsOther: sum('cutsOther'),
      opens: sum('opens'),
      closes: sum('closes'),
      refused: sum('refused'),
      joins: sum('joins'),
      recover,
      replay: { ...replay.summary(), p95Ms: replay.n ? +(replay.quantile(0.95) / 1000).toFixed(3) : null },
      live: { ...live.summary(), p95Ms: live.n ? +(live.quantile(0.95) / 1000).toFixed(3) : null },
      causes,
      handshake: { ...handshake.summary(), p95Ms: handshake.n ? +(handshake.quantile(0.95) / 1000).toFixed(3) : null },
      anomalies: reports.flatMap((r) => r.anomalies),
      slowestReconnects: reports.flatMap((r) => r.slowestReconnects).sort((a, b) => b.gapMs - a.gapMs).slice(0, 5),
      perClientLost: reports.flatMap((r) => r.perClientLost),
      nodeStats: stats.map((s, i) => ({ node: nodes[i].label, ...s })),
    })
    if (row.lost || row.duplicates || row.outOfOrder) row.status = row.status === 'ok' ? 'anomalies' : row.status
    log(
      `  ${kind}: delivered ${row.delivered}/${row.expected}, lost ${row.lost}, duplicates ${row.duplicates}, out of order ${row.outOfOrder}; ` +
        `${row.cuts} cuts; replayed ${row.replay.samples} (p50 ${row.replay.p50Ms} p99 ${row.replay.p99Ms} max ${row.replay.maxMs} ms)`,
    )
    await Promise.all(gens.map((g) => g.request('close', {}, 30_000).catch(() => {})))
  } catch (err) {
    row.status = 'failed'
    row.error = String(err?.stack ?? err).split('\n').slice(0, 8).join('\n')
    log(`  ${kind}: failed: ${row.error.split('\n')[0]}`)
  } finally {
    if (!arrived) arrive() // a server that failed before churning must not hold the others
    if (broadcaster) clearInterval(broadcaster)
    cpu?.stop()
    await Promise.all(children.map((c) => c.stop(12_000)))
  }
  return row
}

/** Which Hornbeam this measured: the commit, and whether packages/ has uncommitted changes. */
function buildInfo() {
  try {
    const git = (...a) => execFileSync('git', a, { cwd: join(benchDir, '..'), encoding: 'utf8' }).trim()
    return { commit: git('rev-parse', '--short', 'HEAD'), dirtyPackages: git('status', '--porcelain', '--', 'packages').split('\n').filter(Boolean).length }
  } catch {
    return null
  }
}

// -- the run

const startedAt = new Date().toISOString()
const redises = []
let rows = []
let machineCpu
try {
  // In a cluster mode each server gets a Redis of its own (as separate deployments would).
  const redisFor = {}
  if (cfg.nodes > 1) {
    for (const kind of cfg.servers) {
      redisFor[kind] = await startRedis()
      redises.push(redisFor[kind])
      log(`redis-server ${redisFor[kind].version} on port ${redisFor[kind].port} for ${kind} (ours; stopped at the end)`)
    }
  }
  for (const kind of cfg.servers) log(`${LABELS[kind]}: ${cfg.clients} clients, ${cfg.nodes} node(s), ${cfg.seconds} s churn + ${cfg.settleSeconds} s settle at ${cfg.rate}/s`)
  if (cfg.sequential) {
    for (const kind of cfg.servers) rows.push(await runServer(kind, redisFor[kind]))
  } else {
    // One tracker for the machine over the common phase: what is not ours is "other processes".
    const arrive = barrier(cfg.servers.length)
    let all
    let running = cfg.servers.length
    const onPhase = (what, x) => {
      if (what === 'pids' || what === 'pid') {
        if (!all) {
          all = new CpuTracker()
          all.add('ours', process.pid)
        }
        for (const pid of [x].flat()) all.add('ours', pid, { fromZero: what === 'pid' })
      } else if (what === 'done' && --running === 0 && all) machineCpu = all.stop()
    }
    rows = await Promise.all(cfg.servers.map((kind) => runServer(kind, redisFor[kind], { arrive, onPhase })))
    if (!machineCpu && all) machineCpu = all.stop()
  }
} finally {
  await Promise.all(redises.map((r) => r.stop()))
}

const result = {
  name,
  mode,
  startedAt,
  seconds: Math.round((Date.now() - t0) / 1000),
  machine: machineInfo(),
  redis: redises.length ? { version: redises[0].version, ports: redises.map((r) => r.port) } : null,
  machineCpu: machineCpu ?? null,
  build: buildInfo(),
  config: cfg,
  rows,
}
mkdirSync(outDir, { recursive: true })
writeFileSync(join(outDir, `${name}.json`), JSON.stringify(result, null, 2) + '\n')
const md = renderRecovery(result)
writeFileSync(join(outDir, `${name}.md`), md)
console.log(md)
log(`wrote ${join(outDir, `${name}.{json,md}`)}`)
if (rows.some((r) => r.status === 'failed')) process.exitCode = 1
