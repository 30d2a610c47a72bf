// The Markdown of a recovery run (bench/recovery.mjs): the machine, the method, one table per run
// variant, and the evidence for every client that lost, duplicated or reordered a message.
const int = (v) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Math.round(v).toLocaleString('en-US'))
const ms = (v) => (v === null || v === undefined ? '–' : v >= 100 ? v.toFixed(0) : v.toFixed(1))
const pct = (a, b) => (b ? `${((100 * a) / b).toFixed(a === b ? 0 : 2)} %` : '–')

const TITLES = {
  single: 'one node',
  cluster: 'two nodes over one Redis, clients reconnect to either at random',
  restart: 'two nodes over one Redis, clients reconnect to either at random, rolling restart (node B, then node A)',
}

export function renderRecovery(result) {
  const { config: cfg, machine: m } = result
  const L = []
  L.push(`# Recovery under churn: ${TITLES[result.mode]}${cfg.quick ? ' (quick)' : ''}, ${result.startedAt.slice(0, 16).replace('T', ' ')} UTC`)
  L.push('')
  L.push(
    `Machine: ${m.cpuCount} × ${m.cpuModel}, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB RAM, ${m.os}, Node ${m.node}. ` +
      `Each server node in its own process, ${cfg.generators} load-generator processes per server; ` +
      `${cfg.sequential ? 'the servers one after the other' : 'the servers side by side, at the same time, each with its own clients'}; everything on 127.0.0.1` +
      `${result.redis ? `; Redis ${result.redis.version} of our own (one redis-server per server, ports ${result.redis.ports.join(', ')})` : ''}. Run took ${result.seconds} s.`,
  )
  L.push('')
  L.push(
    `${int(cfg.clients)} clients per server on one room; the server broadcasts ${cfg.rate} messages/s ` +
      `(\`{ s: seq, t: monotonic µs }\`${cfg.nodes > 1 ? ', from node A, or B while A restarts' : ''}). ` +
      `For ${cfg.seconds} s every client's TCP socket is destroyed ${cfg.cut.minMs / 1000}–${cfg.cut.maxMs / 1000} s after its connection opened ` +
      `(\`ws._socket.destroy()\`; for socket.io-client the same socket under engine.io: \`socket.io.engine.transport.ws._socket\`), and its network stays down for ${cfg.cut.offlineMs} ms (connects fail with ECONNREFUSED, the client's own backoff retries); ` +
      `then ${cfg.settleSeconds} s more broadcasts without cuts, then the run waits until every client has the last message or nothing arrives for ` +
      `${cfg.quiescence.idleMs / 1000} s. Expected: every message broadcast after the client's first join was acknowledged, to the end. ` +
      'Duplicates: a message handed to the application callback twice. Out of order: a message delivered after a later one. ' +
      'Replay latency: for each message delivered on a connection that opened after it was broadcast (it can only have come by recovery), ' +
      'from the broadcast to the application callback, offline time included; "live" is every other delivery (including messages broadcast while the client was rejoining on its new connection).',
  )
  if (result.build) L.push('', `Hornbeam build: the packages' dist/ of commit ${result.build.commit}${result.build.dirtyPackages ? ` with ${result.build.dirtyPackages} changed files under packages/ in the working tree` : ''}.`)
  L.push('')
  for (const r of result.rows) if (r.status === 'failed') L.push(`- **${r.label}: failed**: ${r.error?.split('\n')[0]}`)
  L.push('| server | stack | delivered / expected | lost | duplicates | out of order | replayed msgs | replay p50 ms | p95 | p99 | max | live p50 / p99 ms | cuts | reconnects | cut → reconnected p50 / p99 ms | resumes recovered / not |')
  L.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const r of result.rows) {
    if (r.status === 'failed') continue
    const rec = r.recover
    const reasons = Object.entries(rec.reasons ?? {}).map(([k, v]) => `${k}: ${v}`).join(', ')
    const resumes = r.server === 'socketio' ? 'n/a' : `${int(rec.recovered)} / ${int(rec.notRecovered)}${reasons ? ` (${reasons})` : ''}`
    L.push(
      `| ${r.label} | ${r.stack} | ${int(r.delivered)} / ${int(r.expected)} (${pct(r.delivered, r.expected)}) | ${int(r.lost)} | ${int(r.duplicates)} | ${int(r.outOfOrder)} | ` +
        `${int(r.replay.samples)} | ${ms(r.replay.p50Ms)} | ${ms(r.replay.p95Ms)} | ${ms(r.replay.p99Ms)} | ${ms(r.replay.maxMs)} | ` +
        `${ms(r.live.p50Ms)} / ${ms(r.live.p99Ms)} | ${int(r.cuts)} | ${int(r.opens - r.clients)} | ${ms(r.causes?.cut?.gap?.p50Ms)} / ${ms(r.causes?.cut?.gap?.p99Ms)} | ${resumes} |`,
    )
  }
  L.push('')
  L.push(
    'Clients with a loss / a duplicate / out of order: ' +
      result.rows.filter((r) => r.status !== 'failed').map((r) => `${r.label} ${r.clientsWithLoss} / ${r.clientsWithDuplicates} / ${r.clientsOutOfOrder}`).join('; ') +
      '. Reconnects = connections opened after the first; refused connects (network down) ' +
      result.rows.filter((r) => r.status !== 'failed').map((r) => `${r.label} ${int(r.refused)}`).join(', ') +
      '. Broadcasts: ' +
      result.rows.filter((r) => r.status !== 'failed').map((r) => `${r.label} ${r.broadcasts}${r.broadcastsFailed ? ` (${r.broadcastsFailed} not accepted)` : ''}${r.broadcastErrors?.length ? ` (${r.broadcastErrors.length} unanswered)` : ''}`).join(', ') +
      '. Handshake (TCP connect to WebSocket open, every connection), p50 / p99 ms: ' +
      result.rows.filter((r) => r.status !== 'failed' && r.handshake).map((r) => `${r.label} ${ms(r.handshake.p50Ms)} / ${ms(r.handshake.p99Ms)}`).join(', ') +
      '. Time to quiescence after the last broadcast: ' +
      result.rows.filter((r) => r.status !== 'failed').map((r) => `${r.label} ${(r.quiescence.ms / 1000).toFixed(1)} s (${r.quiescence.complete}/${r.clients} clients had the last message)`).join(', ') +
      '.',
  )
  if (result.rows.some((r) => r.causes?.server)) {
    L.push('')
    L.push(
      'Replay latency by what ended the connection before: our cut (network down for ' +
        `${cfg.cut.offlineMs} ms, then the client's reconnect backoff), or the server (the rolling restart's close; ` +
        "Hornbeam's client then reconnects at a random moment within `restartWindowMs`, 5 s by default, to spread the herd; " +
        "socket.io-client after its reconnection delay, 1 s ± 50 %). Gap: from the cut or the server's close to the next connection open.",
    )
    L.push('')
    L.push('| server | after | replayed msgs | replay p50 ms | p95 | p99 | max | reconnects | gap p50 ms | gap p99 ms |')
    L.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for (const r of result.rows) {
      if (r.status === 'failed') continue
      for (const cause of ['cut', 'server']) {
        const c = r.causes?.[cause]
        if (!c) continue
        L.push(
          `| ${r.label} | ${cause === 'cut' ? 'a cut' : 'the server closed'} | ${int(c.replay.samples)} | ${ms(c.replay.p50Ms)} | ${ms(c.replay.p95Ms)} | ` +
            `${ms(c.replay.p99Ms)} | ${ms(c.replay.maxMs)} | ${int(c.gap.samples)} | ${ms(c.gap.p50Ms)} | ${ms(c.gap.p99Ms)} |`,
        )
      }
    }
  }
  L.push('')
  L.push(
    'CPU during the broadcasts (churn and settle), in cores (1.00 = one core busy; this machine has ' +
      `${m.cpuCount}), from /proc: ` +
      result.rows
        .filter((r) => r.cpu)
        .map((r) => {
          const c = r.cpu.cores
          return `${r.label}: server${cfg.nodes > 1 ? 's' : ''} ${c.server?.toFixed(2)}, clients ${c.clients?.toFixed(2)}${c.redis !== undefined ? `, Redis ${c.redis.toFixed(2)}` : ''}` +
            (cfg.sequential ? `, other processes on the machine ${r.cpu.otherCores.toFixed(2)}` : '')
        })
        .join('; ') +
      (result.machineCpu
        ? `; the whole machine ${result.machineCpu.machineBusyCores.toFixed(2)} busy, of which ${result.machineCpu.otherCores.toFixed(2)} other processes (not this run)`
        : '') +
      '. "Other processes" is CPU taken by anything outside this run; when it is not near zero the machine was shared and the latencies are noisier.',
  )
  const restarts = result.rows.filter((r) => r.restarts?.length)
  if (restarts.length) {
    L.push('')
    L.push('Rolling restart (SIGTERM: Hornbeam `hub.close()`, which closes every client with 1012; Socket.IO `io.close()`; then a new process on the same port):')
    L.push('')
    for (const r of restarts) {
      L.push(`- ${r.label}: ` + r.restarts.map((x) => `node ${x.node} at ${x.atSeconds.toFixed(1)} s, exited (${x.exit}) after ${x.stopMs} ms, listening again after ${x.downMs} ms`).join('; '))
    }
  }
  const warned = result.rows.flatMap((r) => (r.nodeStats ?? []).filter((s) => s.warnings?.count).map((s) => `${r.label} node ${s.node}: ${s.warnings.count} (${s.warnings.last.at(-1)})`))
  if (warned.length) {
    L.push('')
    L.push(`Server warnings/errors logged (the restarted processes' earlier logs are not counted): ${warned.join('; ')}`)
  }
  const hb = result.rows.filter((r) => r.server === 'hornbeam' && r.status !== 'failed')
  const sio = result.rows.find((r) => r.server === 'socketio-csr' && r.status !== 'failed')
  if (hb.length) {
    L.push('')
    L.push('## Goals (measured, not asserted)')
    L.push('')
    for (const r of hb) {
      const complete = r.lost === 0 && r.duplicates === 0 && r.outOfOrder === 0 && r.delivered === r.expected
      L.push(`- Hornbeam delivers 100 %, no duplicate, in order: **${complete ? 'met' : 'not met'}** (${pct(r.delivered, r.expected)}, ${r.duplicates} duplicates, ${r.outOfOrder} out of order).`)
      if (sio?.replay?.p99Ms) {
        const ok = r.replay.p99Ms !== null && r.replay.p99Ms <= sio.replay.p99Ms
        L.push(`- Replay p99 no worse than Socket.IO's recovery in this run: **${ok ? 'met' : 'not met'}** (${ms(r.replay.p99Ms)} ms against ${ms(sio.replay.p99Ms)} ms).`)
        const ours = r.causes?.cut?.replay?.p99Ms
        const theirs = sio.causes?.cut?.replay?.p99Ms
        if (r.causes?.server && ours && theirs) {
          L.push(`  After cuts only: **${ours <= theirs ? 'met' : 'not met'}** (${ms(ours)} ms against ${ms(theirs)} ms); after the servers' closes: ${ms(r.causes.server.replay.p99Ms)} ms against ${ms(sio.causes?.server?.replay?.p99Ms)} ms.`)
        }
      }
    }
  }
  const anomalies = result.rows.filter((r) => r.server !== 'socketio' && r.anomalies?.length)
  if (anomalies.length) {
    L.push('')
    L.push('## Anomalies (servers with recovery)')
    for (const r of anomalies) {
      L.push('')
      L.push(`${r.label}: ${r.clientsWithLoss} clients lost messages, ${r.clientsWithDuplicates} saw duplicates, ${r.clientsOutOfOrder} out of order. First clients (full timelines in the JSON, \`rows[].anomalies\`):`)
      L.push('')
      for (const a of r.anomalies.slice(0, 10)) {
        const d = a.detail
        const parts = []
        if (d.lostSeqs.length) parts.push(`lost ${d.lostSeqs.join(', ')}`)
        if (d.duplicateSeqs.length) parts.push(`duplicated ${d.duplicateSeqs.join(', ')}`)
        if (d.outOfOrder.length) parts.push(`out of order ${d.outOfOrder.map(([s, after]) => `${s} after ${after}`).join(', ')}`)
        L.push(`- client ${a.index}: ${parts.join('; ')} (expected ${a.expected}, delivered ${a.delivered})`)
      }
    }
  }
  return L.join('\n') + '\n'
}
