// The Markdown and SVG of bench/big-room.mjs: one table of every variant, then the goals.
import { goalChartSvg } from './goal-chart.mjs'

const fmt = (v) => (v == null ? '–' : typeof v === 'number' ? v.toLocaleString('en-US') : String(v))

export function bigRoomMarkdown({ machine, options, results, at }) {
  const lines = [
    `# Big room: ${options.users.toLocaleString('en-US')} users joining over ${options.joinSeconds} s, each tracked`,
    '',
    `${at} · ${machine.cpuModel} × ${machine.cpuCount} · Node ${machine.node} · ${options.generators} client processes on the same machine`,
    '',
    '| build | room size | replied | lists complete | joins sent over (s) | join reply at the client p50 / p99 / max (ms) | client processes\' lag p99 / max (ms) | complete after the last join p50 / max (ms) | all complete (s) | presence bytes per user | frames per user | bytes per key learned / one state entry | server CPU per join (µs) | server peak RSS (MB) | event-loop delay p99 / max (ms) | slow consumers |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  for (const r of results) {
    lines.push(`| ${r.build} | ${fmt(r.roomSize)} | ${fmt(r.replied)} | ${fmt(r.complete)} | ${fmt(r.joinsSentOverSeconds)} | ${fmt(r.joinReplyMs.p50)} / ${fmt(r.joinReplyMs.p99)} / ${fmt(r.joinReplyMs.max)} | ${fmt(r.clientLagMs.p99)} / ${fmt(r.clientLagMs.max)} | ${fmt(r.completeAfterLastJoinMs.p50)} / ${fmt(r.completeAfterLastJoinMs.max)} | ${fmt(r.allCompleteSeconds)} | ${fmt(r.presenceBytesPerUser)} | ${fmt(r.presenceFramesPerUser)} | ${fmt(r.bytesPerKeyLearned)} / ${fmt(r.stateEntryBytes)} = ${fmt(r.bytesPerKeyOverEntry)}× | ${fmt(r.serverCpuPerJoinMicros)} | ${fmt(Math.round(r.server.rssPeak / 1e6))} | ${fmt(r.server.eventLoopDelay.p99Ms)} / ${fmt(r.server.eventLoopDelay.maxMs)} | ${fmt(r.server.slowConsumers)} |`)
  }
  lines.push('', '## Goals', '')
  for (const build of [...new Set(results.map((r) => r.build))]) {
    const mine = results.filter((r) => r.build === build)
    const big = mine.find((r) => r.roomSize === options.users)
    const small = mine.find((r) => r.roomSize !== options.users)
    if (!big) continue
    const verdict = (ok) => (ok ? 'met' : 'not met')
    lines.push(`- ${build}: every list complete within 10 s of the last join: max ${fmt(big.completeAfterLastJoinMs.max)} ms, ${fmt(big.incomplete)} incomplete (${verdict(big.incomplete === 0 && big.completeAfterLastJoinMs.max <= 10_000)})`)
    lines.push(`- ${build}: presence bytes per key learned at most 2× one presence_state entry: ${fmt(big.bytesPerKeyOverEntry)}× (${verdict(big.bytesPerKeyOverEntry <= 2)})`)
    if (small) {
      const ratio = big.serverCpuPerJoinMicros / small.serverCpuPerJoinMicros
      lines.push(`- ${build}: server CPU per join in the big room at most 3× rooms of ${small.roomSize}: ${fmt(big.serverCpuPerJoinMicros)} / ${fmt(small.serverCpuPerJoinMicros)} µs = ${ratio.toFixed(2)}× (${verdict(ratio <= 3)})`)
    }
    lines.push(`- ${build}: join replies never stall behind presence work: the server's event loop was late by ${fmt(big.server.eventLoopDelay.p99Ms)} ms at p99 and ${fmt(big.server.eventLoopDelay.maxMs)} ms at most (rooms of ${small?.roomSize ?? '–'}: ${fmt(small?.server.eventLoopDelay.p99Ms)} / ${fmt(small?.server.eventLoopDelay.maxMs)} ms); replies at the clients p99 ${fmt(big.joinReplyMs.p99)} ms, with the client processes themselves late by up to ${fmt(big.clientLagMs.max)} ms`)
    lines.push(`- ${build}: no reading client cut off as a slow consumer: ${fmt(big.server.slowConsumers)} closed (${verdict(big.server.slowConsumers === 0)})`)
  }
  lines.push('')
  return lines.join('\n')
}

/** The first build's goals as a chart (bench/lib/goal-chart.mjs). */
export function bigRoomSvg({ options, results, at }) {
  const big = results.find((r) => r.roomSize === options.users)
  const small = results.find((r) => r.build === big?.build && r.roomSize !== options.users)
  if (!big) return undefined
  const goals = [
    { label: 'lists complete after the last join (max)', value: (big.completeAfterLastJoinMs.max ?? Infinity) / 1000, limit: 10, unit: ' s' },
    { label: 'presence bytes per key learned, × one entry', value: big.bytesPerKeyOverEntry, limit: 2, unit: '×' },
  ]
  if (small) goals.push({ label: `CPU per join, × rooms of ${small.roomSize}`, value: big.serverCpuPerJoinMicros / small.serverCpuPerJoinMicros, limit: 3, unit: '×' })
  return goalChartSvg(`A room of ${options.users.toLocaleString('en-US')} users with presence, ${at.slice(0, 10)}`, goals)
}
