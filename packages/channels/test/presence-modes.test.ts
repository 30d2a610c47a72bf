// Presence modes for very large rooms (`hub.channel(pattern, { presence })`): 'counts' sends
// members presence_count instead of presence_state/presence_diff; 'self' sends them only the
// presences under their own socket's keys. Windows are held (holdWindows) so each step is known.
import t from 'tap'
import { MemoryBus, memoryAdapter, type PresenceMode } from '@hornbeam/channels'
import { registerMetrics } from '@hornbeam/channels/prometheus'
import { RawClient, startServer, broadcastMarker, eventually, type Frame, type TestServer } from '../../../test/helpers/wire.js'
import { WINDOW_MS, holdWindows, view } from './fixtures/presence.js'

/**
 * `pattern` with presence `mode`: a joiner with `user` is tracked under it (`tab` in its meta),
 * `many: n` tracks n keys for one socket; pushes `track` / `untrack` `{ key }` track and untrack.
 */
function define(srv: TestServer, pattern: string, mode: PresenceMode) {
  srv.hub
    .channel(pattern, { presence: mode })
    .onJoin((topic, _tp, params, socket) => {
      if (params.user) srv.hub.presence(topic).track(socket, params.user, { user: params.user, tab: params.tab ?? 1 })
      for (let i = 0; i < (params.many ?? 0); i++) srv.hub.presence(topic).track(socket, `many:${i}`, { tab: 1 })
      return ['ok', {}, socket]
    })
    .on('track', (p, socket) => (srv.hub.presence(socket.topic).track(socket, p.key, { user: p.key, tab: p.tab ?? 1 }), ['reply', {}, socket]))
    .on('untrack', (p, socket) => (srv.hub.presence(socket.topic).untrack(socket, p.key), ['reply', {}, socket]))
}

/** Joins; returns the join_ref and the frame right after the join reply. */
async function joinAndNext(c: RawClient, topic: string, payload: object): Promise<{ joinRef: string; next: Frame }> {
  const { joinRef } = await c.join(topic, payload)
  const reply = c.frames.find((f) => f[1] === joinRef && f[3] === c.names.reply)!
  return { joinRef, next: await c.frameAfter(reply) }
}

const counts = (c: RawClient, topic: string) => c.events(topic, 'presence_count').map((f) => f[4])
const presenceFrames = (c: RawClient, topic: string) => c.frames.filter((f) => f[2] === topic && (f[3] === 'presence_state' || f[3] === 'presence_diff'))

t.test("presence: 'counts': presence_count after the join reply, then once per window when it changed; never presence_state nor presence_diff", async (t) => {
  const windows = holdWindows(t, WINDOW_MS)
  const srv = await startServer({ presence: { batchMs: WINDOW_MS } })
  t.teardown(srv.close)
  define(srv, 'stadium:*', 'counts')
  const alice1 = await RawClient.connect(srv.url())
  const bob = await RawClient.connect(srv.url() + '?vsn=2.0.0', 'phoenix')
  const alice2 = await RawClient.connect(srv.url())
  t.teardown(() => Promise.all([alice1, bob, alice2].map((c) => c.close())))
  const all = [alice1, bob, alice2]

  const a1 = await joinAndNext(alice1, 'stadium:s', { user: 'alice', tab: 1 })
  t.same(a1.next, [a1.joinRef, null, 'stadium:s', 'presence_count', { keys: 1, metas: 1 }], 'the count, right after the join reply, with its join_ref')
  const b = await joinAndNext(bob, 'stadium:s', { user: 'bob' })
  t.same(b.next, [b.joinRef, null, 'stadium:s', 'presence_count', { keys: 2, metas: 2 }], 'the phoenix dialect too; in a small room the joiner counts itself')
  const a2 = await joinAndNext(alice2, 'stadium:s', { user: 'alice', tab: 2 })
  t.same(a2.next[4], { keys: 2, metas: 3 }, 'two tabs under one key: one key, two metas')
  t.same(counts(alice1, 'stadium:s'), [{ keys: 1, metas: 1 }], 'nothing more while the window is open')

  windows.release()
  await broadcastMarker(srv.hub, 'stadium:s', all)
  for (const c of all) t.same(counts(c, 'stadium:s').at(-1), { keys: 2, metas: 3 }, 'the window closed: every member holds the count')
  t.same(counts(alice2, 'stadium:s'), [{ keys: 2, metas: 3 }, { keys: 2, metas: 3 }], 'one frame per window, the same for all')

  // A window whose changes leave the count every member holds as it was sends nothing.
  await alice1.push(a1.joinRef, 'stadium:s', 'track', { key: 'carol' })
  await alice1.push(a1.joinRef, 'stadium:s', 'untrack', { key: 'carol' })
  t.equal(windows.open(), 1)
  windows.release()
  await broadcastMarker(srv.hub, 'stadium:s', all)
  t.equal(counts(alice2, 'stadium:s').length, 2, 'no presence_count: nobody holds another count')

  await bob.close()
  await eventually(() => windows.open() === 1, 2000, "bob's leave opens a window")
  windows.release()
  await broadcastMarker(srv.hub, 'stadium:s', [alice1, alice2])
  for (const c of [alice1, alice2]) t.same(counts(c, 'stadium:s').at(-1), { keys: 1, metas: 2 }, 'a leave: the new count')
  for (const c of all) t.same(presenceFrames(c, 'stadium:s'), [], 'no presence_state nor presence_diff')
  t.same(Object.keys(srv.hub.presence('stadium:s').list()), ['alice'], 'the server tracks everything as before')
  t.equal(srv.hub.presence('stadium:s').get('alice')?.metas.length, 2)
})

