// The server of bench/storm.mjs: Hornbeam on node:http with the hub's defaults (history on, the
// default rate limits and timeouts; only the logger is silent), in a process of its own.
//   node bench/lib/storm-server.mjs '{"port":0,"listen":true}'
// It records the monotonic time (µs, CLOCK_MONOTONIC: the same clock in every process) of every
// WebSocket upgrade and every join, and its event-loop delay, and obeys IPC requests:
//   listen { port }     listen on 127.0.0.1:<port> (retried while the old server still holds it)
//   broadcastAll { prefix, topics }   one broadcast to each topic <prefix>0 … <prefix><topics-1>
//   stats               connections, channels, joins, upgrades
//   timeline            every upgrade and join time, and the event-loop delay since listening
//   restart             stop listening (reported at once: { type: 'unlistened' }), then hub.close():
//                       every socket gets 1012; resolves with the times and the CPU the close took
import { createServer } from 'node:http'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createHub, silentLogger } from '@hornbeam/channels'
import { nowMicros } from './hist.mjs'
import { serveRequests } from './child.mjs'

const options = JSON.parse(process.argv[2] ?? '{}')
const send = (m) => process.connected && process.send(m)
process.on('disconnect', () => process.exit(0))

const hub = createHub({ logger: silentLogger })
const joins = []
const upgrades = []
hub.channel('bench:*').onJoin(() => {
  joins.push(nowMicros())
  return ['ok', {}]
})
const server = createServer((_req, res) => res.end('ok'))
server.prependListener('upgrade', () => upgrades.push(nowMicros()))
hub.attach(server, { path: '/ws' })
const lag = monitorEventLoopDelay({ resolution: 10 })
let listenedAt = null

async function listen(port) {
  const until = Date.now() + 10_000
  for (;;) {
    try {
      await new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, '127.0.0.1', () => (server.off('error', reject), resolve()))
      })
      listenedAt = nowMicros()
      lag.reset()
      lag.enable()
      return { port: server.address().port, listenedAt }
    } catch (err) {
      if (err?.code !== 'EADDRINUSE' || Date.now() > until) throw err
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
}

const ops = {
  listen: ({ port }) => listen(port),
  broadcastAll({ prefix, topics }) {
    for (let j = 0; j < topics; j++) void hub.broadcast(`${prefix}${j}`, 'm', { n: j })
    return { sent: topics }
  },
  stats() {
    const s = hub.stats()
    return { connections: s.connections, channels: s.channels, joins: joins.length, upgrades: upgrades.length, history: s.history ? { topics: s.history.topics, entries: s.history.entries } : null }
  },
  timeline() {
    const ms = (ns) => +(ns / 1e6).toFixed(2)
    return {
      listenedAt,
      joins,
      upgrades,
      eventLoopDelay: lag.count ? { p50Ms: ms(lag.percentile(50)), p99Ms: ms(lag.percentile(99)), maxMs: ms(lag.max), meanMs: ms(lag.mean) } : null,
    }
  },
  async restart() {
    const startedAt = nowMicros()
    // As a process that is told to stop: no new connections, then every socket closed with 1012.
    server.close()
    const unlistenedAt = nowMicros()
    // The port is free: a standby server may take it now, while this one closes its sockets.
    send({ type: 'unlistened', at: unlistenedAt })
    const cpu0 = process.cpuUsage()
    await hub.close()
    const cpu = process.cpuUsage(cpu0)
    return { startedAt, unlistenedAt, closedAt: nowMicros(), connections: hub.stats().connections, closeCpuMicros: cpu.user + cpu.system }
  },
  exit() {
    setImmediate(() => process.exit(0))
    return { exiting: true }
  },
}

serveRequests(ops)

if (options.listen) {
  try {
    const { port } = await listen(options.port ?? 0)
    send({ type: 'ready', pid: process.pid, port, listenedAt })
  } catch (err) {
    send({ type: 'error', message: err?.stack ?? String(err) })
    setTimeout(() => process.exit(1), 50)
  }
} else send({ type: 'ready', pid: process.pid, port: null, listenedAt: null })
