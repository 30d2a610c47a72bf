// The tables of bench/scale.mjs: one row per server, Hornbeam's figures beside the raw ws ceiling
// measured in the same run (as ratios), and the goals of the issue "Scale".
import { goalChartSvg } from './goal-chart.mjs'

export const SCALE_GOALS = { rssVsWs: 1.3, cpuPerDeliveryVsWs: 1.15, idleMicrosPerSocketPerSecond: 1 }

const fmtInt = (v) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Math.round(v).toLocaleString('en-US'))
const fmtNum = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toFixed(d))
const pct = (v) => (v === null || v === undefined || Number.isNaN(v) ? '–' : `${Math.round(v * 100)}%`)
const okRow = (r) => r && r.status !== 'failed'

/** The goals, as measured (never asserted), for each hornbeam server of the run. */
export function scaleGoals(result) {
  const ws = result.rows.find((r) => r.server === 'ws-raw' && okRow(r))
  const out = []
  for (const r of result.rows.filter((x) => x.server !== 'ws-raw' && okRow(x))) {
    const rss = ws?.memory && r.memory ? r.memory.rssBytesPerSocket / ws.memory.rssBytesPerSocket : null
    const cpu = ws?.broadcasts?.serverCpuMicrosPerDelivery && r.broadcasts?.serverCpuMicrosPerDelivery ? r.broadcasts.serverCpuMicrosPerDelivery / ws.broadcasts.serverCpuMicrosPerDelivery : null
    const idle = r.idle?.heartbeats?.microsPerSocketPerSecond ?? null
    const quiet = r.idle?.quiet?.microsPerSocketPerSecond ?? null
    const wsIdle = ws?.idle?.heartbeats?.microsPerSocketPerSecond
    const verdict = (v, limit) => (v === null ? 'not measured' : v <= limit ? 'met' : 'not met')
    out.push(
      { server: r.server, goal: 'rssVsWs', text: `RSS per socket after GC at most ${SCALE_GOALS.rssVsWs}× raw ws`, value: rss === null ? null : +rss.toFixed(3), verdict: verdict(rss, SCALE_GOALS.rssVsWs) },
      { server: r.server, goal: 'cpuPerDeliveryVsWs', text: `server CPU per delivery (broadcast to every socket) at most ${SCALE_GOALS.cpuPerDeliveryVsWs}× raw ws`, value: cpu === null ? null : +cpu.toFixed(3), verdict: verdict(cpu, SCALE_GOALS.cpuPerDeliveryVsWs) },
      { server: r.server, goal: 'idleMicrosPerSocketPerSecond', text: `idle server CPU at most ${SCALE_GOALS.idleMicrosPerSocketPerSecond} µs per socket per second (every socket open and joined, heartbeats every ${result.config.heartbeatMs / 1000} s)`, value: idle, peer: wsIdle ?? null, verdict: verdict(idle, SCALE_GOALS.idleMicrosPerSocketPerSecond) },
      { server: r.server, goal: 'quietMicrosPerSocketPerSecond', text: `the same without heartbeats (the server's own timers: the idle sweep) at most ${SCALE_GOALS.idleMicrosPerSocketPerSecond} µs per socket per second`, value: quiet, peer: ws?.idle?.quiet?.microsPerSocketPerSecond ?? null, verdict: verdict(quiet, SCALE_GOALS.idleMicrosPerSocketPerSecond) },
    )
  }
  return out
}

