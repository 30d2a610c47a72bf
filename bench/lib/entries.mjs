// Builds of the core side by side: `bench/run.mjs --entries before=<dist/index.js>,after=<…>`.
// Each entry is a node:http server of its own in the run (key `hornbeam-http@<name>`), so the
// before/after figures of a hot-path change come from the same run, on the same machine state,
// with their rounds interleaved with each other and with the peers (raw ws, Socket.IO).
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'

/** The server an entry runs as: the core on plain node:http, without a framework's code around it. */
export const ENTRY_KIND = 'hornbeam-http'

/** Line colours for the entries in the chart (the first is the node:http colour). */
export const ENTRY_COLORS = ['#1f77b4', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#bcbd22']

/** `hornbeam-http@before` → `hornbeam-http`; a plain key is its own kind. */
export const kindOf = (key) => key.split('@')[0]

/**
 * The entries of a run, from `--entries name=path,…` or, deprecated, BENCH_CHANNELS_ENTRY (one
 * build, named `entry`). Paths are made absolute (they go to the children and into the JSON) and
 * must exist: a missing build fails the run before any server starts, not one row at a time.
 */
export function entriesFromArgs(text, env = process.env, warn = console.warn) {
  if (text === undefined && env.BENCH_CHANNELS_ENTRY) {
    warn('BENCH_CHANNELS_ENTRY is deprecated: use --entries entry=/path/to/dist/index.js (or name=path,… to compare builds)')
    text = `entry=${env.BENCH_CHANNELS_ENTRY}`
  } else if (text !== undefined && env.BENCH_CHANNELS_ENTRY) {
    warn('BENCH_CHANNELS_ENTRY is ignored: --entries is given')
  }
  if (text === undefined) return []
  const entries = []
  for (const part of text.split(',').filter(Boolean)) {
    const eq = part.indexOf('=')
    const name = part.slice(0, eq)
    const path = part.slice(eq + 1)
    if (eq <= 0 || !path) throw new Error(`--entries: "${part}" is not name=/path/to/dist/index.js`)
    // The name ends up in a server key, a file's JSON keys and a table header.
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`--entries: name "${name}" may only hold letters, digits, '.', '_' and '-'`)
    if (entries.some((e) => e.name === name)) throw new Error(`--entries: name "${name}" is given twice`)
    const abs = resolve(path)
    if (!existsSync(abs)) throw new Error(`--entries: ${name}=${abs} does not exist (build it: npx tsc -b packages/channels in that tree)`)
    entries.push({ name, path: abs, server: `${ENTRY_KIND}@${name}` })
  }
  if (entries.length === 0) throw new Error('--entries: no entry given')
  return entries
}

/**
 * The server keys of a run: the plain node:http server is replaced, where it stood, by one key
 * per entry; when it was not selected the entries come first. The other servers stay, so the
 * ratios to raw ws and Socket.IO are still measured in the same run.
 */
export function withEntries(servers, entries) {
  if (entries.length === 0) return servers
  const keys = entries.map((e) => e.server)
  const at = servers.indexOf(ENTRY_KIND)
  if (at < 0) return [...keys, ...servers]
  return [...servers.slice(0, at), ...keys, ...servers.slice(at + 1)]
}

/**
 * The order of the servers in fan-out round `round` (1-based): on even rounds the entries run in
 * reverse order, so neither build always runs first (right after the peers, or right after a
 * process exited) and a drift of the machine over the run does not favour one of them.
 */
export function roundOrder(servers, round) {
  const slots = servers.map((s, i) => (s.includes('@') ? i : -1)).filter((i) => i >= 0)
  if (round % 2 === 1 || slots.length < 2) return servers
  const out = [...servers]
  slots.forEach((slot, i) => (out[slot] = servers[slots[slots.length - 1 - i]]))
  return out
}

const geomean = (xs) => (xs.length ? Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length) : null)
const round3 = (v) => (typeof v === 'number' && Number.isFinite(v) ? +v.toFixed(3) : null)

/**
 * The entries' figures side by side, for the JSON (`entriesComparison`) and the Markdown: per
 * figure and cell each entry's value and its ratio to the first entry, and per figure the
 * geometric mean of those ratios over the cells. Costs only (CPU, memory): below 1 is cheaper.
 */
