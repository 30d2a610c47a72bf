/**
 * One worker per core on one machine with `node:cluster`: the workers share the port (the
 * primary accepts and hands connections round robin on Linux), and a cluster adapter (Redis)
 * makes their hubs one cluster, as it does across machines.
 */
import cluster, { type Worker } from 'node:cluster'
import { availableParallelism } from 'node:os'

export interface WorkersOptions {
  /**
   * How many workers: a number, or `'auto'` for `os.availableParallelism()`. 1 (the default)
   * runs `start` in this process, with no cluster.
   */
  workers?: number | 'auto'
  /**
   * After SIGTERM or SIGINT, how long the primary waits for its workers to close before it
   * kills those left with SIGKILL. Default 10 000 ms.
   */
  shutdownTimeoutMs?: number
  /**
   * Variables added to the workers' environment (the primary's is inherited), e.g. one
   * `LONGPOLL_SECRET` for all of them when none was given.
   */
  env?: Record<string, string>
  /** The primary's lines (workers started, exited, restarted). Default: the console. */
  log?: (line: string) => void
}

/** The number of workers `workers` asks for: `'auto'` is `os.availableParallelism()`. */
export function workerCount(workers: number | 'auto' | undefined): number {
  if (workers === undefined) return 1
  const n = workers === 'auto' ? availableParallelism() : workers
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`workers must be a positive integer or 'auto', not ${String(workers)}`)
  return n
}

/**
 * Runs `start` (which builds the app and listens) in `workers` processes forked with
 * `node:cluster`, or in this process when `workers` is 1. In the primary:
 *
 * - a worker that exits after it listened is replaced by a new one; one that exits before it
 *   ever listened (a start-up error: Redis unreachable, port in use) is not, and when no worker
 *   is left the primary exits with code 1;
 * - SIGTERM or SIGINT is passed to every worker as SIGTERM, which each handles as a lone
 *   process would (the examples close their hub: clients get 1012 and reconnect); the primary
 *   exits when they have, killing any still running after `shutdownTimeoutMs`.
 *
 * Resolves in the primary once the workers are forked; in a worker (or with one worker) when
 * `start` resolves.
 */
export async function runWorkers(start: () => unknown, options: WorkersOptions = {}): Promise<void> {
  const count = workerCount(options.workers)
  if (cluster.isWorker) {
    // The IPC channel to the primary keeps a worker alive after its app has closed: on the
    // signal, disconnect too (which closes the worker's servers), so it exits as a lone process would.
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => cluster.worker?.isConnected() && cluster.worker.disconnect())
  }
  if (count === 1 || cluster.isWorker) {
    await start()
    return
  }
  const log = options.log ?? ((line: string) => console.log(line))
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000
  const listened = new WeakSet<Worker>()
  let stopping = false

  const fork = () => {
    const worker = cluster.fork(options.env)
    log(`worker ${worker.id} (pid ${worker.process.pid}) started`)
  }
  cluster.on('listening', (worker) => listened.add(worker))
  cluster.on('exit', (worker, code, signal) => {
    const how = signal ? `signal ${signal}` : `code ${code}`
    if (stopping) return log(`worker ${worker.id} exited (${how})`)
    if (listened.has(worker)) {
      log(`worker ${worker.id} exited (${how}): starting another`)
      return fork()
    }
    log(`worker ${worker.id} exited (${how}) before it listened: not restarted`)
    if (Object.keys(cluster.workers ?? {}).length === 0) {
      log('no worker left: exiting')
      process.exit(1)
    }
  })

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)
    log(`${signal}: stopping ${workers.length} workers`)
    for (const worker of workers) worker.process.kill('SIGTERM')
    setTimeout(() => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL')
    }, shutdownTimeoutMs).unref()
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop(signal))

  for (let i = 0; i < count; i++) fork()
}
