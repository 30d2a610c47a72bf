/** Starts an example the way its README says (a child process), on a free port. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('../../', import.meta.url))

export interface RunningExample {
  url: string
  child: ChildProcess
  output: () => string
  stop: () => Promise<void>
}

/**
 * `env` is the example's whole configuration: the adapter is chosen here (in memory unless the
 * test passes REDIS_URL or REDIS_CLUSTER), never inherited from the environment the tests run in.
 */
export async function startExample(
  name: string,
  env: Record<string, string> = {},
  { script = 'dist/server.js', nodeArgs = [] as string[] } = {},
): Promise<RunningExample> {
  const { REDIS_URL: _inherited, REDIS_CLUSTER: _cluster, ALLOWED_HOSTS: _hosts, ...inherited } = process.env
  const child = spawn(process.execPath, [...nodeArgs, `examples/${name}/${script}`], {
    cwd: root,
    env: { ...inherited, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${out}`)), 15_000)
    const check = () => {
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    child.stdout!.on('data', check)
    child.on('exit', (code) => reject(new Error(`${name} exited with ${code}: ${out}`)))
  })
  return {
    url,
    child,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
        setTimeout(() => child.kill('SIGKILL'), 3000).unref()
      }),
  }
}
