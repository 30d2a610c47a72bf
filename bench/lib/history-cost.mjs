// What topic history costs the fan-out: the `fanout-topics` scenario (many topics of few
// subscribers, where the per-broadcast history work is not hidden by fan-out), and the
// "history on / history off" comparison of bench/run.mjs --servers hornbeam-http,hornbeam-http-nohistory,…
// (both the one-topic fan-out and fanout-topics), for the JSON (`historyComparison`) and the Markdown.
//
// History is on by default: `hub.channel('bench:*')` keeps the last 100 broadcasts of each topic
// for 2 minutes (64 MiB hub-wide), and every broadcast gets its position in its frame's ref slot.
// `hornbeam-http-nohistory` is the same server with `createHub({ history: false })`.
import os from 'node:os'
import { Child } from './child.mjs'
import { Histogram, nowMicros } from './hist.mjs'
import { cpuDelta, cpuSnapshot } from './proc.mjs'
import { clientKindOf, settledMemory, startServer, stopAll, sum, urlOf, waitConnections } from './fanout.mjs'

export const HISTORY_ON = 'hornbeam-http'
export const HISTORY_OFF = 'hornbeam-http-nohistory'
/** The goal of the issue: the fan-out cost per delivery with history on at most this × off. */
export const HISTORY_GOAL = 1.1

/**
 * What the profile pass measures whole in a server's profile (bench/lib/profile.mjs): the
 * history's own work per broadcast (appending, trimming, sweeping; not building the frame, which
 * every build does once per broadcast: in append with history on, at the first subscriber
 * without), and frame building for comparison. Read from samples, so the number does not move
 * with how busy the machine was, unlike CPU per delivery across two processes.
 */
const inHistory = (frame) => /\/history\/(memory|topic-history|frame-arena)\.js$/.test(frame.url) && /^(append|sweep)$/.test(frame.functionName)
const buildsFrame = (frame) => frame.functionName === 'frameFor' && frame.url.endsWith('/message.js')
export const HISTORY_GROUPS = [
  { name: 'history: keeping a broadcast (frame building excluded)', inside: inHistory, outside: buildsFrame },
  { name: 'building frames (any)', inside: buildsFrame },
]

/** The topics of a shape: `bench:t0` … `bench:t<T-1>`; topic j lives in generator j mod G. */
export function topicsOf(sockets, perTopic) {
  return Math.max(1, Math.floor(sockets / perTopic))
}

/** The order of the servers in round `round`: history on and off swap places every other round. */
export function historyRoundOrder(servers, round) {
  const a = servers.indexOf(HISTORY_ON)
  const b = servers.indexOf(HISTORY_OFF)
  if (round % 2 === 1 || a < 0 || b < 0) return servers
  const out = [...servers]
  out[a] = HISTORY_OFF
  out[b] = HISTORY_ON
  return out
}

/**
 * Broadcasts spread over `topics` topics (message i to topic (topicStart + i) mod topics), keeping
 * up to `window` deliveries in flight: the generators report their running totals every few ms,
 * and the next command (`chunk` broadcasts, `perTurn` per server turn) goes out when it fits.
 * Stops sending after `durationMs` or `maxMessages`, then waits for what is in flight.
 */
function spreadPump({ server, gens, topics, perTopic, size, window, perTurn, chunk, durationMs = Infinity, maxMessages = Infinity, seqStart, topicStart = 0, stallMs = 20_000 }) {
  return new Promise((resolve) => {
    const got = gens.map(() => 0)
    let receivedAll = 0
    let sent = 0
    let seq = seqStart
    let stopping = false
    let finished = false
    let lastProgress = Date.now()
    const startedAt = nowMicros()
    let endedAt = startedAt
    const deadline = Date.now() + durationMs
    const unsubscribe = gens.map((g, i) =>
      g.onReport((m) => {
        if (m.type !== 'progress') return
        receivedAll += m.received - got[i]
        got[i] = m.received
        endedAt = nowMicros()
        lastProgress = Date.now()
        refill()
      }),
    )
    const finish = () => {
      if (finished) return
      finished = true
      clearInterval(watchdog)
      for (const u of unsubscribe) u()
      resolve({ sent, startedAt, endedAt, seqNext: seq, topicNext: (topicStart + sent) % topics, stalled: receivedAll < sent * perTopic })
    }
    const refill = () => {
      if (finished) return
      if (!stopping && (Date.now() >= deadline || sent >= maxMessages)) stopping = true
      while (!stopping && sent < maxMessages && (sent + chunk) * perTopic - receivedAll <= window) {
        const count = Math.min(chunk, maxMessages - sent)
        server.post('broadcastSpread', { prefix: 'bench:t', topics, topic: (topicStart + sent) % topics, seq, count, size, perTurn })
        seq += count
        sent += count
      }
      if (stopping && receivedAll >= sent * perTopic) finish()
    }
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > stallMs) finish()
      else if (!stopping && Date.now() >= deadline) refill()
    }, 50)
    refill()
  })
}

