// runWorkers without a cluster: how many workers an option asks for, and that one worker is this
// process. The workers themselves (forked, on one port, over Redis) are in test/cluster-workers.test.ts.
import cluster from 'node:cluster'
import { availableParallelism } from 'node:os'
import t from 'tap'
import { runWorkers, workerCount } from '@hornbeam/channels'

t.test('workerCount: a positive integer as given, auto as availableParallelism, 1 when unset', async (t) => {
  t.equal(workerCount(undefined), 1)
  t.equal(workerCount(3), 3)
  t.equal(workerCount('auto'), availableParallelism())
  for (const bad of [0, -1, 1.5, Number.NaN]) t.throws(() => workerCount(bad), RangeError, String(bad))
})

t.test('one worker: start runs in this process, no fork, and its result is awaited', async (t) => {
  let forked = 0
  const count = () => forked++
  cluster.on('fork', count)
  t.teardown(() => void cluster.off('fork', count))
  const ran: number[] = []
  await runWorkers(async () => {
    await Promise.resolve()
    ran.push(process.pid)
  })
  await runWorkers(() => ran.push(process.pid), { workers: 1 })
  t.same(ran, [process.pid, process.pid])
  t.equal(forked, 0)
  await t.rejects(runWorkers(() => Promise.reject(new Error('could not listen'))), /could not listen/, "start's error reaches the caller")
})