export function renderScaleMarkdown(result) {
  const m = result.machine
  const c = result.config
  const ws = result.rows.find((r) => r.server === 'ws-raw' && okRow(r))
  const vsWs = (r, get, d = 2) => {
    const v = get(r)
    if (v === null || v === undefined) return '–'
    const text = d === 0 ? fmtInt(v) : fmtNum(v, d)
    if (!ws || r === ws) return text
    const w = get(ws)
    return w ? `${text} (${(v / w).toFixed(2)}×)` : text
  }
  const L = []
  L.push(`# Hornbeam Channels at scale: ${fmtInt(c.sockets)} sockets on one process, ${result.startedAt.slice(0, 16).replace('T', ' ')} UTC${result.quick ? ' (quick)' : ''}`)
  L.push('')
  L.push(
    `Machine: ${m.cpuCount} × ${m.cpuModel}, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB RAM, ${m.os}, Node ${m.node}; open files per process ${fmtInt(m.fdLimit)}, ` +
      `ephemeral ports ${m.localPortRange?.join('–') ?? '?'}; load average ${m.loadAverage.map((x) => x.toFixed(1)).join(' ')} at the start, ${m.loadAverageAtEnd?.map((x) => x.toFixed(1)).join(' ') ?? '?'} at the end. ` +
      `Each server in its own process (\`--expose-gc\`), one after the other; ${c.generators} load-generator processes of ${fmtInt(Math.ceil(c.sockets / c.generators))} sockets each, ` +
      `each binding a source address of its own (127.0.0.2, …; fresh ones for each server), to the server on 127.0.0.1. Run took ${result.seconds} s.`,
  )
  L.push('')
  L.push(
    `Every socket joins \`${c.topic}\` and waits for its reply (${c.concurrency} connects with their join in flight). Hornbeam runs with the hub's **default options** ` +
      '(history on, default rate limits, 60 s idle timeout and its sweep); raw ws is the bare `ws` server of `bench/server.mjs` (same join reply, no timers). ' +
      `Clients send a heartbeat every ${c.heartbeatMs / 1000} s (phoenix.js's period), their phases spread evenly. Ratios in parentheses: × raw ws.`,
  )
  L.push('')
  L.push('| server | sockets held / joined | connect+join rate | time until all joined | RSS B/socket | heap B/socket | idle µs/socket/s, heartbeats | idle µs/socket/s, quiet | CPU µs/delivery | broadcast → last delivery p50 / max | missing |')
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const r of result.rows) {
    if (!okRow(r)) {
      L.push(`| ${r.label} | failed: ${String(r.error ?? '').split('\n')[0]} | | | | | | | | | |`)
      continue
    }
    const b = r.broadcasts
    L.push(
      `| ${r.label} | ${fmtInt(r.connect?.serverConnections)} / ${fmtInt(r.connect?.joined)} | ${vsWs(r, (x) => x.connect?.perSecond, 0)}/s | ${fmtNum(r.connect?.seconds, 1)} s ` +
        `| ${vsWs(r, (x) => x.memory?.rssBytesPerSocket, 0)} | ${vsWs(r, (x) => x.memory?.heapBytesPerSocket, 0)} ` +
        `| ${fmtNum(r.idle?.heartbeats?.microsPerSocketPerSecond, 3)} | ${fmtNum(r.idle?.quiet?.microsPerSocketPerSecond, 3)} ` +
        `| ${vsWs(r, (x) => x.broadcasts?.serverCpuMicrosPerDelivery)} | ${b ? `${fmtNum(b.toLastDeliveryMs.p50, 0)} / ${fmtNum(b.toLastDeliveryMs.max, 0)} ms` : '–'} | ${b ? fmtInt(b.missing) : '–'} |`,
    )
  }
  L.push('')
  if (result.goals?.length) {
    L.push('## Goals (reported, not asserted)')
    L.push('')
    L.push('| server | goal | measured | verdict |')
    L.push('| --- | --- | ---: | --- |')
    for (const g of result.goals) {
      const label = result.rows.find((r) => r.server === g.server)?.label ?? g.server
      const value = g.value === null ? '–' : g.goal.endsWith('PerSocketPerSecond') ? `${fmtNum(g.value, 3)} µs${g.peer !== null && g.peer !== undefined ? ` (raw ws: ${fmtNum(g.peer, 3)} µs)` : ''}` : `${fmtNum(g.value, 3)}×`
      L.push(`| ${label} | ${g.text} | ${value} | **${g.verdict}** |`)
    }
    L.push('')
  }
  L.push('## Idle, in detail')
  L.push('')
  L.push(`Two windows of ${c.idleSeconds} s with every socket open and joined and no broadcast: first with the clients' heartbeats, then quiet (heartbeats paused: only what the server does on its own, such as the hub's idle sweep). Server CPU from \`process.cpuUsage()\` in the server (µs, not /proc's 10 ms ticks). "No socket": the same process before any connection.`)
  L.push('')
  L.push('| server | no socket: µs/s | heartbeats: µs/s (heartbeats) | µs/heartbeat | quiet: µs/s | µs/socket/s, heartbeats (net of no socket) | µs/socket/s, quiet (net) | machine busy, heartbeats / quiet |')
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const r of result.rows.filter(okRow)) {
    const h = r.idle?.heartbeats
    const q = r.idle?.quiet
    if (!h) continue
    L.push(
      `| ${r.label} | ${fmtInt(r.empty?.serverCpuMicrosPerSecond)} | ${fmtInt(h.serverCpuMicrosPerSecond)} (${fmtInt(h.heartbeats)}) | ${fmtNum(h.microsPerHeartbeat, 1)} | ${fmtInt(q.serverCpuMicrosPerSecond)} ` +
        `| ${fmtNum(h.microsPerSocketPerSecond, 3)} (${fmtNum(h.netMicrosPerSocketPerSecond, 3)}) | ${fmtNum(q.microsPerSocketPerSecond, 3)} (${fmtNum(q.netMicrosPerSocketPerSecond, 3)}) ` +
        `| ${pct(h.machineBusyShare)} / ${pct(q.machineBusyShare)} |`,
    )
  }
  L.push('')
  L.push(`Heartbeats: each load generator has one timer, every ${c.heartbeatTickMs} ms, that sends the heartbeats then due (\`[null, ref, "hornbeam", "heartbeat", {}]\`); both servers answer each. µs/heartbeat: the heartbeat window's CPU beyond the quiet window's rate, ÷ heartbeats.`)
  const heaps = result.rows.filter((r) => okRow(r) && r.heap)
  if (heaps.length) {
    L.push('')
    L.push('Heap snapshot after the broadcasts (`--heap`): `Timeout` objects and closures in the server\'s heap, in all and per socket.')
    L.push('')
    L.push('| server | Timeout objects (per socket) | closures (per socket) | most numerous closures |')
    L.push('| --- | ---: | ---: | --- |')
    for (const r of heaps) L.push(`| ${r.label} | ${fmtInt(r.heap.timeouts)} (${fmtNum(r.heap.timeoutsPerSocket, 4)}) | ${fmtInt(r.heap.closures)} (${fmtNum(r.heap.closuresPerSocket, 3)}) | ${r.heap.biggestClosureGroups.slice(0, 4).map((g) => `${g.name.replace(/^closure /, '') || '(anonymous)'} ${fmtInt(g.count)}`).join(', ')} |`)
  }
  const profiles = result.rows.filter((r) => okRow(r) && r.idleProfile?.status === 'ok')
  if (profiles.length) {
    L.push('')
    L.push(`CPU profile of one more idle window with heartbeats (\`--profile-idle\`: V8's sampling profiler started in the server over node:inspector, after the measured windows), the functions with the most self time and the time by origin:`)
    L.push('')
    L.push('| server | CPU in the window (profiled) | top self time | by origin |')
    L.push('| --- | ---: | --- | --- |')
    for (const r of profiles) {
      const p = r.idleProfile
      L.push(`| ${r.label} | ${fmtInt(p.window.serverCpuMicrosPerSecond)} µs/s (${fmtInt(p.busyMs)} ms sampled busy) | ${p.topSelf.slice(0, 6).map((t) => `${t.function.replace(/ (packages|node_modules)\/.*$/, '')} ${t.percent}%`).join(', ')} | ${p.byOrigin.slice(0, 5).map((o) => `${o.origin} ${o.percent}%`).join(', ')} |`)
    }
  }
  L.push('')
  L.push('## Broadcasts, in detail')
  L.push('')
  L.push(`${c.broadcasts} broadcasts of ${c.size} B to the topic (after ${c.warmupBroadcasts} unmeasured), one at a time: the next ${c.gapMs} ms after every socket got the previous one, each in its own server turn. CPU per delivery: the server's CPU time (\`process.cpuUsage()\` in the server) over the phase ÷ deliveries; the clients' heartbeats go on meanwhile, for both servers. Broadcast → last delivery: from the server's timestamp in the payload to the last socket's arrival (same monotonic clock), per broadcast.`)
  L.push('')
  L.push('| server | deliveries / expected | server CPU µs/delivery | clients CPU µs/delivery | server / clients / other CPU | broadcast → last delivery, each (ms) |')
  L.push('| --- | ---: | ---: | ---: | ---: | --- |')
  for (const r of result.rows.filter(okRow)) {
    const b = r.broadcasts
    if (!b) continue
    L.push(`| ${r.label} | ${fmtInt(b.deliveries)} / ${fmtInt(b.expectedDeliveries)} | ${fmtNum(b.serverCpuMicrosPerDelivery)} | ${fmtNum(b.clientsCpuMicrosPerDelivery)} | ${pct(b.serverCoreShare)} / ${pct(b.clientsCoreShare)} / ${fmtNum(b.otherCoreShare)} cores | ${b.toLastDeliveryMs.each.map((x) => fmtNum(x, 0)).join(', ')} |`)
  }
  L.push('')
  const problems = result.rows.flatMap((r) => [...(r.error ? [`${r.label}: ${r.error.split('\n')[0]}`] : []), ...(r.problems ?? []).map((p) => `${r.label}: ${p}`), ...(r.connectionsLeftAfterClose ? [`${r.label}: ${r.connectionsLeftAfterClose} connections left after the clients closed`] : [])])
  L.push('## Problems')
  L.push('')
  L.push(problems.length ? problems.map((p) => `- ${p}`).join('\n') : 'None: every socket joined, got every broadcast, and every connection was gone after the clients closed.')
  L.push('')
  return L.join('\n')
}

