#!/usr/bin/env node
// Cross-node benchmark: Hornbeam over @hornbeam/redis against Hornbeam on one node, and Socket.IO
// with @socket.io/redis-adapter, in the same run; then the same cross-node pair on a Redis Cluster
// of our own (3 masters, sharded pub/sub: Hornbeam's cluster mode against Socket.IO's sharded
// adapter); then presence convergence across nodes.
//
//   node bench/cluster.mjs [--quick] [--out <dir>]      (REDIS_URL; unset: a redis-server of our own)
//
// With REDIS_URL unset it starts a redis-server of its own on a free port (never the machine's
// Redis) and stops it after. Runs only when @hornbeam/redis is built and Redis answers; otherwise
// it says why and skips.
// bench/run.mjs calls runCluster() as its last scenario.
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { clientKindOf, connectClients, measuredPump, sleep, startGenerators, startServer, stopAll, urlOf, waitConnections } from './lib/fanout.mjs'
import { importPackage } from './lib/packages.mjs'
import { startRedisCluster } from '../scripts/redis-cluster.mjs'
import { startRedis } from '../scripts/redis-server.mjs'


const configs = {
  full: { subscribers: 5000, sizes: [100, 1024], throughputMs: 4000, latencyRounds: 40, window: 4, watchers: 20, joinRounds: 10, nodeAClients: 50 },
  quick: { subscribers: 1000, sizes: [100], throughputMs: 1000, latencyRounds: 10, window: 10, watchers: 10, joinRounds: 3, nodeAClients: 20 },
  tiny: { subscribers: 10, sizes: [100], throughputMs: Infinity, throughputMessages: 20, latencyRounds: 5, window: 4, watchers: 3, joinRounds: 2, nodeAClients: 3 },
}

/** Why the cluster scenario cannot run here, or undefined when it can. */
export async function unavailable(redisUrl) {
  try {
    await importPackage('@hornbeam/redis', 'redis')
  } catch (err) {
    return `@hornbeam/redis is not available: ${String(err?.message ?? err).split('\n')[0]}`
  }
  const { Redis } = await import('ioredis')
  const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false })
  redis.on('error', () => {})
  try {
    await redis.connect()
    const pong = await redis.ping()
    if (pong !== 'PONG') return `Redis at ${redisUrl} answered ${pong} to PING`
  } catch (err) {
    return `Redis does not answer at ${redisUrl} (${err?.message ?? err}); set REDIS_URL or start redis-server`
  } finally {
    redis.disconnect()
  }
  return undefined
}

function redisPid() {
  try {
    return Number(execFileSync('pidof', ['redis-server'], { encoding: 'utf8' }).trim().split(/\s+/)[0]) || undefined
  } catch {
    return undefined
  }
}

// `essential` setups run in every mode; the others (extra reference points) in full runs only.
const SETUPS = [
  { setup: 'hornbeam-one-node', essential: true, label: 'Hornbeam, one node (in-memory adapter)', kind: 'hornbeam-http', nodes: 1, redis: false },
  { setup: 'hornbeam-one-node-redis', label: 'Hornbeam, one node with the Redis adapter', kind: 'hornbeam-http', nodes: 1, redis: true },
  { setup: 'hornbeam-cross-node', essential: true, label: 'Hornbeam, cross-node over Redis (publish on A, subscribers on B)', kind: 'hornbeam-http', nodes: 2, redis: true },
  { setup: 'socketio-one-node', label: 'Socket.IO, one node', kind: 'socketio', nodes: 1, redis: false },
  { setup: 'socketio-cross-node', essential: true, label: 'Socket.IO, cross-node over @socket.io/redis-adapter', kind: 'socketio', nodes: 2, redis: true },
]

// On a Redis Cluster of the run's own (three masters on free ports, no replicas), when it starts.
const CLUSTER_SETUPS = [
  { setup: 'hornbeam-cross-node-redis-cluster', label: 'Hornbeam, cross-node over a Redis Cluster (3 masters, sharded pub/sub)', kind: 'hornbeam-http', nodes: 2, redis: true, cluster: true },
  { setup: 'socketio-cross-node-sharded', label: "Socket.IO, cross-node over createShardedAdapter on that Redis Cluster", kind: 'socketio', nodes: 2, redis: true, cluster: true },
]

