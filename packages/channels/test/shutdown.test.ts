// Graceful shutdown order: stop accepting, close sockets in batches with 1012, run leave hooks,
// untrack presence and flush the last presence delta to the cluster, then resolve.
import t from 'tap'
import { MemoryBus, memoryAdapter } from '@hornbeam/channels'
import { RawClient, startServer, sleep, eventually } from '../../../test/helpers/wire.js'

t.test('close(): batches, 1012, leave hooks, presence gone cluster-wide, then resolves', async (t) => {
  const bus = new MemoryBus()
  const a = await startServer({ adapter: memoryAdapter({ bus }) })
  const b = await startServer({ adapter: memoryAdapter({ bus }) })
  t.teardown(b.close)
  let active = 0
  let maxActive = 0
  const events: string[] = []
  for (const s of [a, b]) {
    s.hub.channel('room:*')
      .onJoin((topic, _tp, p, socket) => (s.hub.presence(topic).track(socket, p.user, {}), ['ok']))
      .onLeave(async (_topic, socket, reason) => {
        active++
        maxActive = Math.max(maxActive, active)
        await sleep(30)
        active--
        events.push(`leave:${reason}`)
      })
  }
  const clients = await Promise.all([...Array(5).keys()].map(() => RawClient.connect(a.url())))
  await Promise.all(clients.map((c, i) => c.join('room:1', { user: `a${i}` })))
  const watcher = await RawClient.connect(b.url())
  t.teardown(() => watcher.close())
  await watcher.join('room:1', { user: 'watcher' })
  await eventually(() => Object.keys(b.hub.presence('room:1').list()).length === 6, 2000, 'b sees all')

  const closing = a.hub.close({ batchSize: 2 })
  await t.rejects(RawClient.connect(a.url()), /HTTP 503/, 'no new sockets while closing')
  await closing
  events.push('resolved')
  t.same(events, ['leave:shutdown', 'leave:shutdown', 'leave:shutdown', 'leave:shutdown', 'leave:shutdown', 'resolved'], 'every leave hook ran before close resolved')
  t.equal(maxActive, 2, 'sockets closed in batches of 2')
  t.same(Object.keys(b.hub.presence('room:1').list()), ['watcher'], 'the other node dropped our presences by the time close resolved')
  for (const c of clients) t.equal((await c.waitForClose()).code, 1012)
  await a.close()
  a.server.closeAllConnections()
  a.server.close()
})
