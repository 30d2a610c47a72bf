#!/usr/bin/env node
// Reconnect storm after a server restart: N @hornbeam/client sockets (default options, `ws` as
// their transport) joined to topics of one Hornbeam server; the server restarts (hub.close():
// every socket gets 1012, and a new server process takes the port) and the clients come back by
// themselves. Measured at the new server: joins per 100 ms (peak joins/s); at the clients: the
// time until every one has rejoined and received its `hb_history` (resumed). Once with the
// client's default `restartWindowMs` (5 s: the first reconnect at a random moment within it) and
// once with `restartWindowMs: 0` (no spreading: the old behaviour), in one run.
//
//   node bench/storm.mjs                  10,000 clients, 1,000 topics, windows default (5000) and 0
//   node bench/storm.mjs --quick          2,000 clients
// Options:
//   --clients n        sockets in all (default 10000; quick 2000)
//   --topics n         topics, bench:s0 … (default clients/10: 10 subscribers each)
//   --processes n      client processes (default: one per 2,500 sockets, at least 2); this machine
//                      allows 20,000 open files per process
//   --windows a,b      restartWindowMs of each variant, `default` for the client's default (default: default,0)
//   --cold             the new server process is started only once the old one has closed every
//                      socket (a stop, then a start); by default it is started beforehand and takes
//                      the port the moment the old one lets go of it (while the old one still sends
//                      its 1012s), so the clients find a server whenever they come back
//   --connect-rate n   sockets opened per second before the restart (default 2000)
//   --timeout s        give up waiting for the clients to resume after this long (default 120)
//   --out dir          where results go (default bench/results): storm-<date>[-quick].{json,md,svg}
//                      and storm-latest[-quick].*
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Child } from './lib/child.mjs'
import { nowMicros } from './lib/hist.mjs'
import { cpuMicros, machineInfo, machineTicks } from './lib/proc.mjs'
import { splitEvenly, sum } from './lib/fanout.mjs'

const argv = process.argv.slice(2)
const flag = (name) => argv.includes(`--${name}`)
const option = (name) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : undefined
}
const quick = flag('quick')
const clientsTotal = Number(option('clients') ?? (quick ? 2000 : 10_000))
const topics = Number(option('topics') ?? Math.max(1, Math.round(clientsTotal / 10)))
const processes = Number(option('processes') ?? Math.max(2, Math.ceil(clientsTotal / 2500)))
const windows = (option('windows') ?? 'default,0').split(',').map((w) => (w === 'default' ? null : Number(w)))
const cold = flag('cold')
const connectRate = Number(option('connect-rate') ?? 2000)
const timeoutMs = Number(option('timeout') ?? 120) * 1000
const benchDir = fileURLToPath(new URL('.', import.meta.url))
const outDir = option('out') ?? join(benchDir, 'results')
if (clientsTotal / processes > 18_000) throw new Error(`${clientsTotal} clients in ${processes} processes: over 18,000 per process (20,000 open files each): use --processes`)

