// Fan-out serializes once per wire format, not once per subscriber.
import t from 'tap'
import { RawClient, startServer, eventually } from '../../../test/helpers/wire.js'

const SUBSCRIBERS = 1000

t.test(`broadcast to ${SUBSCRIBERS} subscribers stringifies once per encoding`, async (t) => {
  const srv = await startServer({ joinsPerSecond: 0, messagesPerSecond: 0 })
  t.teardown(srv.close)
  srv.hub.channel('fan:out')
  const clients: RawClient[] = []
  t.teardown(() => Promise.all(clients.map((c) => c.close())))
  // Mostly hornbeam, plus phoenix clients on both encodings.
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const [dialect, query, objects] =
      i % 100 === 1 ? (['phoenix', '?vsn=2.0.0', false] as const) : i % 100 === 2 ? (['phoenix', '?vsn=1.0.0', true] as const) : (['hornbeam', '', false] as const)
    clients.push(await RawClient.connect(srv.url() + query, dialect, objects))
  }
  await Promise.all(clients.map((c) => c.join('fan:out')))
  t.equal(srv.hub.stats().topics['fan:out'], SUBSCRIBERS)

  const realStringify = JSON.stringify
  let calls = 0
  JSON.stringify = function (...args: Parameters<typeof JSON.stringify>) {
    calls++
    return realStringify.apply(JSON, args)
  } as typeof JSON.stringify
  try {
    srv.hub.broadcast('fan:out', 'mixed', { body: 'to everyone' })
  } finally {
    JSON.stringify = realStringify
  }
  t.equal(calls, 2, 'one for arrays (hornbeam and phoenix v2 alike), one for phoenix v1 objects')

  await eventually(() => clients.every((c) => c.events('fan:out', 'mixed').length === 1), 10_000, 'every subscriber got it')
  const v1 = clients.filter((c) => c.objects)
  t.ok(v1.length > 0 && v1.every((c) => c.events('fan:out', 'mixed')[0]![4].body === 'to everyone'), 'object encoding decoded right')

  // All subscribers on one encoding: exactly one stringify.
  for (const c of clients.filter((c) => c.dialect === 'phoenix')) await c.close()
  await eventually(() => srv.hub.stats().topics['fan:out'] === SUBSCRIBERS - 20, 3000, 'phoenix clients gone')
  calls = 0
  JSON.stringify = function (...args: Parameters<typeof JSON.stringify>) {
    calls++
    return realStringify.apply(JSON, args)
  } as typeof JSON.stringify
  try {
    srv.hub.broadcast('fan:out', 'single', { n: 1 })
  } finally {
    JSON.stringify = realStringify
  }
  t.equal(calls, 1, 'once for all hornbeam subscribers')
  const remaining = clients.filter((c) => c.dialect === 'hornbeam')
  await eventually(() => remaining.every((c) => c.events('fan:out', 'single').length === 1), 10_000, 'every remaining subscriber got it')
  t.pass(`${remaining.length} deliveries from one serialization`)
})

t.test('broadcastFrom skips only the sender; many broadcasts in one turn all arrive in order', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  srv.hub.channel('burst:*').on('shout', (p, socket) => {
    for (let i = 0; i < 50; i++) socket.broadcastFrom('n', { i })
    return ['reply', {}, socket]
  })
  const clients = await Promise.all([0, 1, 2].map(() => RawClient.connect(srv.url())))
  t.teardown(() => Promise.all(clients.map((c) => c.close())))
  const joins = await Promise.all(clients.map((c) => c.join('burst:1')))
  await clients[0]!.request(joins[0]!.joinRef, 'burst:1', 'shout')
  for (const c of clients.slice(1)) {
    await eventually(() => c.events('burst:1', 'n').length === 50, 3000)
    t.same(c.events('burst:1', 'n').map((f) => f[4].i), [...Array(50).keys()], 'in order')
  }
  t.equal(clients[0]!.events('burst:1', 'n').length, 0, 'sender excluded')
})