async function measuredSpread({ server, gens, pids, perTopic, ...args }) {
  await Promise.all(gens.map((g) => g.request('reset')))
  const before = cpuSnapshot(pids)
  const result = await spreadPump({ server, gens, perTopic, ...args })
  const after = cpuSnapshot(pids)
  const reports = await Promise.all(gens.map((g) => g.request('report')))
  const received = sum(reports.map((r) => r.received))
  const expected = result.sent * perTopic
  const seconds = (result.endedAt - result.startedAt) / 1e6
  const cpu = cpuDelta(before, after)
  const hist = Histogram.merge(reports.map((r) => r.hist))
  const server_ = cpu.groups.server.cpuMicros
  return {
    messages: result.sent,
    perTopic,
    deliveries: received,
    expectedDeliveries: expected,
    missing: expected - received,
    unexpectedFrames: sum(reports.map((r) => r.unexpected)),
    clientsClosed: sum(reports.map((r) => r.closed)),
    seconds: +seconds.toFixed(4),
    deliveriesPerSecond: seconds > 0 ? Math.round(received / seconds) : null,
    broadcastsPerSecond: seconds > 0 ? Math.round(result.sent / seconds) : null,
    latency: hist.summary(),
    serverCpuMicros: Math.round(server_),
    serverCpuMicrosPerDelivery: received > 0 ? +(server_ / received).toFixed(3) : null,
    serverCpuMicrosPerBroadcast: result.sent > 0 ? +(server_ / result.sent).toFixed(3) : null,
    serverSystemMicrosPerDelivery: received > 0 && Number.isFinite(cpu.groups.server.systemMicros) ? +(cpu.groups.server.systemMicros / received).toFixed(3) : null,
    clientsCpuMicrosPerDelivery: received > 0 ? +(cpu.groups.clients.cpuMicros / received).toFixed(3) : null,
    serverCoreShare: +cpu.groups.server.coreShare.toFixed(3),
    clientsCoreShare: +cpu.groups.clients.coreShare.toFixed(3),
    machineBusyShare: +cpu.machineBusyShare.toFixed(3),
    otherCoreShare: +Math.max(0, cpu.machineBusyShare * os.cpus().length - Object.values(cpu.groups).reduce((a, g) => a + g.coreShare, 0)).toFixed(3),
    seqNext: result.seqNext,
    topicNext: result.topicNext,
    stalled: result.stalled,
  }
}

/**
 * One server process, `sockets` clients over sockets/perTopic topics (`bench:t<j>`), each size:
 * a warm-up that fills every topic's history (up to its 100 messages, or `warmupMs`), the
 * saturated phase (one broadcast per server turn, topics taken in turn) and the burst phase
 * (`burstSize` broadcasts to consecutive topics in one turn).
 */