const t0 = Date.now()
const log = (...a) => console.log(`[storm ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const BUCKET_US = 100_000

function quantile(sorted, q) {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}
const ms = (us) => (us === null || us === undefined ? null : +(us / 1000).toFixed(1))
function spread(values) {
  const s = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  return { n: s.length, p50Ms: ms(quantile(s, 0.5)), p90Ms: ms(quantile(s, 0.9)), p99Ms: ms(quantile(s, 0.99)), maxMs: ms(s.at(-1) ?? null), minMs: ms(s[0] ?? null) }
}

async function startStormServer(listenPort) {
  const child = new Child('lib/storm-server.mjs', [JSON.stringify(listenPort === undefined ? {} : { listen: true, port: listenPort })], { name: 'storm server' })
  const ready = await child.ready
  return { child, ready }
}

async function waitStatus(procs, check, timeout, every = 100) {
  const until = Date.now() + timeout
  for (;;) {
    const all = await Promise.all(procs.map((p) => p.request('status', {}, 30_000)))
    const total = { clients: 0, joined: 0, positioned: 0, closed: 0, resumed: 0 }
    for (const s of all) for (const k of Object.keys(total)) total[k] += s[k]
    if (check(total) || Date.now() > until) return { ...total, at: nowMicros(), timedOut: !check(total) }
    await sleep(every)
  }
}

async function runVariant(restartWindowMs) {
  const name = restartWindowMs === null ? 'restartWindowMs default (5000)' : `restartWindowMs ${restartWindowMs}`
  log(`${name}: ${clientsTotal} clients over ${topics} topics in ${processes} processes`)
  const out = { variant: name, restartWindowMs: restartWindowMs ?? 'default', clients: clientsTotal, topics, processes, cold, status: 'ok' }
  const children = []
  try {
    const old = await startStormServer(0)
    children.push(old.child)
    const port = old.ready.port
    out.port = port
    const procs = Array.from({ length: processes }, (_, i) => new Child('lib/storm-clients.mjs', [], { name: `storm clients ${i}` }))
    children.push(...procs)
    await Promise.all(procs.map((p) => p.ready))
    const per = splitEvenly(clientsTotal, processes)
    const url = `ws://127.0.0.1:${port}/ws`
    let first = 0
    const connected = await Promise.all(
      procs.map((p, i) => {
        const args = { url, first, count: per[i], topics, restartWindowMs, perSecond: connectRate / processes }
        first += per[i]
        return p.request('connect', args, 300_000)
      }),
    )
    out.connect = { joined: sum(connected.map((c) => c.joined)), seconds: +Math.max(...connected.map((c) => c.seconds)).toFixed(1) }
    if (out.connect.joined !== clientsTotal) throw new Error(`only ${out.connect.joined} of ${clientsTotal} joined before the restart`)
    log(`  ${out.connect.joined} joined in ${out.connect.seconds} s; one broadcast per topic, so every channel holds a position`)
    await old.child.request('broadcastAll', { prefix: 'bench:s', topics })
    const positioned = await waitStatus(procs, (s) => s.positioned === clientsTotal, 30_000)
    if (positioned.timedOut) throw new Error(`only ${positioned.positioned} of ${clientsTotal} channels got a position`)
    await sleep(1000)
    await Promise.all(procs.map((p) => p.request('arm')))
    const fresh = cold ? null : await startStormServer(undefined)
    if (fresh) children.push(fresh.child)

    const clientPids = procs.map((p) => p.pid)
    const clientsCpu0 = sum(clientPids.map(cpuMicros))
    const machine0 = machineTicks()
    const wall0 = nowMicros()
    log('  restart: the old server stops listening and closes every socket (1012)')
    // Handoff: the new server listens as soon as the old one has let go of the port.
    let listening
    const off = old.child.onReport((m) => {
      if (m.type === 'unlistened' && fresh) listening = fresh.child.request('listen', { port }, 30_000)
    })
    const freshCpu0 = fresh ? cpuMicros(fresh.child.pid) : 0
    const restart = await old.child.request('restart', {}, 120_000)
    off()
    void old.child.stop(3000)
    let next
    if (fresh) {
      const r = await listening
      next = { child: fresh.child, listenedAt: r.listenedAt }
    } else {
      const started = await startStormServer(port)
      children.push(started.child)
      next = { child: started.child, listenedAt: started.ready.listenedAt }
    }
    // From the moment it listens (a new process's start, its imports, is not the storm's).
    const serverCpu0 = fresh ? freshCpu0 : cpuMicros(next.child.pid)
    log(`  new server listening ${ms(next.listenedAt - restart.startedAt)} ms after the restart began; waiting for every client to resume`)
    const done = await waitStatus(procs, (s) => s.resumed === clientsTotal, timeoutMs)
    const serverCpu = cpuMicros(next.child.pid) - serverCpu0
    const clientsCpu = sum(clientPids.map(cpuMicros)) - clientsCpu0
    const machine1 = machineTicks()
    const wall = nowMicros() - wall0
    const timeline = await next.child.request('timeline', {}, 60_000)
    const stats = await next.child.request('stats', {}, 30_000)
    const lines = await Promise.all(procs.map((p) => p.request('timeline', {}, 60_000)))
    const col = (k) => lines.flatMap((l) => l[k])
    const T0 = restart.startedAt
    const closedAt = col('closedAt')
    const openedAt = col('openedAt')
    const resumedAt = col('resumedAt')
    const firstAttemptAt = col('firstAttemptAt')
    const rel = (xs) => xs.map((x) => (x ? x - T0 : null))
    const buckets = (times) => {
      const b = []
      for (const t of times) {
        if (t < T0) continue
        const i = Math.floor((t - T0) / BUCKET_US)
        while (b.length <= i) b.push(0)
        b[i]++
      }
      return b
    }
    const joinBuckets = buckets(timeline.joins)
    const upgradeBuckets = buckets(timeline.upgrades)
    const maxWindow = (b, n) => {
      let best = 0
      for (let i = 0; i < b.length; i++) best = Math.max(best, b.slice(i, i + n).reduce((a, x) => a + x, 0))
      return best
    }
    const reasons = {}
    for (const r of col('reason')) if (r) reasons[r] = (reasons[r] ?? 0) + 1
    const codes = {}
    for (const c of col('closeCode')) if (c) codes[c] = (codes[c] ?? 0) + 1
    const recovered = col('recovered')
    const attempts = col('attempts')
    const failed = col('failedAttempts')
    const resumedRel = rel(resumedAt).filter((x) => x !== null)
    Object.assign(out, {
      restart: {
        closeStartMs: 0,
        unlistenedMs: ms(restart.unlistenedAt - T0),
        allClosedMs: ms(restart.closedAt - T0),
        newServerListeningMs: ms(next.listenedAt - T0),
        oldServerCloseCpuMs: ms(restart.closeCpuMicros),
      },
      closes: { count: closedAt.filter(Boolean).length, codes, ...spread(rel(closedAt)) },
      firstReconnectAttempt: spread(rel(firstAttemptAt)),
      reconnected: spread(rel(openedAt)),
      resumed: { count: resumedRel.length, ...spread(resumedRel) },
      timeUntilAllResumedMs: resumedRel.length === clientsTotal ? ms(Math.max(...resumedRel)) : null,
      reconnectDelayAfterClose: spread(openedAt.map((o, i) => (o && closedAt[i] ? o - closedAt[i] : null))),
      openToResumed: spread(resumedAt.map((r, i) => (r && openedAt[i] ? r - openedAt[i] : null))),
      attempts: { total: sum(attempts), failed: sum(failed), clientsWithFailures: failed.filter((f) => f > 0).length, maxPerClient: Math.max(0, ...attempts) },
      joinTimeouts: sum(col('timeouts')),
      recovery: { recovered: recovered.filter((r) => r === true).length, notRecovered: recovered.filter((r) => r === false).length, reasons },
      server: {
        joins: stats.joins,
        upgrades: stats.upgrades,
        connections: stats.connections,
        peakJoinsPerSecond: Math.max(0, ...joinBuckets) * (1e6 / BUCKET_US),
        peakJoinsInOneSecond: maxWindow(joinBuckets, 1e6 / BUCKET_US),
        peakUpgradesPerSecond: Math.max(0, ...upgradeBuckets) * (1e6 / BUCKET_US),
        eventLoopDelay: timeline.eventLoopDelay,
        cpuMs: ms(serverCpu),
        cpuMicrosPerJoin: stats.joins ? +(serverCpu / stats.joins).toFixed(1) : null,
      },
      clientsCpuMs: ms(clientsCpu),
      clientsCoreShare: +(clientsCpu / wall).toFixed(2),
      machineBusyShare: +((machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total)).toFixed(2),
      joinsPer100ms: joinBuckets,
      upgradesPer100ms: upgradeBuckets,
      timedOut: done.timedOut,
    })
    if (done.timedOut) out.status = `timed out: ${done.resumed} of ${clientsTotal} resumed`
    log(
      `  ${name}: peak ${out.server.peakJoinsPerSecond} joins/s (100 ms buckets), busiest second ${out.server.peakJoinsInOneSecond} joins;` +
        ` all ${out.resumed.count} resumed after ${out.timeUntilAllResumedMs ?? '–'} ms (p50 ${out.resumed.p50Ms} ms, p99 ${out.resumed.p99Ms} ms);` +
        ` open→hb_history p99 ${out.openToResumed.p99Ms} ms; failed attempts ${out.attempts.failed}; join timeouts ${out.joinTimeouts};` +
        ` event-loop delay p99 ${timeline.eventLoopDelay?.p99Ms} ms`,
    )
  } catch (err) {
    out.status = 'failed'
    out.error = String(err?.stack ?? err).split('\n').slice(0, 6).join('\n')
    log(`  failed: ${out.error}`)
  } finally {
    await Promise.all(children.filter((c) => c.name.startsWith('storm clients')).map((c) => c.request('close', {}, 30_000).catch(() => {})))
    await Promise.all(children.map((c) => c.stop(5000)))
  }
  return out
}

