// Turns a run's JSON into the Markdown tables (the SVG chart is in chart.mjs). Every figure is shown beside the
// peers measured in the same run, as a ratio: (× raw ws / × Socket.IO); builds of the core run side by
// side (--entries) also get their own section (lib/entries.mjs), as ratios to the first build.
import { ENTRY_COLORS, kindOf, renderEntries } from './entries.mjs'
import { renderFanoutTopics, renderHistoryComparison } from './history-cost.mjs'
import { renderHistoryMemory } from './history-memory.mjs'
import { renderBinaryCost } from './binary-cost.mjs'
import { renderLongPoll } from './longpoll.mjs'

const HORNBEAM = [
  'hornbeam-http', 'hornbeam-fastify', 'hornbeam-express', 'hornbeam-koa', 'hornbeam-hono', 'hornbeam-nest', 'hornbeam-http-nohistory',
]
export const COLORS = {
  'hornbeam-http': '#1f77b4',
  'hornbeam-http-nohistory': '#ff7f0e',
  'hornbeam-fastify': '#2ca02c',
  'hornbeam-express': '#9467bd',
  // Not among ENTRY_COLORS, so that --entries builds beside them keep colours of their own.
  'hornbeam-koa': '#a6761d',
  'hornbeam-hono': '#e7298a',
  'hornbeam-nest': '#1b9e77',
  'ws-raw': '#555555',
  socketio: '#d62728',
}
/** A server's line colour; the builds of one --entries run each get their own. */
export function colorOf(result, server) {
  const i = (result.entries ?? []).findIndex((e) => e.server === server)
  return i >= 0 ? ENTRY_COLORS[i % ENTRY_COLORS.length] : (COLORS[server] ?? '#000')
}
const GOALS = { vsWs: 0.85, vsSocketIo: 2, memoryVsWs: 1.3 }

export const fmtInt = (v) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Math.round(v).toLocaleString('en-US'))
const fmtNum = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toFixed(d))
const pct = (v) => (v === null || v === undefined || Number.isNaN(v) ? '–' : `${Math.round(v * 100)}%`)
const ratio = (a, b) => (a === null || a === undefined || !b ? null : a / b)
const fmtRatio = (r) => (r === null || !Number.isFinite(r) ? '–' : `${r.toFixed(2)}×`)
export const sizeName = (s) => (s >= 1024 ? `${s / 1024} KiB` : `${s} B`)

/** "value (× ws / × sio)" */
function withRatios(value, ws, sio, format) {
  const r1 = fmtRatio(ratio(value, ws))
  const r2 = fmtRatio(ratio(value, sio))
  return `${format(value)} (${r1} / ${r2})`
}

export function fanoutCell(result, server, subscribers, size) {
  const row = result.fanout.find((r) => r.server === server && r.subscribers === subscribers)
  return row?.cells.find((c) => c.size === size)
}

function memoryOf(result, server, subscribers) {
  return result.fanout.find((r) => r.server === server && r.subscribers === subscribers && r.memory)?.memory
}

const geomean = (xs) => (xs.length ? Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length) : null)

