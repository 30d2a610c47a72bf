// A redis-server of our own, on a free port, with nothing persisted: what npm test and the
// benchmarks use when REDIS_URL is not set (never the machine's own Redis).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** A redis-server child on a free port, answering PING; stopped by the returned function. */
export async function startRedis() {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'hornbeam-test-redis-'))
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk
      if (/Ready to accept connections/.test(out)) resolve()
    })
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${out}`)))
  })
  child.stdout.resume()
  /** SIGTERM, and the promise of its exit (SIGKILL if it takes more than 5 s). */
  const stop = () => {
    const alive = child.exitCode === null && child.signalCode === null
    const exited = alive ? new Promise((resolve) => child.once('exit', resolve)) : Promise.resolve()
    if (alive) {
      child.kill('SIGTERM')
      setTimeout(() => child.kill('SIGKILL'), 5000).unref()
    }
    return exited.then(() => rmSync(dir, { recursive: true, force: true }))
  }
  return { url: `redis://127.0.0.1:${port}`, stop, child }
}