// -- report

const fmt = (v, d = 0) => (v === null || v === undefined || Number.isNaN(v) ? '–' : d === 0 ? Math.round(v).toLocaleString('en-US') : Number(v).toFixed(d))

function renderMarkdown(result) {
  const m = result.machine
  const L = [`# Reconnect storm after a restart: ${result.clients.toLocaleString('en-US')} clients, ${result.startedAt.slice(0, 16).replace('T', ' ')} UTC`, '']
  L.push(
    `Machine: ${m.cpuCount} × ${m.cpuModel}, Node ${m.node}, fd limit ${m.fdLimit}. ${fmt(result.clients)} \`@hornbeam/client\` sockets (default options, \`ws\` as the transport) in ` +
      `${result.processes} processes, each joined to one of ${fmt(result.topics)} topics (\`bench:s<j>\`, history on by default), each holding a position ` +
      '(one broadcast per topic before the restart). The server: Hornbeam on node:http with the hub\'s defaults, in its own process. ' +
      `Restart: the old server stops listening and runs \`hub.close()\` (every socket gets 1012, in batches of 500); ${result.cold ? 'once it has closed them all, a new server process starts and listens on the same port (`--cold`)' : 'a new server process, started beforehand, listens on the same port the moment the old one has let go of it (while the old one still sends its 1012s)'}. ` +
      'Times are from the start of the restart (monotonic clock shared by the processes). Resumed = rejoined and received `hb_history` on the new connection. ' +
      `Both variants in one run (${result.seconds} s), each with fresh processes and its own port.`,
  )
  L.push('')
  const vs = result.variants
  const col = (f) => vs.map((v) => (v.status === 'failed' ? 'failed' : f(v)))
  const rows = [
    ['peak joins/s at the server (100 ms buckets)', (v) => `**${fmt(v.server.peakJoinsPerSecond)}**`],
    ['joins in the busiest second', (v) => fmt(v.server.peakJoinsInOneSecond)],
    ['peak connections (upgrades)/s (100 ms buckets)', (v) => fmt(v.server.peakUpgradesPerSecond)],
    ['**time until all resumed**', (v) => `**${v.timeUntilAllResumedMs === null ? `not all (${fmt(v.resumed.count)})` : `${fmt(v.timeUntilAllResumedMs)} ms`}**`],
    ['resumed: p50 / p90 / p99', (v) => `${fmt(v.resumed.p50Ms)} / ${fmt(v.resumed.p90Ms)} / ${fmt(v.resumed.p99Ms)} ms`],
    ['reconnected (socket open): p50 / max', (v) => `${fmt(v.reconnected.p50Ms)} / ${fmt(v.reconnected.maxMs)} ms`],
    ['connection open → hb_history: p50 / p99 / max', (v) => `${fmt(v.openToResumed.p50Ms, 1)} / ${fmt(v.openToResumed.p99Ms, 1)} / ${fmt(v.openToResumed.maxMs, 1)} ms`],
    ['1012 received: first / last', (v) => `${fmt(v.closes.minMs)} / ${fmt(v.closes.maxMs)} ms (${Object.entries(v.closes.codes).map(([c, n]) => `${fmt(n)}× ${c}`).join(', ')})`],
    ['new server listening at; old server done closing at (its CPU for the close)', (v) => `${fmt(v.restart.newServerListeningMs)} ms; ${fmt(v.restart.allClosedMs)} ms (${fmt(v.restart.oldServerCloseCpuMs)} ms)`],
    ['connection attempts (failed)', (v) => `${fmt(v.attempts.total)} (${fmt(v.attempts.failed)}; ${fmt(v.attempts.clientsWithFailures)} clients; at most ${v.attempts.maxPerClient} by one)`],
    ['join timeouts', (v) => fmt(v.joinTimeouts)],
    ['resume outcome', (v) => `${fmt(v.recovery.recovered)} recovered, ${fmt(v.recovery.notRecovered)} not (${Object.entries(v.recovery.reasons).map(([r, n]) => `${fmt(n)} ${r}`).join(', ') || '–'})`],
    ['new server: event-loop delay p99 / max', (v) => (v.server.eventLoopDelay ? `${fmt(v.server.eventLoopDelay.p99Ms, 1)} / ${fmt(v.server.eventLoopDelay.maxMs, 1)} ms` : '–')],
    ['new server: CPU from listening until all resumed (µs per join)', (v) => `${fmt(v.server.cpuMs)} ms (${fmt(v.server.cpuMicrosPerJoin, 0)})`],
    ['clients: CPU (share of a core); machine busy', (v) => `${fmt(v.clientsCpuMs)} ms (${fmt(v.clientsCoreShare * 100)}%); ${fmt(v.machineBusyShare * 100)}% of both cores`],
  ]
  L.push(`| | ${vs.map((v) => v.variant).join(' | ')} |`)
  L.push(`| --- | ${vs.map(() => '---:').join(' | ')} |`)
  for (const [title, f] of rows) L.push(`| ${title} | ${col(f).join(' | ')} |`)
  L.push('')
  L.push('Joins at the new server per 100 ms, from the start of the restart (each character one bucket, height ∝ joins; a line per variant):')
  L.push('')
  const peak = Math.max(1, ...vs.flatMap((v) => v.joinsPer100ms ?? []))
  const bars = ' ▁▂▃▄▅▆▇█'
  L.push('```')
  for (const v of vs) {
    const b = v.joinsPer100ms ?? []
    L.push(`${v.variant.padEnd(32)} ${b.map((x) => (x === 0 ? '·' : bars[Math.max(1, Math.round((x / peak) * 8))])).join('')}`)
  }
  L.push(`${''.padEnd(32)} ${Array.from({ length: Math.max(...vs.map((v) => v.joinsPer100ms?.length ?? 0)) }, (_, i) => (i % 10 === 0 ? '|' : ' ')).join('')}  (| every second)`)
  L.push('```')
  L.push('')
  for (const v of vs) if (v.status !== 'ok') L.push(`- ${v.variant}: ${v.status}${v.error ? `: ${v.error.split('\n')[0]}` : ''}`)
  return L.join('\n') + '\n'
}