/** The goals, as measured (never asserted): per hornbeam server, over every fan-out cell. */
export function evaluateGoals(result) {
  const servers = result.config.servers
  const out = []
  const subs = [...new Set(result.fanout.map((r) => r.subscribers))]
  const sizes = [...new Set(result.fanout.flatMap((r) => r.cells.map((c) => c.size)))]
  // Every hornbeam server of the run, each --entries build (`hornbeam-http@<name>`) included.
  for (const hb of servers.filter((s) => HORNBEAM.includes(kindOf(s)))) {
    for (const [peer, goal, key] of [['ws-raw', GOALS.vsWs, 'fanoutVsWs'], ['socketio', GOALS.vsSocketIo, 'fanoutVsSocketIo']]) {
      const cells = []
      for (const n of subs) {
        for (const size of sizes) {
          const ours = fanoutCell(result, hb, n, size)?.throughput?.serverCpuMicrosPerDelivery
          const theirs = fanoutCell(result, peer, n, size)?.throughput?.serverCpuMicrosPerDelivery
          if (ours && theirs) cells.push({ subscribers: n, size, efficiency: +(theirs / ours).toFixed(3) })
        }
      }
      const effs = cells.map((c) => c.efficiency)
      out.push({
        goal: key,
        server: hb,
        text: `fan-out at least ${goal}× ${peer === 'ws-raw' ? 'the raw ws ceiling' : 'Socket.IO'} (server CPU per delivery: ${peer}'s ÷ ours)`,
        target: goal,
        cells,
        worst: effs.length ? Math.min(...effs) : null,
        geomean: effs.length ? +geomean(effs).toFixed(3) : null,
        metCells: effs.filter((e) => e >= goal).length,
        verdict: effs.length === 0 ? 'not measured' : effs.every((e) => e >= goal) ? 'met' : effs.some((e) => e >= goal) ? 'partly met' : 'not met',
      })
    }
    const mem = []
    for (const n of subs) {
      const ours = memoryOf(result, hb, n)?.bytesPerConnection
      const ws = memoryOf(result, 'ws-raw', n)?.bytesPerConnection
      if (ours && ws) mem.push({ subscribers: n, ratio: +(ours / ws).toFixed(3) })
    }
    // The largest count decides: the fixed costs of a process are spread thinnest there.
    const decisive = mem.at(-1)
    out.push({
      goal: 'memoryVsWs',
      server: hb,
      text: `memory per connection at most ${GOALS.memoryVsWs}× raw ws (RSS delta ÷ connections, at the largest count)`,
      target: GOALS.memoryVsWs,
      cells: mem,
      decisive: decisive ?? null,
      verdict: decisive === undefined ? 'not measured' : decisive.ratio <= GOALS.memoryVsWs ? 'met' : 'not met',
    })
  }
  return out
}

