// Memory per message kept by the in-memory topic history, in one process (like bench/presence.mjs):
//   node --expose-gc bench/lib/history-memory.mjs [--quick]     prints the tables (and the JSON with --json)
// bench/run.mjs runs it as the `history-memory` scenario (a child of its own: `--child`).
//
// Per payload size (100 B and 1 KiB, JSON.stringify'd, like the fan-out's payloads):
//   1. per message: T topics × 100 messages broadcast with the hub-wide cap raised so that nothing
//      is evicted; heap and external (Buffer) bytes after two full GCs, minus before, ÷ messages.
//      Beside it what the history counts for the 64 MiB cap (`stats().history.bytes`: the frame
//      plus a fixed 96 bytes per entry).
//   2. the default cap: 10,000 topics × 100 messages (1,000,000 broadcasts) with the default
//      history (100 per topic, 2 minutes, 64 MiB): the messages kept and the memory they take.
//   3. a control: the same broadcasts as 1. with history off (nothing should stay).
// Every broadcast's payload is a fresh object with a fresh string, as an application's would be.
// @hornbeam/channels is imported when measuring: bench/lib/report.mjs imports this file for its table.
let createHub
let silentLogger

const gc = globalThis.gc
const MiB = 2 ** 20

function memory() {
  gc()
  gc()
  const m = process.memoryUsage()
  return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss }
}

/** A fresh payload whose JSON is exactly `size` bytes: {"s":…,"t":…,"p":"…"}. */
function payloadOf(seq, size) {
  const t = Date.now()
  const base = 15 + String(seq).length + String(t).length
  const n = Math.max(0, size - base)
  // A flat one-byte string of its own (not a slice of a shared one), different per message.
  const p = Buffer.alloc(n, 97 + (seq % 26)).toString('latin1')
  return { s: seq, t, p }
}

/** Until the heap stops shrinking: what an earlier hub left (its timers, its closures) is gone. */
async function settle() {
  let last = Infinity
  for (let i = 0; i < 10; i++) {
    await new Promise((resolve) => setTimeout(resolve, 30))
    const now = memory()
    if (now.heapUsed + now.external > last - 64 * 1024) return now
    last = now.heapUsed + now.external
  }
  return memory()
}

async function fill({ size, topics, perTopic, history }) {
  await settle()
  const hub = createHub({ logger: silentLogger, history })
  hub.channel('bench:*')
  const before = memory()
  const t0 = process.hrtime.bigint()
  let seq = 0
  // Round-robin over the topics, as live traffic would interleave them.
  for (let round = 0; round < perTopic; round++) {
    for (let j = 0; j < topics; j++) void hub.broadcast(`bench:m${j}`, 'm', payloadOf(++seq, size))
  }
  const ns = Number(process.hrtime.bigint() - t0)
  await new Promise((resolve) => setImmediate(resolve))
  const after = memory()
  // The hub's own fixed cost (no topics) is in "before": it was made first.
  const stats = hub.stats().history ?? { topics: 0, entries: 0, bytes: 0 }
  const kept = stats.entries
  const heap = after.heapUsed - before.heapUsed
  const external = after.external - before.external
  const out = {
    size,
    topics,
    broadcasts: seq,
    kept,
    historyTopics: stats.topics,
    accountedBytes: stats.bytes,
    accountedBytesPerMessage: kept ? Math.round(stats.bytes / kept) : null,
    heapBytes: heap,
    externalBytes: external,
    heapBytesPerMessage: kept ? Math.round(heap / kept) : null,
    externalBytesPerMessage: kept ? Math.round(external / kept) : null,
    bytesPerMessage: kept ? Math.round((heap + external) / kept) : null,
    totalBytes: heap + external,
    // Includes making the payload and, with history on, building the frame (kept with the entry),
    // which a topic without subscribers and without history never builds.
    broadcastMicros: +(ns / 1000 / seq).toFixed(3),
    rssAfter: after.rss,
  }
  await hub.close()
  return out
}