t.test("presence: 'counts' in a room of 100 presences or more: one rendering per window, shared by every joiner and member", async (t) => {
  const windows = holdWindows(t, WINDOW_MS)
  const srv = await startServer({ presence: { batchMs: WINDOW_MS } })
  t.teardown(srv.close)
  define(srv, 'stadium:*', 'counts')
  const crowd = await RawClient.connect(srv.url())
  const u0 = await RawClient.connect(srv.url())
  const [u1, u2] = await Promise.all([0, 1].map(() => RawClient.connect(srv.url() + '?vsn=2.0.0', 'phoenix')))
  const all = [crowd, u0, u1!, u2!]
  t.teardown(() => Promise.all(all.map((c) => c.close())))
  const renders = () => srv.hub.stats().presence.countRenders
  const start = renders()
  t.same((await joinAndNext(crowd, 'stadium:big', { many: 120 })).next[4], { keys: 120, metas: 120 })
  t.equal(renders() - start, 1)
  for (const [i, c] of [u0, u1!, u2!].entries()) {
    const { next } = await joinAndNext(c, 'stadium:big', { user: `u${i}` })
    t.same(next[4], { keys: 120, metas: 120 }, `u${i} gets the count from before the window`)
  }
  t.equal(renders() - start, 1, 'three joins in one window (both dialects): no rendering')
  t.equal(windows.open(), 1)
  windows.release()
  await broadcastMarker(srv.hub, 'stadium:big', all)
  t.equal(renders() - start, 2, 'the window: one rendering for every member')
  for (const c of all) t.same(counts(c, 'stadium:big').at(-1), { keys: 123, metas: 123 })
  t.equal(srv.hub.stats().presence.stateRenders, 0, 'no presence_state was ever rendered')
  for (const c of all) t.same(presenceFrames(c, 'stadium:big'), [])
  t.match(await registerMetrics(srv.hub).metrics(), /^hornbeam_presence_count_renders_total 2$/m, 'and for Prometheus')
})

t.test("presence: 'self': a member sees only the presences under its own keys (its other tabs), in both dialects", async (t) => {
  const windows = holdWindows(t, WINDOW_MS)
  const srv = await startServer({ presence: { batchMs: WINDOW_MS } })
  t.teardown(srv.close)
  define(srv, 'desk:*', 'self')
  const alice1 = await RawClient.connect(srv.url())
  const bob = await RawClient.connect(srv.url() + '?vsn=2.0.0', 'phoenix')
  const alice2 = await RawClient.connect(srv.url() + '?vsn=2.0.0', 'phoenix')
  t.teardown(() => Promise.all([alice1, bob, alice2].map((c) => c.close())))
  const all = [alice1, bob, alice2]

  t.same(Object.keys((await joinAndNext(alice1, 'desk:d', { user: 'alice', tab: 1 })).next[4]), ['alice'])
  const b = await joinAndNext(bob, 'desk:d', { user: 'bob' })
  t.equal(b.next[3], 'presence_state')
  t.same(Object.keys(b.next[4]), ['bob'], 'bob\'s presence_state holds only bob, not alice')
  t.same(view(alice2, 'desk:d'), {})
  await joinAndNext(alice2, 'desk:d', { user: 'alice', tab: 2 })
  t.same(view(alice2, 'desk:d'), { alice: [1, 2] }, 'a second tab sees the first')
  windows.release()
  await broadcastMarker(srv.hub, 'desk:d', all)
  t.same(view(alice1, 'desk:d'), { alice: [1, 2] }, 'the first tab learns of the second from its diff')
  t.same(view(alice2, 'desk:d'), { alice: [1, 2] })
  t.same(view(bob, 'desk:d'), { bob: [1] }, 'bob learns nothing of alice')

  await alice2.close()
  await eventually(() => windows.open() === 1, 2000, "the tab's leave opens a window")
  windows.release()
  await broadcastMarker(srv.hub, 'desk:d', [alice1, bob])
  t.same(view(alice1, 'desk:d'), { alice: [1] }, 'a tab closed')
  t.equal(bob.events('desk:d', 'presence_diff').length, 1, 'bob got no diff for it')

  // A key the socket starts tracking brings every presence under it; untracked, they all go.
  await bob.push(b.joinRef, 'desk:d', 'track', { key: 'alice', tab: 9 })
  windows.release()
  await broadcastMarker(srv.hub, 'desk:d', [alice1, bob])
  t.same(view(bob, 'desk:d'), { alice: [1, 9], bob: [1] }, 'tracking "alice": bob sees every presence under it')
  t.same(view(alice1, 'desk:d'), { alice: [1, 9] })
  await bob.push(b.joinRef, 'desk:d', 'untrack', { key: 'alice' })
  windows.release()
  await broadcastMarker(srv.hub, 'desk:d', [alice1, bob])
  t.same(view(bob, 'desk:d'), { bob: [1] }, 'untracked: they all leave its view')
  t.same(view(alice1, 'desk:d'), { alice: [1] })
  for (const f of presenceFrames(alice1, 'desk:d')) {
    const keys = f[3] === 'presence_state' ? Object.keys(f[4]) : [...Object.keys(f[4].joins), ...Object.keys(f[4].leaves)]
    t.ok(keys.every((k) => k === 'alice'), `alice's ${f[3]} names only alice`)
  }
  t.same(Object.keys(srv.hub.presence('desk:d').list()).sort(), ['alice', 'bob'], 'the server tracks everything as before')
})

