// A local Redis Cluster for tests: `masters` masters with `replicas` replicas each, every one a
// `redis-server --cluster-enabled yes` child on free ports (its client port and its cluster bus
// port both asked of the OS), no persistence, its own cluster-config-file in a temp dir, joined
// with `redis-cli --cluster create`. Used by scripts/test.mjs (one cluster for the run) and by
// tests that kill a master (a cluster of their own).
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './redis-server.mjs'

/** One cluster-enabled redis-server child, resolved once it accepts connections. */
async function startNode(dir, nodeTimeoutMs) {
  const port = await freePort()
  const busPort = await freePort()
  const args = [
    '--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1',
    '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout', String(nodeTimeoutMs), '--save', '', '--appendonly', 'no', '--dir', dir,
  ]
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server :${port} not ready in 10 s:\n${out}`)), 10_000)
    child.stdout.on('data', (chunk) => {
      out += chunk
      if (/Ready to accept connections/.test(out)) (clearTimeout(timer), resolve())
    })
    child.stderr.on('data', (chunk) => (out += chunk))
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`redis-server :${port} exited (${code}):\n${out}`))))
  })
  child.removeAllListeners('exit')
  child.stdout.resume()
  return { port, child }
}

function cli(port, ...args) {
  const run = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 30_000 })
  if (run.status !== 0) throw new Error(`redis-cli -p ${port} ${args.join(' ')}: exit ${run.status}\n${run.stdout}${run.stderr}`)
  return run.stdout
}

/**
 * Resolves once every node reports cluster_state:ok and knows every other node, and every replica
 * has synced with its master (a replica that never did would refuse to fail over: its data would
 * count as too old).
 */
async function settled(ports, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = ports.every((port) => {
      try {
        const info = cli(port, 'cluster', 'info')
        const replication = cli(port, 'info', 'replication')
        const synced = !/role:slave/.test(replication) || /master_link_status:up/.test(replication)
        return /cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${ports.length}\\b`).test(info) && synced
      } catch {
        return false
      }
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`redis cluster not ok within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/**
 * Starts the cluster. Returns `{ seeds, nodes, masters(), stop() }`: `seeds` is the
 * `host:port,...` list (as REDIS_CLUSTER takes it), `nodes` each `{ port, child, kill(signal) }`.
 */
export async function startRedisCluster({ masters = 3, replicas = 1, nodeTimeoutMs = 2000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hornbeam-test-cluster-'))
  const nodes = []
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.kill('SIGTERM')))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const started = await Promise.allSettled(Array.from({ length: masters * (1 + replicas) }, () => startNode(dir, nodeTimeoutMs)))
    for (const s of started) if (s.status === 'fulfilled') nodes.push(withKill(s.value))
    const failed = started.find((s) => s.status === 'rejected')
    if (failed) throw failed.reason
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`)
    cli(nodes[0].port, '--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes')
    await settled(nodes.map((n) => n.port), 30_000)
  } catch (err) {
    await stop()
    throw err
  }
  return {
    seeds: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    nodes,
    dir,
    stop,
    /** The ports of the current masters, as node 0 (or the first live node) sees them. */
    masters() {
      for (const node of nodes) {
        if (!node.alive) continue
        const rows = cli(node.port, 'cluster', 'nodes').trim().split('\n').map((l) => l.split(' '))
        return rows
          .filter((f) => f[2].split(',').includes('master') && !f[2].includes('fail'))
          .map((f) => Number(f[1].split('@')[0].split(':').pop()))
      }
      return []
    },
  }
}

function withKill({ port, child }) {
  const node = {
    port,
    child,
    get alive() {
      return child.exitCode === null && child.signalCode === null
    },
    /** Sends `signal` (SIGKILL if SIGTERM takes more than 5 s) and resolves on exit. */
    kill(signal = 'SIGTERM') {
      if (!node.alive) return Promise.resolve()
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      timer.unref()
      return exited.then(() => clearTimeout(timer))
    },
  }
  return node
}