async function fanoutSetup(s, cfg, { redisUrl, redisCluster, generators, log }) {
  const row = { setup: s.setup, label: s.label, server: s.kind, nodes: s.nodes, subscribers: cfg.subscribers, status: 'ok', cells: [] }
  const clusterId = randomBytes(4).toString('hex')
  const extra = !s.redis ? {} : s.cluster ? { redisCluster: redisCluster.seeds, clusterId } : { redisUrl, clusterId }
  const nodes = []
  const children = []
  try {
    for (let i = 0; i < s.nodes; i++) {
      const started = await startServer(s.kind, { extra, name: `${s.kind} node ${'AB'[i]}` })
      if (started.error) throw new Error(started.error)
      nodes.push(started)
      children.push(started.child)
    }
    const publisher = nodes[0]
    const subscriberNode = nodes.at(-1)
    const gens = await startGenerators(generators)
    children.unshift(...gens)
    const rpid = s.cluster ? undefined : redisPid()
    const pids = {
      server: [subscriberNode.child.pid],
      ...(s.nodes > 1 ? { publisher: [publisher.child.pid] } : {}),
      clients: gens.map((g) => g.pid),
      orchestrator: [process.pid],
      ...(s.redis && rpid ? { redis: [rpid] } : {}),
      ...(s.cluster ? { redis: redisCluster.nodes.map((n) => n.child.pid) } : {}),
    }
    const topic = 'bench:cluster'
    const connect = await connectClients(gens, { kind: clientKindOf(s.kind), url: urlOf(s.kind, subscriberNode.ready), total: cfg.subscribers, topic })
    if (connect.joined !== cfg.subscribers) throw new Error(`only ${connect.joined} of ${cfg.subscribers} joined: ${connect.errors.join('; ')}`)
    await waitConnections(subscriberNode.child, connect.opened)
    // Let the nodes find each other (presence heartbeats, Redis subscriptions) before measuring.
    await sleep(s.nodes > 1 ? 1500 : 200)
    let seq = 1
    for (const size of cfg.sizes) {
      const warm = await measuredPump({ server: publisher.child, gens, pids, topic, size, window: cfg.window, maxMessages: 10, seqStart: seq })
      seq = warm.seqNext
      const throughput = await measuredPump({
        server: publisher.child, gens, pids, topic, size, window: cfg.window, seqStart: seq,
        durationMs: cfg.throughputMs, maxMessages: cfg.throughputMessages ?? Infinity,
      })
      seq = throughput.seqNext
      throughput.publisherCpuMicrosPerDelivery = throughput.groups.publisher?.cpuMicrosPerDelivery ?? throughput.serverCpuMicrosPerDelivery
      const latency = await measuredPump({ server: publisher.child, gens, pids, topic, size, window: 1, gapMs: 5, maxMessages: cfg.latencyRounds, seqStart: seq })
      seq = latency.seqNext
      row.cells.push({ size, throughput, latency })
      if (throughput.missing || latency.missing || warm.missing) row.status = 'failed'
      log?.(
        `  ${s.setup} ${size} B: ${throughput.deliveriesPerSecond} deliveries/s, paced p50 ${latency.latency.p50Ms} ms p99 ${latency.latency.p99Ms} ms,` +
          ` subscriber node ${throughput.serverCpuMicrosPerDelivery} µs/delivery, missing ${throughput.missing + latency.missing + warm.missing}`,
      )
    }
    await Promise.all(gens.map((g) => g.request('close', {}, 60_000).catch(() => {})))
  } catch (err) {
    row.status = 'failed'
    row.error = String(err?.stack ?? err).split('\n').slice(0, 6).join('\n')
    log?.(`  ${s.setup}: ${row.error.split('\n')[0]}`)
  } finally {
    await stopAll(children)
  }
  // The report shows the first payload size; every size is in `cells`.
  return { ...row, throughput: row.cells[0]?.throughput, latency: row.cells[0]?.latency }
}