export function renderMarkdown(result) {
  const m = result.machine
  const L = []
  const servers = result.config.servers
  const label = (s) => result.servers[s]?.label ?? s
  L.push(`# Hornbeam Channels benchmark: ${result.mode} run, ${result.startedAt.slice(0, 16).replace('T', ' ')} UTC`)
  L.push('')
  L.push(
    `Machine: ${m.cpuCount} × ${m.cpuModel}, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB RAM, ${m.os}, Node ${m.node}. ` +
      `Each server in its own process; ${result.config.generators} load-generator processes; everything on 127.0.0.1. ` +
      `Run took ${result.seconds} s.`,
  )
  L.push('')
  L.push(
    'Ratios in parentheses compare with the peers measured in this run: `(× raw ws / × Socket.IO)`. ' +
      'For costs (CPU µs, bytes, latency) lower is better; for rates higher is better. ' +
      'CPU shares are of one core (200% = both cores of this machine).',
  )
  L.push('')

  if (result.goals?.length) {
    L.push('## Goals')
    L.push('')
    L.push('| server | goal | measured | verdict |')
    L.push('| --- | --- | --- | --- |')
    for (const g of result.goals) {
      const measured =
        g.goal === 'memoryVsWs'
          ? g.decisive
            ? `${g.decisive.ratio.toFixed(2)}× at ${fmtInt(g.decisive.subscribers)} (${g.cells.map((c) => `${fmtInt(c.subscribers)}: ${c.ratio.toFixed(2)}×`).join(', ')})`
            : '–'
          : g.worst !== null
            ? `worst ${g.worst.toFixed(2)}×, geometric mean ${g.geomean.toFixed(2)}× (${g.metCells}/${g.cells.length} cells ≥ ${g.target}×)`
            : '–'
      L.push(`| ${label(g.server)} | ${g.text} | ${measured} | **${g.verdict}** |`)
    }
    L.push('')
  }

  L.push(...renderEntries(result))
  L.push(...renderHistoryComparison(result))

  const subs = [...new Set(result.fanout.map((r) => r.subscribers))]
  const sizes = [...new Set(result.fanout.flatMap((r) => r.cells.map((c) => c.size)))]
  if (result.fanout.length) {
    L.push('## Fan-out: one topic, N subscribers (scenario 1)')
    L.push('')
    L.push(
      (result.config.rounds > 1
        ? `Each cell: the median of ${result.config.rounds} rounds (a fresh server process each, interleaved with the other servers); the last column lists every round's server CPU µs/delivery, to show the noise. `
        : '') +
        'deliveries/s: closed loop with a window of messages in flight (saturated), one broadcast per server turn. Latency: paced, one broadcast at a time ' +
        '(broadcast → arrival at each client, same monotonic clock). Server CPU µs/delivery: the server process\'s user+system time ' +
        'from /proc/<pid>/stat over the saturated phase ÷ deliveries. CPU shares during the saturated phase.',
    )
    for (const size of sizes) {
      L.push('')
      L.push(`### ${sizeName(size)} payload`)
      L.push('')
      const multi = result.config.rounds > 1
      L.push(`| subscribers | server | deliveries/s | p50 ms | p99 ms | server CPU µs/delivery | server CPU | clients CPU | other processes | missing |${multi ? ' CPU µs/delivery, each round |' : ''}`)
      L.push(`| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${multi ? ' ---: |' : ''}`)
      for (const n of subs) {
        const ws = fanoutCell(result, 'ws-raw', n, size)
        const sio = fanoutCell(result, 'socketio', n, size)
        for (const s of servers) {
          const row = result.fanout.find((r) => r.server === s && r.subscribers === n)
          const c = row?.cells.find((x) => x.size === size)
          if (!c?.throughput) {
            L.push(`| ${fmtInt(n)} | ${label(s)} | ${row ? `${row.status}: ${firstLine(row.error ?? (c ? 'no throughput measured' : ''))}` : 'not run'} | | | | | | | |${result.config.rounds > 1 ? ' |' : ''}`)
            continue
          }
          const t = c.throughput
          const lat = c.latency?.latency
          L.push(
            `| ${fmtInt(n)} | ${label(s)} | ${withRatios(t.deliveriesPerSecond, ws?.throughput.deliveriesPerSecond, sio?.throughput.deliveriesPerSecond, fmtInt)}` +
              ` | ${withRatios(lat?.p50Ms, ws?.latency?.latency.p50Ms, sio?.latency?.latency.p50Ms, (v) => fmtNum(v, 1))}` +
              ` | ${withRatios(lat?.p99Ms, ws?.latency?.latency.p99Ms, sio?.latency?.latency.p99Ms, (v) => fmtNum(v, 1))}` +
              ` | ${withRatios(t.serverCpuMicrosPerDelivery, ws?.throughput.serverCpuMicrosPerDelivery, sio?.throughput.serverCpuMicrosPerDelivery, (v) => fmtNum(v, 2))}` +
              ` | ${pct(t.serverCoreShare)} | ${pct(t.clientsCoreShare)} | ${pct(t.otherCoreShare)} | ${t.missing + (c.latency?.missing ?? 0) + (c.burst?.missing ?? 0)} |` +
              (multi ? ` ${(t.rounds ?? []).map((x) => fmtNum(x?.serverCpuMicrosPerDelivery, 2)).join(', ')} |` : ''),
          )
        }
      }
    }
    const burstSize = result.config.burstSize
    if (burstSize > 1 && result.fanout.some((r) => r.cells.some((c) => c.burst))) {
      L.push('')
      L.push(`### Bursts: ${burstSize} broadcasts in one server turn`)
      L.push('')
      L.push(
        `The tables above run one broadcast per event-loop turn, so every server pays one socket write per delivery. ` +
          `Here the server sends ${burstSize} broadcasts in one turn: Hornbeam corks each socket for the turn and writes the ` +
          `${burstSize} frames at once; the raw ws server (as specified: one pre-framed buffer written per client per message) ` +
          `and Socket.IO write each message separately.`,
      )
      L.push('')
      L.push(`| subscribers | server | ${sizes.map((z) => `deliveries/s, ${sizeName(z)}`).join(' | ')} | ${sizes.map((z) => `server CPU µs/delivery, ${sizeName(z)}`).join(' | ')} |`)
      L.push(`| ---: | --- | ${sizes.map(() => '---:').join(' | ')} | ${sizes.map(() => '---:').join(' | ')} |`)
      for (const n of subs) {
        for (const srv of servers) {
          const cells = sizes.map((z) => fanoutCell(result, srv, n, z)?.burst)
          const peers = (who) => sizes.map((z) => fanoutCell(result, who, n, z)?.burst)
          const ws = peers('ws-raw')
          const sio = peers('socketio')
          const rate = cells.map((b, i) => (b ? withRatios(b.deliveriesPerSecond, ws[i]?.deliveriesPerSecond, sio[i]?.deliveriesPerSecond, fmtInt) : '–'))
          const cost = cells.map((b, i) => (b ? withRatios(b.serverCpuMicrosPerDelivery, ws[i]?.serverCpuMicrosPerDelivery, sio[i]?.serverCpuMicrosPerDelivery, (v) => fmtNum(v, 2)) : '–'))
          L.push(`| ${fmtInt(n)} | ${label(srv)} | ${rate.join(' | ')} | ${cost.join(' | ')} |`)
        }
      }
    }
    L.push('')
    L.push('## Idle connections joined to one topic: memory (scenario 2)')
    L.push('')
    L.push(
      'RSS of the server process after N clients connected and joined, minus RSS before, ÷ N (both read after two full GCs, ' +
        'from /proc/<pid>/status)' + (result.config.rounds > 1 ? `; the median of ${result.config.rounds} rounds (every round in the JSON, \`memoryRounds\`).` : '.'),
    )
    L.push('')
    L.push(`| server | ${subs.map((n) => `RSS B/connection at ${fmtInt(n)}`).join(' | ')} | heap B/connection at ${fmtInt(subs.at(-1))} | connect rate at ${fmtInt(subs.at(-1))} |`)
    L.push(`| --- | ${subs.map(() => '---:').join(' | ')} | ---: | ---: |`)
    for (const s of servers) {
      const cells = subs.map((n) => {
        const mine = memoryOf(result, s, n)?.bytesPerConnection
        return withRatios(mine, memoryOf(result, 'ws-raw', n)?.bytesPerConnection, memoryOf(result, 'socketio', n)?.bytesPerConnection, fmtInt)
      })
      const last = result.fanout.find((r) => r.server === s && r.subscribers === subs.at(-1))
      L.push(`| ${label(s)} | ${cells.join(' | ')} | ${fmtInt(last?.memory?.heapBytesPerConnection)} | ${last?.connect ? `${fmtInt(last.connect.perSecond)}/s` : '–'} |`)
    }
    L.push('')
  }

  L.push(...renderFanoutTopics(result))

  if (result.joins?.length) {
    const ws = result.joins.find((r) => r.server === 'ws-raw')
    const sio = result.joins.find((r) => r.server === 'socketio')
    L.push('## Joins per second (scenario 3)')
    L.push('')
    const j = result.joins[0]
    L.push(
      `${fmtInt(j.clients)} connected clients each send ${j.joinsPerClient} joins at once (pipelined), each to its own topic; ` +
        'the rate is all joins ÷ the time from the first sent to the last reply received. The peers do less per join: read "what a join does".',
    )
    L.push('')
    L.push('| server | what a join does | joins/s | server CPU µs/join | server CPU | clients CPU | ok | presence entries |')
    L.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |')
    for (const r of result.joins) {
      if (r.status !== 'ok' && r.joinsPerSecond === undefined) {
        L.push(`| ${r.label} | ${r.what} | ${r.status}: ${firstLine(r.error)} | | | | | |`)
        continue
      }
      L.push(
        `| ${r.label} | ${r.what} | ${withRatios(r.joinsPerSecond, ws?.joinsPerSecond, sio?.joinsPerSecond, fmtInt)}` +
          ` | ${withRatios(r.serverCpuMicrosPerJoin, ws?.serverCpuMicrosPerJoin, sio?.serverCpuMicrosPerJoin, (v) => fmtNum(v, 1))}` +
          ` | ${pct(r.serverCoreShare)} | ${pct(r.clientsCoreShare)} | ${fmtInt(r.ok)}/${fmtInt(r.joins)} | ${r.presenceEntries === null ? 'n/a (no presence)' : fmtInt(r.presenceEntries)} |`,
      )
    }
    L.push('')
  }

  if (result.presence) {
    L.push('## Presence: users joining one room (scenario 4, hornbeam only)')
    L.push('')
    if (result.presence.status !== 'ok') L.push(`Not measured: ${result.presence.error}`)
    else {
      L.push(
        'From `bench/presence.mjs`: clients and a node:http hub in one process, joins spread evenly over one second, each client ' +
          'tracked in onJoin; frames = all frames the hub sent; complete = until every client\'s presence list holds every user. ' +
          'Socket.IO has no presence: n/a.',
      )
      L.push('')
      L.push('| presence.batchMs | users | frames sent | presence_diff frames | frames per user | time until every list is complete |')
      L.push('| ---: | ---: | ---: | ---: | ---: | ---: |')
      for (const b of result.presence.bursts) {
        L.push(`| ${b.batchMs}${b.batchMs === 50 ? ' (default)' : ''} | ${fmtInt(b.users)} | ${fmtInt(b.frames)} | ${fmtInt(b.diffFrames)} | ${fmtNum(b.frames / b.users, 1)} | ${fmtInt(b.completeMs)} ms |`)
      }
      L.push('')
      L.push('| presence layout | presences | track/s | untrack/s | list() µs | heap B/presence |')
      L.push('| --- | ---: | ---: | ---: | ---: | ---: |')
      for (const t of result.presence.tracking) {
        L.push(`| ${t.layout} | ${fmtInt(t.presences)} | ${fmtInt(t.tracksPerSec)} | ${fmtInt(t.untracksPerSec)} | ${fmtNum(t.listMicros, 1)} | ${fmtInt(t.bytesPerPresence)} |`)
      }
    }
    L.push('')
  }

  if (result.historyMemory) L.push(...renderHistoryMemory(result.historyMemory))

  if (result.binary) L.push(...renderBinaryCost(result.binary))
  if (result.longPoll) L.push(...renderLongPoll(result.longPoll))

  if (result.cluster) L.push(...renderCluster(result.cluster), '')

  if (result.profiles?.length) {
    L.push('## Where the hornbeam server spends its CPU (unscored profile pass)')
    L.push('')
    L.push('`node --cpu-prof` on the server process in an extra pass (the profiler costs CPU, so these runs are not in the tables above).')
    for (const p of result.profiles) {
      L.push('')
      L.push(`### ${result.servers[p.server]?.label ?? p.server}: ${p.scenario}`)
      L.push('')
      if (p.status !== 'ok') {
        L.push(p.status)
        continue
      }
      L.push(`Busy ${fmtInt(p.busyMs)} ms sampled. By origin: ${p.byOrigin.slice(0, 8).map((o) => `${o.origin} ${o.percent}%`).join(', ')}.`)
      L.push('')
      if (p.groups?.length) {
        const per = (g) => (typeof g.microsPerBroadcast === 'number' ? `, ${g.microsPerBroadcast} µs per broadcast over ${fmtInt(p.broadcasts)}` : '')
        L.push(`Measured whole: ${p.groups.map((g) => `${g.name} ${g.ms} ms (${g.percent}%${per(g)})`).join('; ')}.`)
        L.push('')
      }
      L.push('| self time, all code | ms | % | | self time, our packages | ms | % |')
      L.push('| --- | ---: | ---: | --- | --- | ---: | ---: |')
      for (let i = 0; i < 12; i++) {
        const a = p.topSelf[i]
        const b = p.topSelfOurs[i]
        L.push(`| ${a ? `\`${a.function}\`` : ''} | ${a?.ms ?? ''} | ${a?.percent ?? ''} | | ${b ? `\`${b.function}\`` : ''} | ${b?.ms ?? ''} | ${b?.percent ?? ''} |`)
      }
    }
    L.push('')
  }

  if (result.problems?.length) {
    L.push('## Problems in this run')
    L.push('')
    for (const p of result.problems) L.push(`- ${p.replace(/\n/g, ' ')}`)
    L.push('')
  }
  return L.join('\n') + '\n'
}

function firstLine(s) {
  return String(s ?? '').split('\n')[0].replace(/\|/g, '/').slice(0, 160)
}

export function renderCluster(c) {
  const L = ['## Cross-node: two processes over Redis (bench/cluster.mjs)', '']
  if (c.status !== 'ok') {
    L.push(`Not measured: ${c.reason ?? c.error ?? c.status}`)
    return L
  }
  L.push(c.method)
  L.push('')
  L.push('| setup | subscribers | deliveries/s | p50 ms | p99 ms | publishing node CPU µs/delivery | subscriber node CPU µs/delivery | missing |')
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  const base = c.fanout.find((r) => r.setup === 'hornbeam-one-node')
  const sio = c.fanout.find((r) => r.setup === 'socketio-cross-node')
  const both = (get, f) => (r) => {
    const v = get(r)
    return `${f(v)} (${fmtRatio(base?.status === 'ok' ? ratio(v, get(base)) : null)} / ${fmtRatio(sio?.status === 'ok' ? ratio(v, get(sio)) : null)})`
  }
  const cols = [
    both((r) => r.throughput.deliveriesPerSecond, fmtInt),
    both((r) => r.latency.latency.p50Ms, (v) => fmtNum(v, 1)),
    both((r) => r.latency.latency.p99Ms, (v) => fmtNum(v, 1)),
    // A one-node setup has no separate publisher: its cost is all in the next column.
    (r) =>
      r.nodes === 1
        ? 'same node'
        : `${fmtNum(r.throughput.publisherCpuMicrosPerDelivery, 2)} (– / ${fmtRatio(sio?.status === 'ok' ? ratio(r.throughput.publisherCpuMicrosPerDelivery, sio.throughput.publisherCpuMicrosPerDelivery) : null)})`,
    both((r) => r.throughput.serverCpuMicrosPerDelivery, (v) => fmtNum(v, 2)),
  ]
  for (const r of c.fanout) {
    if (r.status !== 'ok' || !r.throughput) {
      L.push(`| ${r.label} | ${fmtInt(r.subscribers)} | ${r.status}: ${firstLine(r.error)} | | | | | |`)
      continue
    }
    L.push(`| ${r.label} | ${fmtInt(r.subscribers)} | ${cols.map((f) => f(r)).join(' | ')} | ${r.throughput.missing + r.latency.missing} |`)
  }
  L.push('')
  L.push('Ratios in parentheses: (× Hornbeam on one node with the in-memory adapter / × Socket.IO cross-node), both measured in this run. First payload size shown; every size is in the JSON.')
  const onCluster = c.fanout.find((r) => r.setup === 'hornbeam-cross-node-redis-cluster')
  const oneRedis = c.fanout.find((r) => r.setup === 'hornbeam-cross-node')
  const sioSharded = c.fanout.find((r) => r.setup === 'socketio-cross-node-sharded')
  if (onCluster?.status === 'ok') {
    const cpu = (r) => (r?.status === 'ok' ? r.throughput.serverCpuMicrosPerDelivery : null)
    L.push('')
    L.push(
      `On the 3-master Redis Cluster, the subscriber node spent ${fmtNum(cpu(onCluster), 2)} µs of CPU per delivery: ` +
        `${fmtRatio(ratio(cpu(onCluster), cpu(oneRedis)))} Hornbeam cross-node on one Redis, ` +
        `${fmtRatio(ratio(cpu(onCluster), cpu(sioSharded)))} Socket.IO's sharded adapter on the same cluster (same run).`,
    )
  }
  if (c.presence?.length) {
    L.push('')
    L.push('| presence event | convergence time (ms) | detail |')
    L.push('| --- | ---: | --- |')
    for (const p of c.presence) L.push(`| ${p.event} | ${p.ok ? fmtNum(p.ms, 1) : 'did not converge'} | ${p.detail ?? ''} |`)
  }
  return L
}
