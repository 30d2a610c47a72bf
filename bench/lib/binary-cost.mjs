// What a binary broadcast costs against a text one of the same size: the `binary` scenario of
// bench/run.mjs (run only when named: `--scenarios binary`). One hornbeam-http server (history on,
// the default), `subscribers` clients on one topic, and per payload size three cells:
//   text         phoenix v2 clients, a JSON payload of `size` bytes (the fan-out scenario's)
//   binary       the same phoenix v2 clients, `size` bytes: one binary frame (kind 2) per broadcast
//   binary-json  hornbeam-dialect clients, the same bytes in their {"hb_binary": "<base64>"} form
// text and binary alternate on the same clients and server process; binary-json follows on
// fresh clients. The figure that matters is the server's CPU per delivery (from /proc).
import { connectClients, measuredPump, sleep, startGenerators, startServer, stopAll, urlOf, waitConnections } from './fanout.mjs'

const TOPIC = 'bench:binary'

const CELLS = [
  { cell: 'text', clients: 'phoenix', binary: false },
  { cell: 'binary', clients: 'phoenix', binary: true },
  { cell: 'binary-json', clients: 'hornbeam', binary: true },
]

/** One round: a fresh server; resolves { rows, problems }. */
async function round({ subscribers, sizes, cfg, log }) {
  const rows = []
  const problems = []
  const started = await startServer('hornbeam-http', { name: 'server binary' })
  if (started.error) return { rows, problems: [`binary: the server did not start: ${started.error}`] }
  const { child: server, ready } = started
  const gens = await startGenerators(cfg.generators)
  const pids = { server: [server.pid], clients: gens.map((g) => g.pid), orchestrator: [process.pid] }
  let seq = 1
  try {
    for (const clients of ['phoenix', 'hornbeam']) {
      const connect = await connectClients(gens, { kind: clients, url: urlOf('hornbeam-http', ready), total: subscribers, topic: TOPIC })
      if (connect.joined !== subscribers) problems.push(`binary: only ${connect.joined} of ${subscribers} ${clients} clients joined (${connect.errors.join('; ')})`)
      for (const size of sizes) {
        const window = Math.max(2, Math.ceil(cfg.inFlightDeliveries / subscribers))
        for (const { cell, binary } of CELLS.filter((c) => c.clients === clients)) {
          const warm = await measuredPump({ server, gens, pids, topic: TOPIC, size, window, binary, maxMessages: cfg.warmupMessages, seqStart: seq })
          seq = warm.seqNext
          const m = await measuredPump({
            server, gens, pids, topic: TOPIC, size, window, binary, seqStart: seq,
            durationMs: cfg.throughputMs, maxMessages: cfg.throughputMessages ?? Infinity,
          })
          seq = m.seqNext
          const missing = m.missing + warm.missing
          if (missing || m.unexpectedFrames) problems.push(`binary ${cell} ${size} B: ${missing} deliveries missing, ${m.unexpectedFrames} unexpected frames`)
          rows.push({
            cell, size, subscribers,
            serverCpuMicrosPerDelivery: m.serverCpuMicrosPerDelivery,
            clientsCpuMicrosPerDelivery: m.clientsCpuMicrosPerDelivery,
            deliveriesPerSecond: m.deliveriesPerSecond,
            serverCoreShare: m.serverCoreShare,
            clientsCoreShare: m.clientsCoreShare,
            messages: m.messages,
            missing,
          })
          log(`binary ${cell} ${size} B to ${subscribers}: ${m.serverCpuMicrosPerDelivery} µs server CPU/delivery, ${m.deliveriesPerSecond} deliveries/s, server ${(m.serverCoreShare * 100).toFixed(0)}% / clients ${(m.clientsCoreShare * 100).toFixed(0)}% of a core, missing ${missing}`)
        }
      }
      await Promise.all(gens.map((g) => g.request('close', {}, 60_000)))
      await waitConnections(server, 0, 5000)
      await sleep(100)
    }
  } catch (err) {
    problems.push(`binary: ${String(err?.stack ?? err).split('\n').slice(0, 4).join(' ')}`)
  } finally {
    await Promise.all(gens.map((g) => g.request('close', {}, 60_000).catch(() => {})))
    await stopAll([...gens, server])
  }
  return { rows, problems }
}

/**
 * The scenario: `rounds` rounds per subscriber count; each cell's figures are the round with the
 * median server CPU per delivery, with every round's beside it, and binary's ratio to text.
 */
export async function binaryCost({ subscribers: counts, sizes, rounds, cfg, log }) {
  const raw = []
  const problems = []
  for (const subscribers of counts) {
    for (let r = 1; r <= rounds; r++) {
      const out = await round({ subscribers, sizes, cfg, log })
      raw.push(...out.rows.map((row) => ({ ...row, round: r })))
      problems.push(...out.problems)
    }
  }
  const cells = []
  for (const subscribers of counts) {
    for (const size of sizes) {
      for (const { cell } of CELLS) {
        const all = raw.filter((x) => x.subscribers === subscribers && x.size === size && x.cell === cell)
        if (all.length === 0) continue
        const sorted = [...all].sort((a, b) => a.serverCpuMicrosPerDelivery - b.serverCpuMicrosPerDelivery)
        const median = sorted[Math.floor((sorted.length - 1) / 2)]
        cells.push({ ...median, rounds: all.map((x) => x.serverCpuMicrosPerDelivery) })
      }
      const text = cells.find((c) => c.subscribers === subscribers && c.size === size && c.cell === 'text')
      for (const c of cells.filter((c) => c.subscribers === subscribers && c.size === size && c.cell !== 'text')) {
        c.ratioToText = text ? +(c.serverCpuMicrosPerDelivery / text.serverCpuMicrosPerDelivery).toFixed(3) : null
      }
    }
  }
  return { status: problems.length ? 'failed' : 'ok', problems, cells }
}

/** The Markdown section. */
export function renderBinaryCost(result) {
  const L = ['## Binary broadcasts against text ones of the same size', '']
  L.push('One topic on the node:http server; `text` and `binary` go to the same phoenix v2 clients (a JSON payload of the size, or that many bytes in a binary frame), `binary-json` to hornbeam-dialect clients, which get the bytes as `{"hb_binary": "<base64>"}`. Server CPU per delivery is the figure that separates them.')
  L.push('')
  L.push('| subscribers | payload | cell | server µs/delivery | × text | deliveries/s | server / clients core share | rounds (µs) |')
  L.push('| ---: | ---: | --- | ---: | ---: | ---: | --- | --- |')
  for (const c of result.cells) {
    L.push(`| ${c.subscribers} | ${c.size} B | ${c.cell} | ${c.serverCpuMicrosPerDelivery} | ${c.ratioToText ?? '—'} | ${c.deliveriesPerSecond} | ${(c.serverCoreShare * 100).toFixed(0)}% / ${(c.clientsCoreShare * 100).toFixed(0)}% | ${c.rounds.join(', ')} |`)
  }
  if (result.problems.length) L.push('', `Problems: ${result.problems.join('; ')}`)
  L.push('')
  return L
}
