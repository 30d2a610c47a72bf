// The benchmark harness in its tiny mode: every server under test answers and every message
// arrives. Counts only, never times (bench/run.mjs --tiny checks them and exits non-zero).
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// tap's per-file timeout (120 s in package.json) would end this file before the subtest's own
// 180 s: raise this file's limit above it (the root test tells the runner so).
t.setTimeout(200_000)

const root = fileURLToPath(new URL('..', import.meta.url))
const SERVERS = ['hornbeam-http', 'hornbeam-fastify', 'hornbeam-express', 'hornbeam-koa', 'hornbeam-hono', 'hornbeam-nest', 'ws-raw', 'socketio']

t.test('bench/run.mjs --tiny: every server answers, every message is delivered', { timeout: 180_000 }, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'hornbeam-bench-test-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))

  const child = spawn(process.execPath, ['bench/run.mjs', '--tiny', '--out', out], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
  t.equal(code, 0, 'exit code 0', { output })

  const result = JSON.parse(readFileSync(join(out, 'tiny.json'), 'utf8'))
  t.same(result.problems, [], 'no problems reported')
  t.equal(result.allDelivered, true, 'allDelivered')
  for (const server of SERVERS) {
    t.ok(result.servers[server], `${server} is listed`)
    const rows = result.fanout.filter((r: any) => r.server === server)
    t.ok(rows.length > 0, `${server} ran the fan-out`)
    for (const row of rows) {
      t.equal(row.status, 'ok', `${server} fan-out status`, { error: row.error })
      t.equal(row.connect.joined, row.subscribers, `${server}: all ${row.subscribers} clients joined`)
      // A row without cells, or a cell without a phase, measured nothing: a failure, not a pass.
      t.ok(row.cells.length > 0, `${server}: the fan-out row has cells`)
      for (const cell of row.cells) {
        for (const phase of ['throughput', 'burst', 'latency']) {
          const p = cell[phase]
          t.ok(p, `${server} ${phase}: measured (--tiny runs every phase)`)
          if (!p) continue
          t.ok(p.messages > 0, `${server} ${phase}: messages sent`)
          t.equal(p.deliveries, p.messages * row.subscribers, `${server} ${phase}: every message reached every subscriber`)
          t.equal(p.missing, 0, `${server} ${phase}: nothing missing`)
        }
      }
    }
    const joins = result.joins.find((r: any) => r.server === server)
    t.ok(joins, `${server} ran the joins scenario`)
    t.equal(joins?.status, 'ok', `${server} joins status`, { error: joins?.error })
    t.equal(joins?.ok, joins?.joins, `${server}: every join answered ok`)
    if (server.startsWith('hornbeam')) t.equal(joins?.presenceEntries, joins?.expectedPresenceEntries, `${server}: every join tracked`)
  }
})

t.test('bench/run.mjs --tiny --scenarios longpoll: sessions open, join and idle; the report has the figures', { timeout: 120_000 }, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'hornbeam-bench-test-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const child = spawn(process.execPath, ['bench/run.mjs', '--tiny', '--scenarios', 'longpoll', '--out', out], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
  t.equal(code, 0, 'exit code 0', { output })
  const result = JSON.parse(readFileSync(join(out, 'tiny.json'), 'utf8'))
  t.same(result.problems, [], 'no problems reported')
  const lp = result.longPoll
  t.equal(lp?.status, 'ok', 'the scenario ran', { error: lp?.error })
  t.equal(lp.opens.opened, lp.opens.sessions, 'every open answered with a session')
  t.ok(lp.opens.opensPerSecond > 0 && lp.opens.serverCpuMicrosPerOpen > 0, 'opens per second and server CPU per open measured')
  t.equal(lp.idle.joined, lp.idle.sessions, 'every idle session joined')
  t.equal(lp.idle.serverSessions, lp.idle.sessions, 'the server held them all')
  t.equal(lp.idle.pollErrors, 0, 'no poll failed while idle')
  t.ok(Number.isFinite(lp.idle.rssBytesPerSession) && Number.isFinite(lp.websocket.rssBytesPerSocket), 'memory per idle session, and per idle WebSocket beside it')
  t.match(readFileSync(join(out, 'tiny.md'), 'utf8'), /## Long-poll: sessions opened per second, memory per idle session/, 'the report has its section')
})
