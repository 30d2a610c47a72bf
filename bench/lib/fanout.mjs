// The measurement loops shared by bench/run.mjs and bench/cluster.mjs: start a server and load
// generators, connect subscribers, pump broadcasts through them, read CPU and memory from /proc.
import os from 'node:os'
import { Child } from './child.mjs'
import { Histogram, nowMicros } from './hist.mjs'
import { cpuDelta, cpuSnapshot, rssBytes } from './proc.mjs'

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** What kind of client a server needs. */
export const clientKindOf = (serverKind) => (serverKind === 'socketio' ? 'socketio' : 'hornbeam')

export function urlOf(serverKind, ready) {
  return serverKind === 'socketio' ? `http://127.0.0.1:${ready.port}` : `ws://127.0.0.1:${ready.port}${ready.path}`
}

/**
 * Starts one server process. Resolves { child, ready } or { error, missing } when it does not
 * come up (a package not built, a crash): the caller records it, the run goes on.
 */
export async function startServer(kind, { execArgv = [], extra = {}, name } = {}) {
  const child = new Child('server.mjs', [JSON.stringify({ kind, ...extra })], {
    execArgv: ['--expose-gc', ...execArgv],
    name: name ?? `server ${kind}`,
  })
  let timer
  try {
    const ready = await Promise.race([
      child.ready,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('server did not report ready within 30 s')), 30_000))),
    ])
    clearTimeout(timer)
    return { child, ready }
  } catch (err) {
    clearTimeout(timer)
    await child.kill()
    return { error: String(err?.message ?? err).split('\n').slice(0, 6).join('\n'), missing: !!err?.missing }
  }
}

export async function startGenerators(count) {
  const gens = Array.from({ length: count }, (_, i) => new Child('loadgen.mjs', [], { name: `loadgen ${i}` }))
  await Promise.all(gens.map((g) => g.ready))
  return gens
}

export async function stopAll(children) {
  await Promise.all(children.map((c) => c.stop(8000)))
}

/**
 * Connects `total` clients, split evenly over the generators, each joined to `topic`
 * (or not joined when topic is null). `localAddresses[i]`: the source address of generator i's
 * clients (none: the kernel picks, 127.0.0.1).
 */
export async function connectClients(gens, { kind, url, total, topic, concurrency = 64, localAddresses }) {
  const per = splitEvenly(total, gens.length)
  let first = 0
  const t0 = nowMicros()
  const results = await Promise.all(
    gens.map((g, i) => {
      const firstIndex = first
      first += per[i]
      if (per[i] === 0) return { opened: 0, joined: 0, failed: 0, errors: [] }
      const localAddress = localAddresses?.[i]
      return g.request('connect', { kind, url, count: per[i], topic, firstIndex, concurrency, ...(localAddress ? { localAddress } : {}) }, 600_000).then((r) => ((g.joined = r.joined), r))
    }),
  )
  const micros = nowMicros() - t0
  return {
    opened: sum(results.map((r) => r.opened)),
    joined: sum(results.map((r) => r.joined)),
    failed: sum(results.map((r) => r.failed)),
    errors: [...new Set(results.flatMap((r) => r.errors))].slice(0, 5),
    seconds: micros / 1e6,
    perSecond: Math.round(total / (micros / 1e6)),
  }
}

export function splitEvenly(total, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0))
}

export const sum = (xs) => xs.reduce((a, b) => a + b, 0)

/**
 * Broadcasts through `sender` (the server child) to the subscribers held by `gens`, keeping up to
 * `window` messages in flight: the next message goes out when every generator reports that all
 * of its clients received an earlier one. Stops sending after `durationMs` or `maxMessages`,
 * then waits for the messages in flight (up to `stallMs` without progress).
 * With window 1 and a `gapMs`, it is a paced run: one broadcast at a time, for latency.
 * Each broadcast runs in its own server turn, unless `burst` > 1: then that many go out in one
 * turn (what a server that corks per turn can coalesce). `binary`: payloads of bytes.
 * Resolves { sent, completed, startedAt, endedAt } (monotonic µs).
 */
