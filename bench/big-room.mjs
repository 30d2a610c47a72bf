#!/usr/bin/env node
// A big room with presence: N users join one room over a few seconds, each tracked in onJoin as
// the example chat does, so every member must learn every other (N lists of N users). The same
// users then join rooms of 100 instead, in the same run, for the cost per join to compare with.
// Measured at the clients: join-reply latency, when each client's list became complete (from
// the last join into its room), presence bytes and frames per user, and bytes per key learned
// against the size of one presence_state entry; at the server: CPU per join, peak RSS, event-loop
// delay, and sockets closed as slow consumers.
//
//   node bench/big-room.mjs                 10,000 users joining over 10 s
//   node bench/big-room.mjs --quick         2,000 users over 2 s
// Options:
//   --users n            users in all (default 10000; quick 2000)
//   --join-seconds s     the joins are spread evenly over this (default 10; quick 2)
//   --room-sizes a,b     the variants: `all` (one room of every user) and room sizes (default all,100)
//   --generators n       client processes (default 4), each from its own source address 127.0.0.<2+k>
//   --timeout s          give up on lists still incomplete this long after the last join (default 120)
//   --profile dir        the server runs under V8's CPU profiler (--cpu-prof), profiles written to dir
//   --entries a=p,b=q    Hornbeam builds (dist/esm/index.js of @hornbeam/channels) run one after the other
//   --out dir            where results go (default bench/results): big-room-<date>[-quick].{json,md,svg}
//                        and big-room-latest[-quick].*
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Child } from './lib/child.mjs'
import { Histogram, nowMicros } from './lib/hist.mjs'
import { cpuMicros, machineInfo } from './lib/proc.mjs'
import { sleep, splitEvenly, sum } from './lib/fanout.mjs'
import { bigRoomMarkdown, bigRoomSvg } from './lib/big-room-report.mjs'

const argv = process.argv.slice(2)
const option = (name) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : undefined
}
const quick = argv.includes('--quick')
const users = Number(option('users') ?? (quick ? 2000 : 10_000))
const joinSeconds = Number(option('join-seconds') ?? (quick ? 2 : 10))
const roomSizes = (option('room-sizes') ?? 'all,100').split(',').map((s) => (s === 'all' ? users : Number(s)))
const generators = Number(option('generators') ?? 4)
const timeoutMs = Number(option('timeout') ?? 120) * 1000
const profileDir = option('profile')
const entries = (option('entries') ?? '').split(',').filter(Boolean).map((e) => {
  const [name, path] = e.split('=')
  return { name, path: resolve(path) }
})
if (entries.length === 0) entries.push({ name: 'hornbeam', path: undefined })
const benchDir = fileURLToPath(new URL('.', import.meta.url))
const outDir = option('out') ?? join(benchDir, 'results')

const t0 = Date.now()
const log = (...a) => console.log(`[big-room ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a)
const ms = (micros) => (micros == null ? null : +(micros / 1000).toFixed(1))

function quantile(sorted, q) {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

async function runVariant(entry, roomSize) {
  const server = new Child('lib/big-room-server.mjs', [JSON.stringify({ entry: entry.path })], {
    name: 'server',
    execArgv: ['--max-old-space-size=6144', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profileDir)}`] : [])],
  })
  const gens = Array.from({ length: generators }, (_, k) => new Child('lib/big-room-clients.mjs', [], { name: `clients-${k}`, execArgv: ['--max-old-space-size=3072'] }))
  try {
    await Promise.all([server.ready, ...gens.map((g) => g.ready)])
    const { port } = await server.request('listen')
    const url = `ws://127.0.0.1:${port}/ws`
    const counts = splitEvenly(users, generators)
    let first = 0
    const opened = await Promise.all(gens.map((g, k) => {
      const args = { url, localAddress: `127.0.0.${2 + k}`, first, count: counts[k], users, roomSize }
      first += counts[k]
      return g.request('open', args, 300_000)
    }))
    const failed = sum(opened.map((o) => o.failed))
    if (failed > 0) throw new Error(`${failed} sockets did not open: ${opened.find((o) => o.error)?.error}`)
    log(`${entry.name}, rooms of ${roomSize}: ${users} sockets open in ${Math.max(...opened.map((o) => o.seconds)).toFixed(1)} s`)

    await server.request('resetLag')
    const cpuBefore = cpuMicros(server.pid)
    const startAt = nowMicros() + 200_000
    const spacingMicros = (joinSeconds * 1e6) / users
    await Promise.all(gens.map((g) => g.request('join', { startAt, spacingMicros })))
    const lastJoinAt = startAt + (users - 1) * spacingMicros
    let status
    for (;;) {
      await sleep(250)
      const statuses = await Promise.all(gens.map((g) => g.request('status')))
      status = { replied: sum(statuses.map((s) => s.replied)), complete: sum(statuses.map((s) => s.complete)), closed: sum(statuses.map((s) => s.closed)) }
      if (status.complete + status.closed >= users) break
      if (nowMicros() > lastJoinAt + timeoutMs * 1000) break
    }
    const cpuMicrosUsed = cpuMicros(server.pid) - cpuBefore
    const stats = await server.request('stats')
    const parts = await Promise.all(gens.map((g) => g.request('results', {}, 120_000)))
    return summarize({ entry, roomSize, parts, startAt, cpuMicrosUsed, stats, status })
  } finally {
    await Promise.all([server, ...gens].map((c) => c.stop()))
  }
}

