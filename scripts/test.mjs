#!/usr/bin/env node
// `npm test`: provisions what the tests need, runs them, cleans up.
// - Redis: with REDIS_URL unset, a redis-server of our own on a free port for the run (never the
//   one a developer or the machine already runs on 6379), stopped afterwards.
// - Redis Cluster: with REDIS_CLUSTER unset, a local cluster of our own (three masters, three
//   replicas, `--cluster-enabled yes`, free ports; scripts/redis-cluster.mjs) for the cluster
//   tests, its seed nodes in REDIS_CLUSTER, removed afterwards. HB_NO_CLUSTER=1 starts none (to run
//   files that do not need one; the cluster tests then fail, saying why).
// - redis-server and Chromium missing: installed with apt-get when running as root on a
//   Debian-like system; otherwise one line naming what to install, and exit.
// Arguments go to tap (`npm test -- packages/redis/test/outage.test.ts`).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { startRedisCluster } from './redis-cluster.mjs'
import { startRedis } from './redis-server.mjs'

const CHROMIUM = '/usr/bin/chromium'

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}

function provision() {
  const missing = []
  if (!has('redis-server')) missing.push('redis-server')
  // The local Redis Cluster is created with redis-cli (Debian's redis-tools).
  else if (!has('redis-cli')) missing.push('redis-tools')
  if (!existsSync(CHROMIUM)) missing.push('chromium')
  if (missing.length === 0) return
  const root = process.getuid?.() === 0
  const debian = existsSync('/etc/debian_version') && has('apt-get')
  if (!root || !debian) {
    console.error(`npm test needs ${missing.join(' and ')}: install ${missing.length > 1 ? 'them' : 'it'} (on Debian: sudo apt-get install -y ${missing.join(' ')}) and run npm test again`)
    process.exit(1)
  }
  console.error(`npm test: installing ${missing.join(' and ')} with apt-get`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  for (const args of [['update'], ['install', '-y', ...missing]]) {
    const run = spawnSync('apt-get', args, { stdio: 'inherit', env })
    if (run.status !== 0) {
      console.error(`npm test: apt-get ${args[0]} failed (exit ${run.status}); install ${missing.join(' ')} and run npm test again`)
      process.exit(1)
    }
  }
}


provision()
let redis
if (!process.env.REDIS_URL) {
  redis = await startRedis()
  process.env.REDIS_URL = redis.url
  console.error(`npm test: redis-server for this run at ${redis.url}`)
}
let cluster
if (!process.env.REDIS_CLUSTER && !process.env.HB_NO_CLUSTER) {
  try {
    cluster = await startRedisCluster()
  } catch (err) {
    await redis?.stop()
    console.error(`npm test: could not start a local Redis Cluster: ${err.message}`)
    process.exit(1)
  }
  process.env.REDIS_CLUSTER = cluster.seeds
  console.error(`npm test: Redis Cluster (3 masters, 3 replicas) for this run at ${cluster.seeds}`)
}
// Whatever ends this process, the redis-servers it started do not outlive it.
process.on('exit', () => {
  redis?.child.kill('SIGKILL')
  for (const node of cluster?.nodes ?? []) node.child.kill('SIGKILL')
})
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130))

const tap = spawn(process.execPath, [join('node_modules', 'tap', 'dist', 'esm', 'run.mjs'), ...process.argv.slice(2)], { stdio: 'inherit' })
tap.on('exit', async (code, signal) => {
  await Promise.all([redis?.stop(), cluster?.stop()])
  process.exit(code ?? (signal ? 1 : 0))
})