/**
 * Presence across nodes: watchers joined to one topic on node B; clients on node A join it one
 * at a time (time until every watcher on B lists the newcomer); then node A is killed with
 * SIGKILL (time until its users leave every watcher's list on B: the down period), and, in a
 * separate pair of nodes, shut down gracefully (its hub says goodbye).
 */
async function presenceConvergence(cfg, { redisUrl, log }) {
  const results = []
  const topic = 'track:room'
  for (const ending of ['kill', 'graceful']) {
    const clusterId = randomBytes(4).toString('hex')
    const extra = { redisUrl, clusterId }
    const children = []
    try {
      const a = await startServer('hornbeam-http', { extra, name: 'hornbeam node A' })
      if (a.error) throw new Error(a.error)
      children.push(a.child)
      const b = await startServer('hornbeam-http', { extra, name: 'hornbeam node B' })
      if (b.error) throw new Error(b.error)
      children.push(b.child)
      const [genA, genB] = await startGenerators(2)
      children.unshift(genA, genB)
      // Watchers on B (tracked under u0..), clients on A (u100000..), not joined yet.
      const w = await genB.request('connect', { kind: 'hornbeam', url: urlOf('hornbeam-http', b.ready), count: cfg.watchers, topic, firstIndex: 0 }, 120_000)
      if (w.joined !== cfg.watchers) throw new Error(`watchers: ${w.joined}/${cfg.watchers} joined`)
      const ca = await genA.request('connect', { kind: 'hornbeam', url: urlOf('hornbeam-http', a.ready), count: cfg.nodeAClients, topic: null, firstIndex: 100_000 }, 120_000)
      if (ca.opened !== cfg.nodeAClients) throw new Error(`node A clients: ${ca.opened}/${cfg.nodeAClients}`)
      await sleep(1500) // nodes discover each other
      if (ending === 'kill') {
        const samples = []
        for (let i = 0; i < cfg.joinRounds; i++) {
          const joined = await genA.request('joinClient', { nth: i, topic })
          const seen = await genB.request('presenceWait', { topic, key: joined.key, present: true, timeoutMs: 15_000 }, 20_000)
          samples.push(seen.ok ? (seen.at - joined.sentAt) / 1000 : null)
          await sleep(100)
        }
        const ok = samples.filter((x) => x !== null).sort((x, y) => x - y)
        results.push({
          event: 'a user joins on node A: seen by every watcher on node B',
          ok: ok.length === samples.length,
          ms: ok.length ? ok[Math.floor(ok.length / 2)] : null,
          samplesMs: samples.map((x) => (x === null ? null : +x.toFixed(2))),
          detail: `median of ${samples.length} joins, ${cfg.watchers} watchers; max ${ok.length ? ok.at(-1).toFixed(1) : '–'} ms (presence.batchMs 50 default)`,
        })
      }
      // Everyone else on A joins, then A goes away.
      for (let i = ending === 'kill' ? cfg.joinRounds : 0; i < cfg.nodeAClients; i++) await genA.request('joinClient', { nth: i, topic })
      const lastKey = `u${100_000 + cfg.nodeAClients - 1}`
      const all = await genB.request('presenceWait', { topic, key: lastKey, present: true, timeoutMs: 15_000 }, 20_000)
      if (!all.ok) throw new Error('node A users never reached node B')
      const t0 = await genB.request('now')
      if (ending === 'kill') await a.child.kill('SIGKILL')
      else await a.child.stop()
      const gone = await genB.request('presenceWait', { topic, key: lastKey, present: false, timeoutMs: 30_000 }, 35_000)
      results.push({
        event: ending === 'kill' ? 'node A killed (SIGKILL): its users leave every list on node B' : 'node A shut down gracefully (hub.close): its users leave on node B',
        ok: gone.ok,
        ms: gone.ok ? (gone.at - t0) / 1000 : null,
        detail:
          ending === 'kill'
            ? `${cfg.nodeAClients} users on A; bounded by presence.downPeriodMs (5000 default) + heartbeatMs (1000)`
            : `${cfg.nodeAClients} users on A; the closing hub untracks and flushes before it exits`,
      })
      log?.(`  presence ${ending}: ${results.at(-1).ms?.toFixed(1)} ms`)
    } catch (err) {
      results.push({ event: `presence (${ending})`, ok: false, ms: null, detail: String(err?.message ?? err).split('\n')[0] })
    } finally {
      await stopAll(children)
    }
  }
  return results
}