export async function fanoutTopicsFor(key, { spec, sockets, perTopic, cfg, log, execArgv = [] }) {
  const { kind, entry, label } = spec(key)
  const topics = topicsOf(sockets, perTopic)
  const row = { server: key, label, sockets: topics * perTopic, topics, perTopic, status: 'ok', cells: [] }
  const started = await startServer(kind, { execArgv, extra: entry ? { entry } : {}, name: `server ${key}` })
  if (started.error) return { ...row, status: started.missing ? 'missing' : 'failed', error: started.error }
  const { child: server, ready } = started
  row.from = ready.from
  const gens = Array.from({ length: cfg.generators }, (_, i) => new Child('lib/topics-loadgen.mjs', [], { name: `topics-loadgen ${i}` }))
  const pids = { server: [server.pid], clients: gens.map((g) => g.pid), orchestrator: [process.pid] }
  try {
    await Promise.all(gens.map((g) => g.ready))
    const url = urlOf(kind, ready)
    const t0 = nowMicros()
    const results = await Promise.all(
      gens.map((g, gi) => {
        const mine = []
        for (let j = gi; j < topics; j += gens.length) mine.push(`bench:t${j}`)
        return mine.length ? g.request('connect', { kind: clientKindOf(kind), url, topics: mine, perTopic }, 600_000) : { opened: 0, joined: 0, failed: 0, errors: [] }
      }),
    )
    const joined = sum(results.map((r) => r.joined))
    row.connect = { opened: sum(results.map((r) => r.opened)), joined, failed: sum(results.map((r) => r.failed)), seconds: +((nowMicros() - t0) / 1e6).toFixed(2) }
    if (joined !== row.sockets) throw new Error(`only ${joined} of ${row.sockets} clients joined: ${results.flatMap((r) => r.errors).join('; ')}`)
    await waitConnections(server, row.connect.opened)
    const window = cfg.inFlightDeliveries
    // Messages per command: a few commands per window, a whole number of server turns each.
    const chunkOf = (perTurn) => Math.max(perTurn, Math.floor(Math.min(500, window / (4 * perTopic)) / perTurn) * perTurn)
    let seq = 1
    let topic = 0
    for (const size of cfg.sizes) {
      const common = { server, gens, pids, topics, perTopic, size, window }
      const warm = await measuredSpread({
        ...common, perTurn: 1, chunk: chunkOf(1), seqStart: seq, topicStart: topic,
        maxMessages: cfg.topicsWarmupMessages ?? cfg.historySize * topics, durationMs: cfg.topicsWarmupMs,
      })
      ;({ seqNext: seq, topicNext: topic } = warm)
      const throughput = await measuredSpread({
        ...common, perTurn: 1, chunk: chunkOf(1), seqStart: seq, topicStart: topic,
        durationMs: cfg.throughputMs, maxMessages: cfg.throughputMessages ?? Infinity,
      })
      ;({ seqNext: seq, topicNext: topic } = throughput)
      let burst
      if (cfg.burstSize > 1) {
        burst = await measuredSpread({
          ...common, perTurn: cfg.burstSize, chunk: chunkOf(cfg.burstSize), seqStart: seq, topicStart: topic,
          durationMs: cfg.burstMs, maxMessages: cfg.burstMessages ?? Infinity,
        })
        ;({ seqNext: seq, topicNext: topic } = burst)
      }
      const stats = await server.request('stats', {}, 30_000)
      row.cells.push({ size, window, warmup: { messages: warm.messages, missing: warm.missing, seconds: warm.seconds }, throughput, burst, history: stats.history ?? null })
      log(
        `  ${key} ${perTopic}/topic × ${topics} topics, ${size} B: ${throughput.deliveriesPerSecond} deliveries/s,` +
          ` ${throughput.serverCpuMicrosPerDelivery} µs/delivery, ${throughput.serverCpuMicrosPerBroadcast} µs/broadcast;` +
          (burst ? ` burst of ${cfg.burstSize}: ${burst.serverCpuMicrosPerDelivery} µs/delivery;` : '') +
          ` history ${stats.history ? `${stats.history.entries} entries, ${(stats.history.bytes / 2 ** 20).toFixed(1)} MiB` : 'off'};` +
          ` missing ${warm.missing + throughput.missing + (burst?.missing ?? 0)}`,
      )
      if (warm.missing || throughput.missing || burst?.missing) row.status = 'failed'
    }
    const mem = await settledMemory(server, server.pid, 100)
    row.memoryAfter = { rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external }
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

const PHASES = ['throughput', 'burst']
const slim = (p) =>
  p && {
    serverCpuMicrosPerDelivery: p.serverCpuMicrosPerDelivery,
    serverCpuMicrosPerBroadcast: p.serverCpuMicrosPerBroadcast,
    serverSystemMicrosPerDelivery: p.serverSystemMicrosPerDelivery,
    deliveriesPerSecond: p.deliveriesPerSecond,
    serverCoreShare: p.serverCoreShare,
    clientsCoreShare: p.clientsCoreShare,
    otherCoreShare: p.otherCoreShare,
    missing: p.missing,
  }
const medianBy = (items, f) => {
  const ok = items.filter((x) => x && typeof f(x) === 'number')
  if (ok.length === 0) return undefined
  return [...ok].sort((a, b) => f(a) - f(b))[Math.floor((ok.length - 1) / 2)]
}

/** One row per (server, perTopic) from the rounds: each phase the round with the median CPU per delivery. */
export function combineTopicRounds(raw) {
  const groups = new Map()
  for (const row of raw) {
    const k = `${row.server}|${row.perTopic}`
    if (!groups.has(k)) groups.set(k, [])
    groups.get(k).push(row)
  }
  const out = []
  for (const rows of groups.values()) {
    const first = rows.find((r) => r.cells?.length) ?? rows[0]
    const failed = rows.find((r) => r.status !== 'ok')
    const row = { ...first, status: failed ? failed.status : 'ok', error: failed?.error, rounds: rows.length, cells: [] }
    delete row.round
    for (const c of first.cells ?? []) {
      const all = rows.map((r) => r.cells?.find((x) => x.size === c.size))
      const cell = { size: c.size, window: c.window, history: c.history }
      for (const name of PHASES) {
        const chosen = medianBy(all.map((x) => x?.[name]), (p) => p.serverCpuMicrosPerDelivery)
        cell[name] = chosen && { ...chosen, rounds: all.map((x) => slim(x?.[name]) ?? null) }
      }
      row.cells.push(cell)
    }
    out.push(row)
  }
  return out
}

const geomean = (xs) => (xs.length ? Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length) : null)
const r3 = (v) => (typeof v === 'number' && Number.isFinite(v) ? +v.toFixed(3) : null)

/**
 * History on / history off, per cell: the median round's server CPU µs per delivery (and per
 * broadcast) of each, their ratio, and the ratio of each round's pair (the rounds interleave the
 * two servers, so round r of one ran next to round r of the other). Null when the run did not
 * have both servers.
 */
export function compareHistory(result) {
  const servers = result.config.servers ?? []
  if (!servers.includes(HISTORY_ON) || !servers.includes(HISTORY_OFF)) return null
  const rows = []
  const addCell = (shape, where, onCell, offCell, perBroadcast) => {
    for (const phase of PHASES) {
      const on = onCell?.[phase]
      const off = offCell?.[phase]
      if (!on || !off) continue
      const onRounds = on.rounds ?? [on]
      const offRounds = off.rounds ?? [off]
      const roundRatios = onRounds.map((x, i) => (x?.serverCpuMicrosPerDelivery && offRounds[i]?.serverCpuMicrosPerDelivery ? r3(x.serverCpuMicrosPerDelivery / offRounds[i].serverCpuMicrosPerDelivery) : null))
      rows.push({
        shape,
        ...where,
        phase,
        on: { perDelivery: on.serverCpuMicrosPerDelivery, kernelPerDelivery: median(onRounds.map((x) => x?.serverSystemMicrosPerDelivery)), perBroadcast: perBroadcast(on), deliveriesPerSecond: on.deliveriesPerSecond, rounds: onRounds.map((x) => x?.serverCpuMicrosPerDelivery ?? null) },
        off: { perDelivery: off.serverCpuMicrosPerDelivery, kernelPerDelivery: median(offRounds.map((x) => x?.serverSystemMicrosPerDelivery)), perBroadcast: perBroadcast(off), deliveriesPerSecond: off.deliveriesPerSecond, rounds: offRounds.map((x) => x?.serverCpuMicrosPerDelivery ?? null) },
        ratio: on.serverCpuMicrosPerDelivery && off.serverCpuMicrosPerDelivery ? r3(on.serverCpuMicrosPerDelivery / off.serverCpuMicrosPerDelivery) : null,
        roundRatios,
        extraMicrosPerBroadcast: perBroadcast(on) !== null && perBroadcast(off) !== null ? r3(perBroadcast(on) - perBroadcast(off)) : null,
      })
    }
  }
  for (const onRow of result.fanout ?? []) {
    if (onRow.server !== HISTORY_ON) continue
    const offRow = result.fanout.find((r) => r.server === HISTORY_OFF && r.subscribers === onRow.subscribers)
    for (const c of onRow.cells) {
      const n = onRow.subscribers
      addCell('one topic', { subscribers: n, topics: 1, perTopic: n, size: c.size }, c, offRow?.cells.find((x) => x.size === c.size), (p) => (p.serverCpuMicrosPerDelivery ? r3(p.serverCpuMicrosPerDelivery * n) : null))
    }
  }
  for (const onRow of result.fanoutTopics ?? []) {
    if (onRow.server !== HISTORY_ON) continue
    const offRow = result.fanoutTopics.find((r) => r.server === HISTORY_OFF && r.perTopic === onRow.perTopic)
    for (const c of onRow.cells) {
      addCell('many topics', { subscribers: onRow.sockets, topics: onRow.topics, perTopic: onRow.perTopic, size: c.size }, c, offRow?.cells.find((x) => x.size === c.size), (p) => p.serverCpuMicrosPerBroadcast ?? (p.serverCpuMicrosPerDelivery ? r3(p.serverCpuMicrosPerDelivery * onRow.perTopic) : null))
    }
  }
  const summary = {}
  for (const shape of ['one topic', 'many topics']) {
    for (const phase of PHASES) {
      const rs = rows.filter((r) => r.shape === shape && r.phase === phase && typeof r.ratio === 'number').map((r) => r.ratio)
      if (rs.length === 0) continue
      summary[`${shape}|${phase}`] = { shape, phase, cells: rs.length, geomean: r3(geomean(rs)), worst: Math.max(...rs), met: rs.filter((r) => r <= HISTORY_GOAL).length }
    }
  }
  // Memory per idle joined connection and CPU per join, on and off (history kept nothing then).
  const extra = []
  for (const onRow of result.fanout ?? []) {
    if (onRow.server !== HISTORY_ON) continue
    const offRow = result.fanout.find((r) => r.server === HISTORY_OFF && r.subscribers === onRow.subscribers)
    const a = onRow.memory?.bytesPerConnection
    const b = offRow?.memory?.bytesPerConnection
    if (a && b) extra.push({ figure: 'RSS B/connection (idle, joined)', subscribers: onRow.subscribers, on: a, off: b, ratio: r3(a / b) })
  }
  const jOn = result.joins?.find((r) => r.server === HISTORY_ON)
  const jOff = result.joins?.find((r) => r.server === HISTORY_OFF)
  if (jOn?.serverCpuMicrosPerJoin && jOff?.serverCpuMicrosPerJoin) {
    extra.push({ figure: 'server CPU µs/join (with presence)', joins: jOn.joins, on: jOn.serverCpuMicrosPerJoin, off: jOff.serverCpuMicrosPerJoin, ratio: r3(jOn.serverCpuMicrosPerJoin / jOff.serverCpuMicrosPerJoin) })
  }
  return { goal: HISTORY_GOAL, rows, summary: Object.values(summary), extra, fromProfile: profileEstimate(result, rows) }
}

/** The median of the numbers among `xs` (the lower one of an even count, as medianBy), or null. */
const median = (xs) => medianBy(xs, (x) => x) ?? null

/**
 * The history's cost from the profile pass: its own code's µs per broadcast (HISTORY_GROUPS, read
 * from the samples of the history-on server) over history off's server CPU per broadcast in the
 * same shape (1 subscriber per topic, 100 B, one per turn): the ratio that much extra work makes.
 * Garbage collection the history causes is not in it (the collector's samples name no caller).
 */
function profileEstimate(result, rows) {
  const profile = (result.profiles ?? []).find((p) => p.server === HISTORY_ON && /^fanout-topics/.test(p.scenario ?? ''))
  const own = profile?.groups?.find((g) => g.name.startsWith('history:'))
  const perTopic = Number(/(\d+) subscriber/.exec(profile?.scenario ?? '')?.[1])
  const cell = rows.find((r) => r.shape === 'many topics' && r.perTopic === perTopic && r.size === 100 && r.phase === 'throughput')
  if (!own?.microsPerBroadcast || !cell?.off.perBroadcast) return null
  return {
    perTopic,
    broadcasts: profile.broadcasts,
    historyMicrosPerBroadcast: own.microsPerBroadcast,
    offMicrosPerBroadcast: cell.off.perBroadcast,
    ratio: r3(1 + own.microsPerBroadcast / cell.off.perBroadcast),
    medianRoundRatio: r3(median(cell.roundRatios)),
  }
}

const fmt = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? '–' : d === 0 ? Math.round(v).toLocaleString('en-US') : Number(v).toFixed(d))
const fmtX = (r) => (typeof r === 'number' && Number.isFinite(r) ? `${r.toFixed(2)}×` : '–')
const sizeName = (s) => (s >= 1024 ? `${s / 1024} KiB` : `${s} B`)
const pct = (v) => (typeof v === 'number' ? `${Math.round(v * 100)}%` : '–')

