#!/usr/bin/env node
// What a schema costs per message: the same push, answered by the same handler, on a channel
// without a schema and on channels whose event has a small Zod or Valibot schema
// ({ body: string ≤ 2000, n: non-negative integer }). The server runs in its own process and
// reports its CPU time; clients (raw `ws`, hornbeam wire) in this process keep `window` pushes
// in flight each. Rounds interleave the variants (plain, zod, valibot, then rotated), so drift
// hits them alike; the report gives server CPU per push and the ratio to plain.
//
//   node bench/validation.mjs [--quick] [--pushes n] [--clients n] [--rounds n] [--out dir]
// Writes <out>/validation[-quick].{json,md}. See bench/README.md, "Schema validation".
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import os from 'node:os'
import WebSocket from 'ws'
import { Child } from './lib/child.mjs'

const argv = process.argv.slice(2)
const option = (name) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : undefined
}
const quick = argv.includes('--quick')
const cfg = {
  clients: Number(option('clients') ?? 20),
  pushes: Number(option('pushes') ?? (quick ? 40_000 : 200_000)),
  rounds: Number(option('rounds') ?? (quick ? 2 : 4)),
  window: 20,
}
const VARIANTS = ['plain', 'zod', 'valibot']
const outDir = option('out') ?? fileURLToPath(new URL('./results', import.meta.url))
const log = (s) => console.log(`[validation] ${s}`)

function connect(port) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/websocket`, { perMessageDeflate: false })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

/** Each client joins `<variant>:<i>` and pushes its share, `window` in flight; resolves on the last reply. */
async function round(server, sockets, variant) {
  const per = Math.floor(cfg.pushes / sockets.length)
  let errors = 0
  const joined = sockets.map((ws, i) => new Promise((resolve) => {
    const topic = `${variant}:${i}`
    const joinRef = `j${variant}${i}`
    ws.removeAllListeners('message')
    ws.on('message', (data) => {
      const [, ref, , event, payload] = JSON.parse(data)
      if (ref === joinRef && event === 'hb_reply') resolve({ ws, topic, joinRef })
    })
    ws.send(JSON.stringify([joinRef, joinRef, topic, 'hb_join', {}]))
  }))
  const clients = await Promise.all(joined)
  await server.request('start')
  const t0 = process.hrtime.bigint()
  await Promise.all(clients.map(({ ws, topic, joinRef }) => new Promise((resolve) => {
    let sent = 0
    let answered = 0
    const push = () => {
      sent++
      ws.send(JSON.stringify([joinRef, String(sent), topic, 'msg', { body: 'hello, this is a chat message', n: sent }]))
    }
    ws.removeAllListeners('message')
    ws.on('message', (data) => {
      const frame = JSON.parse(data)
      if (frame[3] !== 'hb_reply') return
      if (frame[4]?.status !== 'ok') errors++
      if (++answered === per) return resolve()
      if (sent < per) push()
    })
    for (let k = 0; k < cfg.window && sent < per; k++) push()
  })))
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6
  const { cpuMicros, invalid } = await server.request('stop')
  for (const { ws, topic, joinRef } of clients) ws.send(JSON.stringify([joinRef, 'leave', topic, 'hb_leave', {}]))
  return { variant, pushes: per * clients.length, cpuMicros, wallMs, errors, invalid }
}

const server = new Child('lib/validation-server.mjs', [], { execArgv: ['--expose-gc'], name: 'validation-server' })
const { port } = await server.ready
const sockets = await Promise.all(Array.from({ length: cfg.clients }, () => connect(port)))
log(`${cfg.clients} clients, ${cfg.pushes} pushes per variant per round, ${cfg.rounds} rounds (+1 warm-up)`)
const rows = []
for (let r = 0; r <= cfg.rounds; r++) {
  const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length])
  for (const variant of order) {
    const row = await round(server, sockets, variant)
    if (r > 0) rows.push({ round: r, ...row })
    log(`${r === 0 ? 'warm-up' : `round ${r}`} ${variant}: ${(row.cpuMicros / row.pushes).toFixed(2)} µs server CPU per push, ${Math.round(row.pushes / (row.wallMs / 1000))} pushes/s${row.errors ? `, ${row.errors} error replies` : ''}`)
  }
}
const micro = await server.request('micro', { iterations: 500_000 })
for (const ws of sockets) ws.close()
await server.request('exit').catch(() => {})

const summary = VARIANTS.map((variant) => {
  const mine = rows.filter((r) => r.variant === variant)
  const pushes = mine.reduce((a, r) => a + r.pushes, 0)
  const cpu = mine.reduce((a, r) => a + r.cpuMicros, 0)
  const wall = mine.reduce((a, r) => a + r.wallMs, 0)
  return { variant, pushes, cpuPerPushMicros: cpu / pushes, pushesPerSecond: pushes / (wall / 1000), errors: mine.reduce((a, r) => a + r.errors, 0) }
})
const plain = summary[0]
for (const s of summary) {
  s.cpuRatio = s.cpuPerPushMicros / plain.cpuPerPushMicros
  s.extraMicros = s.cpuPerPushMicros - plain.cpuPerPushMicros
}
const stamp = new Date().toISOString().slice(0, 16).replace('T', ' ')
const md = [
  `# Schema validation per message, ${stamp} UTC`,
  '',
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, Node ${process.version}. Server (Hornbeam on node:http, history off, rate limits lifted) in its own process; ${cfg.clients} \`ws\` clients in the orchestrator, ${cfg.window} pushes in flight each, every push answered by the same handler (\`['reply', { n }]\`). Per variant and round ${cfg.pushes.toLocaleString('en')} pushes of \`{ body: 'hello, this is a chat message', n }\`; ${cfg.rounds} rounds after a warm-up, variants interleaved.`,
  '',
  '| channel | server CPU per push (µs) | × plain | extra per push (µs) | pushes/s | error replies |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...summary.map((s) => `| ${s.variant === 'plain' ? 'no schema' : `${s.variant} schema`} | ${s.cpuPerPushMicros.toFixed(2)} | ${s.cpuRatio.toFixed(2)} | ${s.variant === 'plain' ? '–' : s.extraMicros.toFixed(2)} | ${Math.round(s.pushesPerSecond).toLocaleString('en')} | ${s.errors} |`),
  '',
  `The schema call alone (\`schema['~standard'].validate(payload)\` in a loop in the server process, 500,000 calls): ${Object.entries(micro).map(([k, ns]) => `${k} ${(ns / 1000).toFixed(2)} µs`).join(', ')} per call. The per-push difference above is within the noise of a push's own cost whenever it is smaller than the spread between rounds.`,
  '',
  'Per round (µs per push): ' + VARIANTS.map((v) => `${v} ${rows.filter((r) => r.variant === v).map((r) => (r.cpuMicros / r.pushes).toFixed(2)).join(', ')}`).join('; ') + '.',
  '',
]
mkdirSync(outDir, { recursive: true })
const base = join(outDir, `validation${quick ? '-quick' : ''}`)
writeFileSync(`${base}.json`, JSON.stringify({ when: new Date().toISOString(), cfg, rows, summary, microNanos: micro }, null, 2))
writeFileSync(`${base}.md`, md.join('\n'))
console.log(md.join('\n'))
log(`wrote ${base}.{json,md}`)
