// Presence over the wire: presence_state / presence_diff, tabs, killed sockets, dead nodes.
import t from 'tap'
import { MemoryBus, memoryAdapter } from '@hornbeam/channels'
import { RawClient, startServer, sleep, eventually, type TestServer } from '../../../test/helpers/wire.js'

function defineRoom(srv: TestServer) {
  const room = srv.hub.channel('room:*')
  room.onJoin((topic, _tp, params, socket) => {
    srv.hub.presence(topic).track(socket, params.user, { user: params.user, tab: params.tab ?? 1 })
    return ['ok', {}, socket]
  })
  room.on('crash', () => {
    throw new Error('boom')
  })
  room.on('stop', (_p, s) => ['stop', 'normal', s])
}

/** The client-side view: presence_state then presence_diffs, applied by ref. */
function view(c: RawClient, topic: string) {
  const metas = new Map<string, { key: string; meta: any }>()
  for (const f of c.frames.filter((f) => f[2] === topic && (f[3] === 'presence_state' || f[3] === 'presence_diff'))) {
    if (f[3] === 'presence_state') {
      metas.clear()
      for (const [key, { metas: ms }] of Object.entries<any>(f[4])) for (const m of ms) metas.set(m.hb_ref, { key, meta: m })
    } else {
      for (const [key, { metas: ms }] of Object.entries<any>(f[4].joins)) for (const m of ms) metas.set(m.hb_ref, { key, meta: m })
      for (const { metas: ms } of Object.values<any>(f[4].leaves)) for (const m of ms) metas.delete(m.hb_ref)
    }
  }
  const out: Record<string, number[]> = {}
  for (const { key, meta } of metas.values()) (out[key] ??= []).push(meta.tab)
  for (const k of Object.keys(out)) out[k]!.sort()
  return out
}

t.test('two users see each other; a closed tab removes only its own meta', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  defineRoom(srv)
  const alice1 = await RawClient.connect(srv.url())
  const alice2 = await RawClient.connect(srv.url())
  const bob = await RawClient.connect(srv.url())
  t.teardown(() => Promise.all([alice1.close(), alice2.close(), bob.close()]))
  await alice1.join('room:x', { user: 'alice', tab: 1 })
  await bob.join('room:x', { user: 'bob' })
  await eventually(() => JSON.stringify(view(alice1, 'room:x')) === JSON.stringify({ alice: [1], bob: [1] }), 2000, 'alice sees bob')
  t.same(view(bob, 'room:x'), { alice: [1], bob: [1] }, 'bob sees alice from presence_state')
  await alice2.join('room:x', { user: 'alice', tab: 2 })
  await eventually(() => JSON.stringify(view(bob, 'room:x')) === JSON.stringify({ alice: [1, 2], bob: [1] }), 2000, 'two metas under one key')
  t.equal(srv.hub.presence('room:x').get('alice')?.metas.length, 2)
  await alice2.close()
  await eventually(() => JSON.stringify(view(bob, 'room:x')) === JSON.stringify({ alice: [1], bob: [1] }), 2000, 'only tab 2 left')
  t.same(srv.hub.presence('room:x').get('alice')?.metas.map((m) => m.tab), [1])
  const lastDiff = bob.events('room:x', 'presence_diff').at(-1)!
  t.same(Object.keys(lastDiff[4].leaves), ['alice'])
  t.equal(lastDiff[4].leaves.alice.metas.length, 1, 'the diff names one meta')
})

t.test('rejoin gets presence_state again; stop and crash untrack', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  defineRoom(srv)
  const a = await RawClient.connect(srv.url())
  t.teardown(() => a.close())
  const j = await a.join('room:r', { user: 'a' })
  await a.join('room:r', { user: 'a' })
  await eventually(() => a.events('room:r', 'presence_state').length === 2, 1000, 'second presence_state')
  t.same(Object.keys(a.events('room:r', 'presence_state')[1]![4]), ['a'])
  t.equal(srv.hub.presence('room:r').get('a')?.metas.length, 1, 'one meta after rejoin')
  const j2 = a.frames.filter((f) => f[2] === 'room:r' && f[3] === 'hb_reply').at(-1)![0]!
  a.send(j2, a.nextRef(), 'room:r', 'crash', {})
  await eventually(() => srv.hub.presence('room:r').get('a') === undefined, 1000, 'crash untracked')
  const j3 = await a.join('room:r', { user: 'a' })
  a.send(j3.joinRef, a.nextRef(), 'room:r', 'stop', {})
  await a.waitFor((f) => f[3] === 'hb_close' && f[0] === j3.joinRef)
  await eventually(() => srv.hub.presence('room:r').get('a') === undefined, 1000, 'stop untracked')
  t.ok(j)
})

t.test('a killed socket (no close frame) leaves after the idle timeout', async (t) => {
  const srv = await startServer({ idleTimeoutMs: 400 })
  t.teardown(srv.close)
  defineRoom(srv)
  const ghost = await RawClient.connect(srv.url())
  const watcher = await RawClient.connect(srv.url())
  t.teardown(() => watcher.close())
  const beat = setInterval(() => watcher.send(null, watcher.nextRef(), 'hornbeam', 'heartbeat', {}), 100)
  t.teardown(() => clearInterval(beat))
  await ghost.join('room:k', { user: 'ghost' })
  await watcher.join('room:k', { user: 'watcher' })
  // The client goes silent: it stops reading and never writes or closes again.
  ghost.ws.pause()
  const started = Date.now()
  await eventually(() => !('ghost' in view(watcher, 'room:k')), 3000, 'ghost left')
  const took = Date.now() - started
  t.ok(took >= 300, `left after the idle timeout (${took} ms), not before`)
  t.same(Object.keys(srv.hub.presence('room:k').list()), ['watcher'])
  ghost.ws.terminate()
})