/** The Markdown of the fanout-topics scenario (every server of the run, ratios to raw ws). */
export function renderFanoutTopics(result) {
  const rows = result.fanoutTopics ?? []
  if (rows.length === 0) return []
  const servers = result.config.servers
  const label = (s) => result.servers[s]?.label ?? s
  const multi = (result.config.rounds ?? 1) > 1
  const L = ['## Fan-out over many topics of few subscribers (`fanout-topics`)', '']
  const first = rows[0]
  L.push(
    `${fmt(first.sockets, 0)} clients spread over topics of 1 to 10 subscribers each (\`bench:t<j>\`, all of one topic in the same load generator); ` +
      'the broadcasts go to the topics in turn, so each topic gets one in every T. Before each size a warm-up fills every topic\'s history ' +
      `(its 100 messages, or ${fmt((result.config.topicsWarmupMs ?? 0) / 1000, 1)} s), so the measured phases run at the steady state: every append drops the oldest entry. ` +
      'Saturated: one broadcast per server turn, a window of deliveries in flight. ' +
      `Burst: ${result.config.burstSize} broadcasts (to ${result.config.burstSize} consecutive topics) in one turn. ` +
      'Server CPU from /proc over the phase ÷ deliveries, and ÷ broadcasts. Ratios in parentheses: × raw ws.' +
      (multi ? ` Each cell: the median of ${result.config.rounds} rounds (fresh processes, interleaved; history on and off swap order every other round); the last column lists every round.` : ''),
  )
  const sizes = [...new Set(rows.flatMap((r) => r.cells.map((c) => c.size)))]
  const shapes = [...new Set(rows.map((r) => r.perTopic))].sort((a, b) => a - b)
  for (const size of sizes) {
    L.push('', `### ${sizeName(size)} payload`, '')
    L.push(`| subscribers/topic | topics | server | deliveries/s | server CPU µs/delivery | µs/broadcast | burst: µs/delivery | burst: µs/broadcast | server CPU | clients CPU | other | history kept | missing |${multi ? ' µs/delivery, each round |' : ''}`)
    L.push(`| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${multi ? ' ---: |' : ''}`)
    for (const k of shapes) {
      const ws = rows.find((r) => r.server === 'ws-raw' && r.perTopic === k)?.cells.find((c) => c.size === size)
      for (const s of servers) {
        const row = rows.find((r) => r.server === s && r.perTopic === k)
        const c = row?.cells.find((x) => x.size === size)
        if (!c?.throughput) {
          L.push(`| ${k} | ${row ? fmt(row.topics, 0) : ''} | ${label(s)} | ${row ? `${row.status}: ${String(row.error ?? '').split('\n')[0].replace(/\|/g, '/').slice(0, 120)}` : 'not run'} | | | | | | | | | |${multi ? ' |' : ''}`)
          continue
        }
        const t = c.throughput
        const b = c.burst
        const vs = (v, w) => (v && w ? ` (${fmtX(v / w)})` : '')
        const kept = c.history ? `${fmt(c.history.entries, 0)} msgs, ${fmt(c.history.bytes / 2 ** 20, 1)} MiB` : 'off'
        L.push(
          `| ${k} | ${fmt(row.topics, 0)} | ${label(s)} | ${fmt(t.deliveriesPerSecond, 0)} | ${fmt(t.serverCpuMicrosPerDelivery)}${vs(t.serverCpuMicrosPerDelivery, ws?.throughput?.serverCpuMicrosPerDelivery)}` +
            ` | ${fmt(t.serverCpuMicrosPerBroadcast)} | ${fmt(b?.serverCpuMicrosPerDelivery)}${vs(b?.serverCpuMicrosPerDelivery, ws?.burst?.serverCpuMicrosPerDelivery)} | ${fmt(b?.serverCpuMicrosPerBroadcast)}` +
            ` | ${pct(t.serverCoreShare)} | ${pct(t.clientsCoreShare)} | ${pct(t.otherCoreShare)} | ${kept} | ${t.missing + (b?.missing ?? 0)} |` +
            (multi ? ` ${(t.rounds ?? []).map((x) => fmt(x?.serverCpuMicrosPerDelivery)).join(', ')} |` : ''),
        )
      }
    }
  }
  L.push('')
  return L
}