function summarize({ entry, roomSize, parts, startAt, cpuMicrosUsed, stats, status }) {
  const sentAt = parts.flatMap((p) => p.sentAt)
  const completeAt = parts.flatMap((p) => p.completeAt)
  const bytes = parts.flatMap((p) => p.presenceBytes)
  const frames = parts.flatMap((p) => p.presenceFrames)
  const expected = parts.flatMap((p) => p.expected)
  const rooms = Math.max(1, Math.ceil(users / roomSize))
  // The last join into each room: a list is complete once every member of its room is in it.
  const lastJoinOfRoom = new Array(rooms).fill(0)
  for (let g = 0; g < users; g++) lastJoinOfRoom[g % rooms] = Math.max(lastJoinOfRoom[g % rooms], sentAt[g])
  const afterLastJoin = []
  let incomplete = 0
  for (let g = 0; g < users; g++) {
    if (completeAt[g] === 0) incomplete++
    else afterLastJoin.push(completeAt[g] - lastJoinOfRoom[g % rooms])
  }
  afterLastJoin.sort((a, b) => a - b)
  const latency = Histogram.merge(parts.map((p) => p.joinLatency))
  const stateBytes = sum(parts.map((p) => p.stateBytes))
  const stateKeys = sum(parts.map((p) => p.stateKeys))
  const entryBytes = stateKeys > 0 ? stateBytes / stateKeys : null
  const keysLearned = sum(expected)
  const closeCodes = parts.flatMap((p) => p.closeCodes)
  const sent = sentAt.filter((at) => at > 0)
  return {
    build: entry.name,
    roomSize,
    rooms,
    users,
    replied: status.replied,
    complete: users - incomplete,
    incomplete,
    closed: closeCodes.length,
    closedSlow: closeCodes.filter((c) => c === 1013).length,
    // The joins are scheduled evenly over --join-seconds; a busy client process sends them late.
    joinsSentOverSeconds: +((Math.max(...sent) - Math.min(...sent)) / 1e6).toFixed(1),
    clientLagMs: { p99: +Math.max(...parts.map((p) => p.lag.p99Ms)).toFixed(0), max: +Math.max(...parts.map((p) => p.lag.maxMs)).toFixed(0) },
    joinReplyMs: { p50: ms(latency.quantile(0.5)), p99: ms(latency.quantile(0.99)), max: ms(latency.max) },
    completeAfterLastJoinMs: { p50: ms(quantile(afterLastJoin, 0.5)), max: ms(afterLastJoin.at(-1)) },
    allCompleteSeconds: incomplete === 0 ? +((Math.max(...completeAt) - startAt) / 1e6).toFixed(2) : null,
    presenceBytesPerUser: Math.round(sum(bytes) / users),
    presenceFramesPerUser: +(sum(frames) / users).toFixed(1),
    bytesPerKeyLearned: +(sum(bytes) / keysLearned).toFixed(1),
    stateEntryBytes: entryBytes && +entryBytes.toFixed(1),
    bytesPerKeyOverEntry: entryBytes && +(sum(bytes) / keysLearned / entryBytes).toFixed(2),
    serverCpuSeconds: +(cpuMicrosUsed / 1e6).toFixed(2),
    serverCpuPerJoinMicros: Math.round(cpuMicrosUsed / users),
    server: stats,
  }
}

async function main() {
  const results = []
  for (const entry of entries) {
    for (const roomSize of roomSizes) {
      const r = await runVariant(entry, roomSize)
      log(JSON.stringify({ ...r, server: undefined }))
      results.push(r)
    }
  }
  const report = { machine: machineInfo(), options: { users, joinSeconds, roomSizes, generators, timeoutMs, quick }, results, at: new Date().toISOString() }
  mkdirSync(outDir, { recursive: true })
  const stamp = new Date().toISOString().slice(0, 16).replace(/:/g, '')
  const name = `big-room-${stamp}${quick ? '-quick' : ''}`
  writeFileSync(join(outDir, `${name}.json`), JSON.stringify(report, null, 2))
  writeFileSync(join(outDir, `${name}.md`), bigRoomMarkdown(report))
  const svg = bigRoomSvg(report)
  if (svg !== undefined) writeFileSync(join(outDir, `${name}.svg`), svg)
  for (const ext of svg !== undefined ? ['json', 'md', 'svg'] : ['json', 'md']) copyFileSync(join(outDir, `${name}.${ext}`), join(outDir, `big-room-latest${quick ? '-quick' : ''}.${ext}`))
  log(`wrote ${join(outDir, name)}.{json,md${svg !== undefined ? ',svg' : ''}}`)
}

await main()