const GOAL_LIMITS = {
  rssVsWs: [SCALE_GOALS.rssVsWs, '×'],
  cpuPerDeliveryVsWs: [SCALE_GOALS.cpuPerDeliveryVsWs, '×'],
  idleMicrosPerSocketPerSecond: [SCALE_GOALS.idleMicrosPerSocketPerSecond, ' µs'],
  quietMicrosPerSocketPerSecond: [SCALE_GOALS.idleMicrosPerSocketPerSecond, ' µs'],
}
const GOAL_LABELS = {
  rssVsWs: 'RSS per socket, × raw ws',
  cpuPerDeliveryVsWs: 'CPU per delivery, × raw ws',
  idleMicrosPerSocketPerSecond: 'idle µs/socket/s, 30 s heartbeats',
  quietMicrosPerSocketPerSecond: 'idle µs/socket/s, no heartbeats',
}

/** The run's goals as a chart (bench/lib/goal-chart.mjs). */
export function renderScaleSvg(result) {
  const goals = result.goals
    .filter((g) => GOAL_LIMITS[g.goal] !== undefined && Number.isFinite(g.value))
    .map((g) => ({ label: GOAL_LABELS[g.goal], value: g.value, limit: GOAL_LIMITS[g.goal][0], unit: GOAL_LIMITS[g.goal][1], peer: g.peer }))
  const sockets = result.rows[0]?.sockets ?? 0
  return goalChartSvg(`Hornbeam at scale: ${sockets.toLocaleString('en-US')} sockets on one process, ${result.startedAt.slice(0, 10)}`, goals)
}