t.test("presence: 'counts' across nodes: a member's count holds the other node's presences", async (t) => {
  const bus = new MemoryBus()
  const a = await startServer({ adapter: memoryAdapter({ bus }) })
  const b = await startServer({ adapter: memoryAdapter({ bus }) })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  define(a, 'stadium:*', 'counts')
  define(b, 'stadium:*', 'counts')
  const onA = await RawClient.connect(a.url())
  const onB = await RawClient.connect(b.url() + '?vsn=2.0.0', 'phoenix')
  const onB2 = await RawClient.connect(b.url())
  t.teardown(() => Promise.all([onA, onB, onB2].map((c) => c.close())))
  await onA.join('stadium:c', { user: 'on-a' })
  await onB.join('stadium:c', { user: 'on-b' })
  await onB2.join('stadium:c', { user: 'on-b', tab: 2 })
  const is = (c: RawClient, keys: number, metas: number) => JSON.stringify(counts(c, 'stadium:c').at(-1)) === JSON.stringify({ keys, metas })
  await eventually(() => is(onA, 2, 3), 3000, 'a counts b\'s presences')
  await eventually(() => is(onB, 2, 3) && is(onB2, 2, 3), 3000, 'b counts a\'s')
  await onB2.close()
  await eventually(() => is(onA, 2, 2), 3000, 'a leave on b reaches a\'s count')
  for (const c of [onA, onB]) t.same(presenceFrames(c, 'stadium:c'), [])
  t.same(Object.keys(a.hub.presence('stadium:c').list()).sort(), ['on-a', 'on-b'])
})

t.test("presence: 'self' across nodes: a user's tabs on two nodes see each other, and nobody else", async (t) => {
  const bus = new MemoryBus()
  const a = await startServer({ adapter: memoryAdapter({ bus }) })
  const b = await startServer({ adapter: memoryAdapter({ bus }) })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  define(a, 'desk:*', 'self')
  define(b, 'desk:*', 'self')
  const aliceOnA = await RawClient.connect(a.url())
  const aliceOnB = await RawClient.connect(b.url() + '?vsn=2.0.0', 'phoenix')
  const bobOnB = await RawClient.connect(b.url())
  t.teardown(() => Promise.all([aliceOnA, aliceOnB, bobOnB].map((c) => c.close())))
  await aliceOnA.join('desk:c', { user: 'alice', tab: 1 })
  await bobOnB.join('desk:c', { user: 'bob' })
  await aliceOnB.join('desk:c', { user: 'alice', tab: 2 })
  const is = (c: RawClient, want: object) => JSON.stringify(view(c, 'desk:c')) === JSON.stringify(want)
  await eventually(() => is(aliceOnA, { alice: [1, 2] }) && is(aliceOnB, { alice: [1, 2] }), 3000, "alice's tabs see each other across nodes")
  await eventually(() => Object.keys(b.hub.presence('desk:c').list()).length === 2 && Object.keys(a.hub.presence('desk:c').list()).length === 2, 3000, 'both nodes list both users')
  await broadcastMarker(a.hub, 'desk:c', [aliceOnA, aliceOnB, bobOnB])
  t.same(view(bobOnB, 'desk:c'), { bob: [1] }, 'bob sees only himself')
  await aliceOnB.close()
  await eventually(() => is(aliceOnA, { alice: [1] }), 3000, 'the tab on b left')
  t.pass()
})

t.test('the presence option is checked', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  t.throws(() => srv.hub.channel('x:*', { presence: 'none' as PresenceMode }), new TypeError(`presence of "x:*" must be 'full', 'counts' or 'self'`))
  t.equal(srv.hub.channel('y:*').presence, 'full', 'full by default')
})