t.test('a hub cut off the cluster without warning: its presences leave elsewhere, and return', async (t) => {
  const bus = new MemoryBus()
  const presence = { heartbeatMs: 100, downPeriodMs: 500 }
  const adapterA = memoryAdapter({ bus })
  const a = await startServer({ adapter: adapterA, presence })
  const b = await startServer({ adapter: memoryAdapter({ bus }), presence })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  defineRoom(a)
  defineRoom(b)
  const onA = await RawClient.connect(a.url())
  const onB = await RawClient.connect(b.url())
  t.teardown(() => Promise.all([onA.close(), onB.close()]))
  await onA.join('room:c', { user: 'on-a' })
  await onB.join('room:c', { user: 'on-b' })
  await eventually(() => 'on-a' in view(onB, 'room:c'), 2000, 'b sees a')
  await eventually(() => 'on-b' in view(onA, 'room:c'), 2000, 'a sees b')

  adapterA.sever()
  const cut = Date.now()
  await eventually(() => !('on-a' in view(onB, 'room:c')), 3000, 'a left on b')
  const took = Date.now() - cut
  t.ok(took >= 400 && took < 1500, `left within the down period (${took} ms)`)
  t.same(Object.keys(b.hub.presence('room:c').list()), ['on-b'])

  adapterA.heal()
  await eventually(() => 'on-a' in view(onB, 'room:c'), 2000, 'a back on b')
  await eventually(() => JSON.stringify(Object.keys(a.hub.presence('room:c').list()).sort()) === '["on-a","on-b"]', 2000, 'a sees b again')
  t.same(Object.keys(b.hub.presence('room:c').list()).sort(), ['on-a', 'on-b'])
})

t.test('a graceful close says goodbye: presences leave the cluster at once', async (t) => {
  const bus = new MemoryBus()
  const a = await startServer({ adapter: memoryAdapter({ bus }) })
  const b = await startServer({ adapter: memoryAdapter({ bus }) })
  t.teardown(b.close)
  defineRoom(a)
  defineRoom(b)
  const onA = await RawClient.connect(a.url())
  const onB = await RawClient.connect(b.url())
  t.teardown(() => onB.close())
  await onA.join('room:g', { user: 'on-a' })
  await onB.join('room:g', { user: 'on-b' })
  await eventually(() => 'on-a' in view(onB, 'room:g'), 2000, 'b sees a')
  await a.close()
  await eventually(() => !('on-a' in view(onB, 'room:g')), 500, 'gone well before the down period')
  t.pass()
})

t.test('presence_diff batching: a burst of joins costs fewer frames with a window', async (t) => {
  const counts: Record<string, number> = {}
  for (const batchMs of [0, 50]) {
    const srv = await startServer({ presence: { batchMs }, joinsPerSecond: 0 })
    defineRoom(srv)
    const watcher = await RawClient.connect(srv.url())
    await watcher.join('room:b', { user: 'watcher' })
    const users = await Promise.all([...Array(30).keys()].map(() => RawClient.connect(srv.url())))
    // Joins spread over ~150 ms, as real users arrive: not all in one event-loop turn.
    for (const [i, u] of users.entries()) {
      u.send('1', '1', 'room:b', 'hb_join', { user: `u${i}` })
      await sleep(5)
    }
    await eventually(() => Object.keys(view(watcher, 'room:b')).length === 31, 3000, 'watcher sees all')
    await sleep(100)
    counts[batchMs] = watcher.events('room:b', 'presence_diff').length
    await Promise.all([watcher, ...users].map((c) => c.close()))
    await srv.close()
  }
  t.ok(counts[50]! < counts[0]!, `diff frames: ${counts[0]} without a window, ${counts[50]} with 50 ms`)
  t.ok(counts[50]! <= 8, 'a 50 ms window gathers ~150 ms of joins into a few diffs')
})

t.test('batching leaves no ghost: join, newcomer, leave, all within one window', async (t) => {
  const srv = await startServer({ presence: { batchMs: 200 } })
  t.teardown(srv.close)
  defineRoom(srv)
  const watcher = await RawClient.connect(srv.url())
  const x = await RawClient.connect(srv.url())
  const newcomer = await RawClient.connect(srv.url())
  t.teardown(() => Promise.all([watcher.close(), newcomer.close()]))
  await watcher.join('room:w', { user: 'watcher' })
  await sleep(250)
  await x.join('room:w', { user: 'x' })
  await newcomer.join('room:w', { user: 'newcomer' })
  t.ok('x' in view(newcomer, 'room:w'), 'the newcomer saw x in presence_state')
  await x.close()
  await sleep(400)
  t.same(Object.keys(view(newcomer, 'room:w')).sort(), ['newcomer', 'watcher'], 'x left for the newcomer')
  t.same(Object.keys(view(watcher, 'room:w')).sort(), ['newcomer', 'watcher'], 'and for the watcher')
})