function renderSvg(result) {
  const W = 760
  const H = 300
  const m = { l: 60, r: 20, t: 40, b: 40 }
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd']
  const vs = result.variants.filter((v) => v.joinsPer100ms)
  const n = Math.max(1, ...vs.map((v) => v.joinsPer100ms.length))
  const peak = Math.max(1, ...vs.flatMap((v) => v.joinsPer100ms)) * 10
  const x = (i) => m.l + (i / n) * (W - m.l - m.r)
  const y = (v) => m.t + (1 - v / peak) * (H - m.t - m.b)
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="#fff"/>`]
  out.push(`<text x="10" y="20" font-size="14" font-weight="bold">Joins/s at the new server (100 ms buckets) after a restart, ${fmt(result.clients)} clients</text>`)
  for (let k = 0; k <= 4; k++) {
    const v = (peak * k) / 4
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/><text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`)
  }
  for (let s = 0; s * 10 <= n; s += Math.max(1, Math.ceil(n / 100))) out.push(`<text x="${x(s * 10)}" y="${H - m.b + 16}" text-anchor="middle">${s} s</text>`)
  vs.forEach((v, k) => {
    const d = v.joinsPer100ms.map((c, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(c * 10).toFixed(1)}`).join(' ')
    out.push(`<path d="${d}" fill="none" stroke="${colors[k % colors.length]}" stroke-width="1.8"/>`)
    out.push(`<text x="${W - m.r - 300}" y="${m.t + 14 + k * 16}" fill="${colors[k % colors.length]}">${v.variant}: all resumed at ${fmt(v.timeUntilAllResumedMs)} ms</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}

// -- main

const startedAt = new Date()
const result = {
  benchmark: 'hornbeam-storm',
  quick,
  startedAt: startedAt.toISOString(),
  machine: machineInfo(),
  clients: clientsTotal,
  topics,
  processes,
  cold,
  connectRate,
  variants: [],
}
for (const w of windows) {
  result.variants.push(await runVariant(w))
  await sleep(2000)
}
result.seconds = Math.round((Date.now() - t0) / 1000)
mkdirSync(outDir, { recursive: true })
const stamp = startedAt.toISOString().slice(0, 16).replace(/:/g, '')
const custom = ['clients', 'topics', 'processes', 'windows', 'connect-rate'].some((o) => option(o) !== undefined)
const base = `storm-${stamp}${cold ? '-cold' : ''}${quick ? '-quick' : ''}${custom ? '-custom' : ''}`
const files = { json: JSON.stringify(result, null, 2) + '\n', md: renderMarkdown(result), svg: renderSvg(result) }
for (const [ext, text] of Object.entries(files)) {
  writeFileSync(join(outDir, `${base}.${ext}`), text)
  if (!custom) copyFileSync(join(outDir, `${base}.${ext}`), join(outDir, `storm-latest${cold ? '-cold' : ''}${quick ? '-quick' : ''}.${ext}`))
}
log(`wrote ${join(outDir, base)}.{json,md,svg}`)
process.exitCode = result.variants.every((v) => v.status === 'ok') ? 0 : 1