/** The Markdown of the history on / off comparison. */
export function renderHistoryComparison(result) {
  const cmp = result.historyComparison
  if (!cmp || cmp.rows.length === 0) return []
  const label = (s) => result.servers[s]?.label ?? s
  const multi = (result.config.rounds ?? 1) > 1
  const L = ['## History on / history off', '']
  L.push(
    `**${label(HISTORY_ON)}** (history on, the default: the last 100 broadcasts of each \`bench:*\` topic for 2 minutes, 64 MiB hub-wide, ` +
      `a position in every broadcast frame) against **${label(HISTORY_OFF)}** (\`createHub({ history: false })\`), in the same run. ` +
      `Goal: history on costs at most ${HISTORY_GOAL.toFixed(2)}× history off in server CPU per delivery. ` +
      '"one topic": one topic, N subscribers (scenario 1); "many topics": `fanout-topics`, 1 to 10 subscribers per topic, where the per-broadcast ' +
      'history work is not spread over a large fan-out. Per broadcast = per delivery × subscribers per topic; "extra µs/broadcast" is what history adds to each broadcast; ' +
      '"in the kernel": the part of the server CPU per delivery spent in system mode (system calls, page faults; the median round). ' +
      (multi ? 'Values: the median round; "each round": on/off of the rounds that ran next to each other.' : ''),
  )
  L.push('')
  L.push(`| shape | subscribers/topic | topics | payload | phase | on: µs/delivery | off: µs/delivery | **on / off** | in the kernel, on / off | on: µs/broadcast | off: µs/broadcast | extra µs/broadcast |${multi ? ' on / off, each round |' : ''}`)
  L.push(`| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${multi ? ' --- |' : ''}`)
  for (const r of cmp.rows) {
    const mark = typeof r.ratio === 'number' && r.ratio > cmp.goal ? ' ⚠' : ''
    L.push(
      `| ${r.shape} | ${fmt(r.perTopic, 0)} | ${fmt(r.topics, 0)} | ${sizeName(r.size)} | ${r.phase === 'burst' ? `burst of ${result.config.burstSize}` : 'one per turn'}` +
        ` | ${fmt(r.on.perDelivery)} | ${fmt(r.off.perDelivery)} | **${fmtX(r.ratio)}**${mark} | ${fmt(r.on.kernelPerDelivery)} / ${fmt(r.off.kernelPerDelivery)} | ${fmt(r.on.perBroadcast)} | ${fmt(r.off.perBroadcast)} | ${fmt(r.extraMicrosPerBroadcast)} |` +
        (multi ? ` ${r.roundRatios.map(fmtX).join(', ')} |` : ''),
    )
  }
  L.push('')
  if (cmp.summary.length) {
    L.push('| shape | phase | cells | geometric mean on / off | worst cell | cells ≤ goal |')
    L.push('| --- | --- | ---: | ---: | ---: | ---: |')
    for (const s of cmp.summary) L.push(`| ${s.shape} | ${s.phase === 'burst' ? 'burst' : 'one per turn'} | ${s.cells} | **${fmtX(s.geomean)}** | ${fmtX(s.worst)} | ${s.met}/${s.cells} |`)
    L.push('')
  }
  const est = cmp.fromProfile
  if (est) {
    L.push(
      `From the profile pass (${fmt(est.broadcasts, 0)} broadcasts, ${est.perTopic} subscriber per topic, 100 B): the history's own code takes ` +
        `**${fmt(est.historyMicrosPerBroadcast, 3)} µs per broadcast** (appending, trimming, sweeping; building the frame excluded, which history off does too), ` +
        `against ${fmt(est.offMicrosPerBroadcast)} µs of server CPU per broadcast with history off in the table: **${fmtX(est.ratio)}** the work, ` +
        'garbage collection aside. The CPU per delivery above is whole-process time, in which this machine\'s noise (other tenants, wake-ups) moves each round ' +
        `by more than the history costs; the median of the rounds' own on / off ratios in that cell is ${fmtX(est.medianRoundRatio)}.`,
    )
    L.push('')
  }
  if (cmp.extra.length) {
    L.push('| figure | at | on | off | on / off |')
    L.push('| --- | ---: | ---: | ---: | ---: |')
    for (const e of cmp.extra) L.push(`| ${e.figure} | ${e.subscribers ? `${fmt(e.subscribers, 0)} subscribers` : `${fmt(e.joins, 0)} joins`} | ${fmt(e.on, e.figure.startsWith('RSS') ? 0 : 1)} | ${fmt(e.off, e.figure.startsWith('RSS') ? 0 : 1)} | ${fmtX(e.ratio)} |`)
    L.push('')
  }
  return L
}