export function pump({ sender, gens, topic, size, window, burst = 1, durationMs = Infinity, maxMessages = Infinity, seqStart, gapMs = 0, stallMs = 20_000, binary = false }) {
  const active = gens.filter((g) => g.joined > 0)
  return new Promise((resolve) => {
    const counts = new Map()
    let seq = seqStart
    let sent = 0
    let completed = 0
    let inFlight = 0
    let stopping = false
    let finished = false
    let lastProgress = Date.now()
    const startedAt = nowMicros()
    let endedAt = startedAt
    const deadline = Date.now() + durationMs
    const unsubscribe = active.map((g) =>
      g.onReport((m) => {
        if (m.type !== 'done') return
        const c = (counts.get(m.seq) ?? 0) + 1
        if (c < active.length) return void counts.set(m.seq, c)
        counts.delete(m.seq)
        inFlight--
        completed++
        endedAt = nowMicros()
        lastProgress = Date.now()
        if (gapMs > 0) setTimeout(refill, gapMs)
        else refill()
      }),
    )
    const finish = () => {
      if (finished) return
      finished = true
      clearInterval(watchdog)
      for (const u of unsubscribe) u()
      resolve({ sent, completed, startedAt, endedAt, seqNext: seq, stalled: inFlight > 0 })
    }
    const refill = () => {
      if (finished) return
      if (!stopping && (Date.now() >= deadline || sent >= maxMessages)) stopping = true
      // `burst` > 1: that many broadcasts in one server turn (one command), sent when they fit.
      while (!stopping && inFlight + burst <= Math.max(window, burst) && sent < maxMessages) {
        const count = Math.min(burst, maxMessages - sent)
        sender.post('broadcast', { topic, seq, count, size, burst: burst > 1, binary })
        seq += count
        sent += count
        inFlight += count
      }
      if (stopping && inFlight === 0) finish()
    }
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > stallMs) finish()
      else if (!stopping && Date.now() >= deadline) refill()
    }, 100)
    if (active.length === 0) return finish()
    refill()
  })
}

/** Resets the generators, runs `pump`, collects their reports and reads /proc around it. */
export async function measuredPump({ server, gens, pids, ...pumpArgs }) {
  await Promise.all(gens.map((g) => g.request('reset')))
  const before = cpuSnapshot(pids)
  const result = await pump({ sender: server, gens, ...pumpArgs })
  const after = cpuSnapshot(pids)
  const reports = await Promise.all(gens.map((g) => g.request('report', { expected: result.sent })))
  const hist = Histogram.merge(reports.map((r) => r.hist))
  const joined = sum(reports.map((r) => r.joined))
  const received = sum(reports.map((r) => r.received))
  const expected = result.sent * joined
  const seconds = (result.endedAt - result.startedAt) / 1e6
  const cpu = cpuDelta(before, after)
  return {
    messages: result.sent,
    subscribers: joined,
    deliveries: received,
    expectedDeliveries: expected,
    missing: expected - received,
    clientsShort: sum(reports.map((r) => r.clientsShort)),
    clientsClosed: sum(reports.map((r) => r.clientsClosed)),
    unexpectedFrames: sum(reports.map((r) => r.unexpected)),
    seconds: +seconds.toFixed(4),
    deliveriesPerSecond: seconds > 0 ? Math.round(received / seconds) : null,
    latency: hist.summary(),
    serverCpuMicros: Math.round(cpu.groups.server.cpuMicros),
    serverCpuMicrosPerDelivery: received > 0 ? +(cpu.groups.server.cpuMicros / received).toFixed(3) : null,
    clientsCpuMicrosPerDelivery: received > 0 ? +(cpu.groups.clients.cpuMicros / received).toFixed(3) : null,
    serverCoreShare: +cpu.groups.server.coreShare.toFixed(3),
    clientsCoreShare: +cpu.groups.clients.coreShare.toFixed(3),
    orchestratorCoreShare: cpu.groups.orchestrator ? +cpu.groups.orchestrator.coreShare.toFixed(3) : undefined,
    machineBusyShare: +cpu.machineBusyShare.toFixed(3),
    // CPU taken by processes outside this benchmark (other jobs on the machine), in cores.
    otherCoreShare: +Math.max(0, cpu.machineBusyShare * os.cpus().length - Object.values(cpu.groups).reduce((a, g) => a + g.coreShare, 0)).toFixed(3),
    groups: Object.fromEntries(
      Object.entries(cpu.groups).map(([name, g]) => [
        name,
        { cpuMicrosPerDelivery: received > 0 ? +(g.cpuMicros / received).toFixed(3) : null, coreShare: +g.coreShare.toFixed(3) },
      ]),
    ),
    seqNext: result.seqNext,
    stalled: result.stalled,
  }
}

/** The server's RSS after two full GCs (asked over IPC), in bytes, and its heap then. */
export async function settledMemory(server, pid, settleMs = 300) {
  await sleep(settleMs)
  const { memory } = await server.request('gc', {}, 60_000)
  await sleep(50)
  return { rss: rssBytes(pid), heapUsed: memory.heapUsed, external: memory.external, arrayBuffers: memory.arrayBuffers }
}

/** Waits until the server counts `n` connections (or `timeoutMs`). */
export async function waitConnections(server, n, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs
  let stats
  do {
    stats = await server.request('stats', {}, 30_000)
    if (stats.connections === n) return stats
    await sleep(100)
  } while (Date.now() < until)
  return stats
}