export async function measureHistoryMemory({ quick = false } = {}) {
  if (typeof gc !== 'function') throw new Error('run with node --expose-gc')
  ;({ createHub, silentLogger } = await import('@hornbeam/channels'))
  const sizes = [100, 1024]
  const perMessageTopics = quick ? 200 : 1000
  const capTopics = quick ? 2000 : 10_000
  const perMessage = []
  const atCap = []
  const control = []
  for (const size of sizes) {
    // Warm the JIT (and the pools) once, so the first size does not pay for it.
    await fill({ size, topics: 100, perTopic: 10, history: { maxBytes: 4 * 1024 * MiB } })
    perMessage.push(await fill({ size, topics: perMessageTopics, perTopic: 100, history: { maxBytes: 4 * 1024 * MiB } }))
    atCap.push(await fill({ size, topics: capTopics, perTopic: 100, history: undefined }))
    control.push(await fill({ size, topics: perMessageTopics, perTopic: 100, history: false }))
  }
  return {
    method:
      'In one process with --expose-gc: a hub with `hub.channel(\'bench:*\')`, broadcasts round-robin over T topics ' +
      '(no subscribers: history keeps them all the same), payloads of fresh objects whose JSON is exactly the size. ' +
      'Heap (V8 heapUsed) and external (Buffers: the frames) after two full GCs, minus before, ÷ messages kept. ' +
      '"counted" is what the history counts against its hub-wide cap (its frame plus a fixed estimate per entry).',
    perMessage,
    atCap,
    control,
    capBytes: 64 * MiB,
  }
}

const fmt = (v, d = 0) => (v === null || v === undefined ? '–' : d === 0 ? Math.round(v).toLocaleString('en-US') : Number(v).toFixed(d))
const sizeName = (s) => (s >= 1024 ? `${s / 1024} KiB` : `${s} B`)

export function renderHistoryMemory(r) {
  const L = ['## Memory per message kept by the history (`history-memory`)', '']
  if (!r || r.status === 'failed') {
    L.push(`Not measured: ${r?.error ?? 'not run'}`, '')
    return L
  }
  L.push(r.method, '')
  L.push('| payload | messages kept | heap B/message | external B/message | **total B/message** | counted B/message | total ÷ payload | broadcast µs (no subscribers) |')
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const m of r.perMessage) {
    L.push(`| ${sizeName(m.size)} | ${fmt(m.kept)} (${fmt(m.topics)} topics × 100) | ${fmt(m.heapBytesPerMessage)} | ${fmt(m.externalBytesPerMessage)} | **${fmt(m.bytesPerMessage)}** | ${fmt(m.accountedBytesPerMessage)} | ${fmt(m.bytesPerMessage / m.size, 1)}× | ${fmt(m.broadcastMicros, 2)} |`)
  }
  L.push('')
  L.push(`What the default cap (${fmt(r.capBytes / MiB)} MiB counted, hub-wide) holds, after ${fmt(r.atCap[0]?.broadcasts)} broadcasts over ${fmt(r.atCap[0]?.topics)} topics (100 each):`)
  L.push('')
  L.push('| payload | messages kept | topics with history | counted | heap + external they take | B/message | broadcast µs (no subscribers) |')
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const m of r.atCap) {
    L.push(`| ${sizeName(m.size)} | ${fmt(m.kept)} | ${fmt(m.historyTopics)} | ${fmt(m.accountedBytes / MiB, 1)} MiB | ${fmt(m.totalBytes / MiB, 1)} MiB | ${fmt(m.bytesPerMessage)} | ${fmt(m.broadcastMicros, 2)} |`)
  }
  L.push('')
  L.push(`Control, history off, the same broadcasts as the first table: ${r.control.map((m) => `${sizeName(m.size)}: ${fmt(m.kept)} kept, ${fmt(m.totalBytes / 1024)} KiB left (${fmt(m.broadcastMicros, 2)} µs/broadcast)`).join('; ')}.`)
  L.push('')
  return L
}

// As a child of bench/run.mjs: answer { op: 'run' } over IPC.
if (process.argv.includes('--child') && process.send) {
  process.on('message', async (msg) => {
    if (msg.op === 'run') {
      try {
        process.send({ id: msg.id, result: { status: 'ok', ...(await measureHistoryMemory({ quick: !!msg.quick })) } })
      } catch (err) {
        process.send({ id: msg.id, error: String(err?.stack ?? err) })
      }
    } else if (msg.op === 'exit') {
      process.send({ id: msg.id, result: {} })
      setImmediate(() => process.exit(0))
    }
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ type: 'ready', pid: process.pid })
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await measureHistoryMemory({ quick: process.argv.includes('--quick') })
  console.log(renderHistoryMemory(r).join('\n'))
  if (process.argv.includes('--json')) console.log(JSON.stringify(r, null, 2))
}
