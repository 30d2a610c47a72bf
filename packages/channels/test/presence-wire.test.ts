// Presence over the wire: presence_state / presence_diff, tabs, killed sockets, dead nodes.
import t from 'tap'
import { MemoryBus, memoryAdapter } from '@hornbeam/channels'
import { RawClient, startServer, eventually, quietLogger, broadcastMarker } from '../../../test/helpers/wire.js'
import { WINDOW_MS, defineRoom, holdWindows, view } from './fixtures/presence.js'

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
  const srv = await startServer({ idleTimeoutMs: 600 })
  t.teardown(srv.close)
  defineRoom(srv)
  // The watcher joins first and speaks every 150 ms, a quarter of the timeout: the contrast.
  const watcher = await RawClient.connect(srv.url())
  const ghost = await RawClient.connect(srv.url())
  t.teardown(() => watcher.close())
  const beat = setInterval(() => watcher.send(null, watcher.nextRef(), 'hornbeam', 'heartbeat', {}), 150)
  t.teardown(() => clearInterval(beat))
  await watcher.join('room:k', { user: 'watcher' })
  await ghost.join('room:k', { user: 'ghost' })
  await eventually(() => 'ghost' in view(watcher, 'room:k'), 2000, 'the watcher sees the ghost')
  // The client goes silent: it stops reading and never writes or closes again.
  ghost.ws.pause()
  const started = Date.now()
  await eventually(() => !('ghost' in view(watcher, 'room:k')), 3000, 'ghost left')
  t.comment(`ghost left ${Date.now() - started} ms after going silent (idle timeout 600 ms)`)
  t.same(Object.keys(srv.hub.presence('room:k').list()), ['watcher'])
  // Why it left: the server closed it as idle (the close frame waited in the paused socket).
  ghost.ws.resume()
  t.same(await ghost.waitForClose(), { code: 1001, reason: 'idle timeout' }, 'left because of the idle timeout')
  // And not before its time: the watcher, joined earlier but never silent for long, is still
  // open (a close for it would have been written before the answer to this probe).
  await watcher.probe()
  t.notOk(watcher.closeEvent, 'a socket that speaks within the timeout is not idle')
})

t.test('a hub cut off the cluster without warning: its presences leave elsewhere, and return', async (t) => {
  const bus = new MemoryBus()
  const presence = { heartbeatMs: 100, downPeriodMs: 500 }
  const adapterA = memoryAdapter({ bus })
  const a = await startServer({ adapter: adapterA, presence })
  // b's "presence peer is down" warnings, with the silence b measured.
  const downs: Array<{ silentMs: number }> = []
  const logB = { ...quietLogger(), warn: (o: any, m?: string) => void (/peer is down/.test(m ?? '') && downs.push(o)) }
  const b = await startServer({ adapter: memoryAdapter({ bus }), presence, logger: logB })
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

  t.same(downs, [], 'a is up on b while they hear each other')
  adapterA.sever()
  const cut = Date.now()
  await eventually(() => !('on-a' in view(onB, 'room:c')), 3000, 'a left on b')
  t.comment(`a's presences left b ${Date.now() - cut} ms after the cut (down period 500 ms)`)
  t.same(Object.keys(b.hub.presence('room:c').list()), ['on-b'])
  // Why they left: b marked a down (no goodbye, a peer it still knows)...
  t.match(b.hub.stats().presence, { peers: 1, downPeers: 1 }, 'b holds a as a down peer')
  // ...and not before the down period: the silence b logged is its own clock's reading.
  t.equal(downs.length, 1, 'marked down once')
  t.ok(downs[0]!.silentMs > 500, `after a silence longer than the down period (${downs[0]?.silentMs} ms)`)

  adapterA.heal()
  await eventually(() => 'on-a' in view(onB, 'room:c'), 2000, 'a back on b')
  t.equal(b.hub.stats().presence.downPeers, 0, 'a is up again on b')
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
  for (const batchMs of [0, WINDOW_MS]) {
    // With a window, it stays open until released: however long the joins take, they fall in it.
    const windows = batchMs > 0 ? holdWindows(t, batchMs) : undefined
    const srv = await startServer({ presence: { batchMs }, joinsPerSecond: 0 })
    defineRoom(srv)
    const watcher = await RawClient.connect(srv.url())
    await watcher.join('room:b', { user: 'watcher' })
    const users = await Promise.all([...Array(30).keys()].map(() => RawClient.connect(srv.url())))
    // One join after another, as real users arrive: each in its own event-loop turns.
    for (const [i, u] of users.entries()) await u.join('room:b', { user: `u${i}` })
    if (windows) {
      await watcher.probe()
      t.equal(watcher.events('room:b', 'presence_diff').length, 0, 'nothing sent while the window is open')
      windows.release()
    }
    await eventually(() => Object.keys(view(watcher, 'room:b')).length === 31, 3000, 'watcher sees all')
    // Diffs already sent arrive before this marker: the count is final.
    await broadcastMarker(srv.hub, 'room:b', [watcher])
    counts[batchMs] = watcher.events('room:b', 'presence_diff').length
    await Promise.all([watcher, ...users].map((c) => c.close()))
    await srv.close()
  }
  t.ok(counts[WINDOW_MS]! < counts[0]!, `diff frames: ${counts[0]} without a window, ${counts[WINDOW_MS]} with one`)
  t.equal(counts[WINDOW_MS], 1, 'one window gathers joins made over many event-loop turns into one diff')
})

t.test('batching leaves no ghost: join, newcomer, leave, all within one window', async (t) => {
  const windows = holdWindows(t, WINDOW_MS)
  const srv = await startServer({ presence: { batchMs: WINDOW_MS } })
  t.teardown(srv.close)
  defineRoom(srv)
  const watcher = await RawClient.connect(srv.url())
  const x = await RawClient.connect(srv.url())
  const newcomer = await RawClient.connect(srv.url())
  t.teardown(() => Promise.all([watcher.close(), newcomer.close()]))
  await watcher.join('room:w', { user: 'watcher' })
  windows.release() // the watcher's own window: the next one starts with x
  await x.join('room:w', { user: 'x' })
  await newcomer.join('room:w', { user: 'newcomer' })
  t.ok('x' in view(newcomer, 'room:w'), 'the newcomer saw x in presence_state')
  await x.close()
  await eventually(() => srv.hub.presence('room:w').get('x') === undefined, 2000, 'x untracked')
  t.equal(windows.open(), 1, 'the join, the newcomer and the leave fell in one window')
  windows.release()
  // The window's diff went out before this marker.
  await broadcastMarker(srv.hub, 'room:w', [watcher, newcomer])
  t.same(Object.keys(view(newcomer, 'room:w')).sort(), ['newcomer', 'watcher'], 'x left for the newcomer')
  t.same(Object.keys(view(watcher, 'room:w')).sort(), ['newcomer', 'watcher'], 'and for the watcher')
})