/** The CLUSTER_SETUPS on a 3-master Redis Cluster started for them and removed after; failed rows if it cannot start. */
async function onRedisCluster(cfg, { generators, log }) {
  let redisCluster
  try {
    redisCluster = await startRedisCluster({ masters: 3, replicas: 0 })
  } catch (err) {
    const error = `no Redis Cluster: ${String(err?.message ?? err).split('\n')[0]}`
    log?.(`  ${error}`)
    return CLUSTER_SETUPS.map((s) => ({ setup: s.setup, label: s.label, server: s.kind, nodes: s.nodes, subscribers: cfg.subscribers, status: 'failed', error, cells: [] }))
  }
  try {
    const rows = []
    for (const s of CLUSTER_SETUPS) rows.push(await fanoutSetup(s, cfg, { redisCluster, generators, log }))
    return rows
  } finally {
    await redisCluster.stop()
  }
}

export async function runCluster({ mode = 'full', generators = 3, log, redisUrl = process.env.REDIS_URL || undefined } = {}) {
  if (redisUrl !== undefined) return measureCluster({ mode, generators, log, redisUrl })
  const own = await startRedis()
  log?.(`cluster: a redis-server of our own at ${own.url}`)
  try {
    return await measureCluster({ mode, generators, log, redisUrl: own.url })
  } finally {
    await own.stop()
  }
}

async function measureCluster({ mode, generators, log, redisUrl }) {
  const why = await unavailable(redisUrl)
  if (why) {
    log?.(`cluster: skipped: ${why}`)
    return { status: 'skipped', reason: why, redisUrl }
  }
  const cfg = configs[mode] ?? configs.full
  const fanout = []
  for (const s of SETUPS) if (s.essential || mode === 'full') fanout.push(await fanoutSetup(s, cfg, { redisUrl, generators, log }))
  fanout.push(...(await onRedisCluster(cfg, { generators, log })))
  const presence = await presenceConvergence(cfg, { redisUrl, log })
  return {
    status: 'ok',
    redisUrl,
    config: cfg,
    method:
      `${cfg.subscribers.toLocaleString('en-US')} subscribers of one topic. Cross-node: the broadcast is made on node A, every subscriber is ` +
      'connected to node B, so each message crosses Redis once and B fans it out. One node: broadcast and subscribers on the same node. ' +
      'Same load generator and method as the fan-out scenario (one broadcast per server turn; latency paced, one at a time). ' +
      'Each row: fresh processes; CPU read from /proc. Note: on node B broadcasts arrive from Redis several per socket read, so ' +
      'they reach the fan-out in the same event-loop turn and Hornbeam\'s per-turn corking coalesces them (one write per ' +
      'subscriber for several messages); the one-node rows run one broadcast per turn. That, not a faster path, is why ' +
      'cross-node can cost the subscriber node less per delivery than one node.',
    fanout,
    presence,
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2)
  const mode = argv.includes('--tiny') ? 'tiny' : argv.includes('--quick') ? 'quick' : 'full'
  const i = argv.indexOf('--out')
  const out = i >= 0 ? argv[i + 1] : join(fileURLToPath(new URL('.', import.meta.url)), 'results')
  const t0 = Date.now()
  const log = (...a) => console.log(`[cluster ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a)
  const result = await runCluster({ mode, log })
  const { renderCluster } = await import('./lib/report.mjs')
  const { machineInfo } = await import('./lib/proc.mjs')
  mkdirSync(out, { recursive: true })
  const stamp = new Date().toISOString().slice(0, 16).replace(/:/g, '')
  writeFileSync(join(out, `${stamp}-cluster-${mode}.json`), JSON.stringify({ mode, machine: machineInfo(), cluster: result }, null, 2) + '\n')
  const md = renderCluster(result).join('\n') + '\n'
  writeFileSync(join(out, `${stamp}-cluster-${mode}.md`), md)
  console.log(md)
  if (result.status !== 'ok' || result.fanout.some((r) => r.status !== 'ok')) process.exitCode = result.status === 'skipped' ? 0 : 1
}