export function compareEntries(result) {
  const entries = result.entries ?? []
  // One build alone (e.g. the deprecated BENCH_CHANNELS_ENTRY) has nothing to be compared with.
  if (entries.length < 2) return null
  const base = entries[0]
  const rows = []
  const add = (figure, where, valueOf, roundsOf) => {
    const values = Object.fromEntries(entries.map((e) => [e.name, valueOf(e.server) ?? null]))
    if (Object.values(values).every((v) => v === null)) return
    const ratios = Object.fromEntries(
      entries.slice(1).map((e) => [e.name, values[e.name] !== null && values[base.name] ? round3(values[e.name] / values[base.name]) : null]),
    )
    const row = { figure, ...where, values, ratios }
    if (roundsOf) row.rounds = Object.fromEntries(entries.map((e) => [e.name, roundsOf(e.server) ?? []]))
    rows.push(row)
  }
  const fanRow = (server, n) => result.fanout.find((r) => r.server === server && r.subscribers === n)
  const cell = (server, n, size) => fanRow(server, n)?.cells.find((c) => c.size === size)
  const subs = [...new Set(result.fanout.map((r) => r.subscribers))]
  const sizes = [...new Set(result.fanout.flatMap((r) => r.cells.map((c) => c.size)))]
  for (const phase of ['throughput', 'burst']) {
    for (const n of subs) {
      for (const size of sizes) {
        add(
          `serverCpuMicrosPerDelivery.${phase}`,
          { subscribers: n, size },
          (s) => cell(s, n, size)?.[phase]?.serverCpuMicrosPerDelivery,
          (s) => cell(s, n, size)?.[phase]?.rounds?.map((x) => x?.serverCpuMicrosPerDelivery ?? null),
        )
      }
    }
  }
  for (const n of subs) add('rssBytesPerConnection', { subscribers: n }, (s) => fanRow(s, n)?.memory?.bytesPerConnection, (s) => fanRow(s, n)?.memoryRounds)
  for (const n of subs) add('heapBytesPerConnection', { subscribers: n }, (s) => fanRow(s, n)?.memory?.heapBytesPerConnection)
  const joins = (s) => result.joins?.find((r) => r.server === s)
  add('serverCpuMicrosPerJoin', { joins: joins(base.server)?.joins }, (s) => joins(s)?.serverCpuMicrosPerJoin)
  const geomeans = {}
  for (const figure of new Set(rows.map((r) => r.figure))) {
    const of = rows.filter((r) => r.figure === figure)
    if (of.length < 2) continue
    geomeans[figure] = Object.fromEntries(
      entries.slice(1).map((e) => {
        const rs = of.map((r) => r.ratios[e.name]).filter((x) => typeof x === 'number' && x > 0)
        return [e.name, rs.length === of.length ? round3(geomean(rs)) : null]
      }),
    )
  }
  return { base: base.name, entries: entries.map(({ name, path, server }) => ({ name, path, server })), rows, geomeans }
}

const FIGURES = {
  'serverCpuMicrosPerDelivery.throughput': { title: 'server CPU µs/delivery', digits: 2 },
  'serverCpuMicrosPerDelivery.burst': { title: 'server CPU µs/delivery, burst', digits: 2 },
  rssBytesPerConnection: { title: 'RSS B/connection', digits: 0 },
  heapBytesPerConnection: { title: 'heap B/connection', digits: 0 },
  serverCpuMicrosPerJoin: { title: 'server CPU µs/join', digits: 1 },
}

const fmt = (v, d) => (v === null || v === undefined ? '–' : d === 0 ? Math.round(v).toLocaleString('en-US') : Number(v).toFixed(d))
const fmtRatio = (r) => (typeof r === 'number' && Number.isFinite(r) ? `${r.toFixed(2)}×` : '–')
const sizeName = (s) => (s >= 1024 ? `${s / 1024} KiB` : `${s} B`)

/** The Markdown section: one table, a row per figure and cell, a column per entry. */
export function renderEntries(result) {
  const cmp = result.entriesComparison
  if (!cmp || cmp.rows.length === 0) return []
  const names = cmp.entries.map((e) => e.name)
  const others = names.slice(1)
  const multi = result.config.rounds > 1
  const L = ['## Core builds side by side (`--entries`)', '']
  L.push(
    `Hornbeam on node:http once per build of \`@hornbeam/channels\`, in the same run: ${cmp.entries.map((e) => `**${e.name}** = \`${e.path}\``).join(', ')}. ` +
      `A column per build; ${others.map((n) => `\`${n} / ${cmp.base}\``).join(', ')} is the ratio to the first build (costs: below 1.00× is cheaper). ` +
      'The same servers are rows of the tables below, with their ratios to raw ws and Socket.IO. ' +
      (multi ? `Fan-out rounds alternate the builds (their order reversed every other round). ` : '') +
      'Differences under about 15% are within the round-to-round noise of loopback on two cores.',
  )
  L.push('')
  L.push(`| figure | subscribers | payload | ${names.join(' | ')} | ${others.map((n) => `${n} / ${cmp.base}`).join(' | ')} |${multi ? ' each round |' : ''}`)
  L.push(`| --- | ---: | --- | ${names.map(() => '---:').join(' | ')} | ${others.map(() => '---:').join(' | ')} |${multi ? ' --- |' : ''}`)
  const blank = (k) => Array(k).fill('').join(' | ')
  let last
  for (const r of cmp.rows) {
    const f = FIGURES[r.figure] ?? { title: r.figure, digits: 2 }
    if (last && last !== r.figure) geomeanRow(last)
    last = r.figure
    const title = r.figure === 'serverCpuMicrosPerDelivery.burst' ? `${f.title} of ${result.config.burstSize}` : f.title
    const where = r.figure === 'serverCpuMicrosPerJoin' ? `${fmt(r.joins, 0)} joins` : fmt(r.subscribers, 0)
    const rounds = multi && r.rounds ? ` ${names.map((n) => `${n}: ${(r.rounds[n] ?? []).map((v) => fmt(v, f.digits)).join(', ')}`).join('; ')} |` : multi ? ' |' : ''
    L.push(
      `| ${title} | ${where} | ${r.size ? sizeName(r.size) : '–'} | ${names.map((n) => fmt(r.values[n], f.digits)).join(' | ')} | ${others.map((n) => fmtRatio(r.ratios[n])).join(' | ')} |${rounds}`,
    )
  }
  if (last) geomeanRow(last)
  L.push('')
  return L

  function geomeanRow(figure) {
    const g = cmp.geomeans[figure]
    if (!g) return
    L.push(`| ${(FIGURES[figure] ?? { title: figure }).title}${figure.endsWith('.burst') ? ` of ${result.config.burstSize}` : ''}: geometric mean | | | ${blank(names.length)} | ${others.map((n) => `**${fmtRatio(g[n])}**`).join(' | ')} |${multi ? ' |' : ''}`)
  }
}
