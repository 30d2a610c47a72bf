// presence_state shared by joiners (counted by hub.stats().presence.stateRenders, not timed), big
// rooms sharing one rendering per diff window, and diff windows that grow with a room's size.
import t from 'tap'
import { RawClient, startServer, broadcastMarker, type TestServer } from '../../../test/helpers/wire.js'
import { DiffBatcher, refOf, type PresenceEntry } from './fixtures/internals.js'
import { WINDOW_MS, holdWindows, view } from './fixtures/presence.js'

/** `hall:*`: a joiner with `user` is tracked under it; `many: n` tracks n keys for one socket. */
function defineHall(srv: TestServer) {
  srv.hub.channel('hall:*').onJoin((topic, _tp, params, socket) => {
    if (params.user) srv.hub.presence(topic).track(socket, params.user, { user: params.user, tab: 1 })
    for (let i = 0; i < (params.many ?? 0); i++) srv.hub.presence(topic).track(socket, `many:${i}`, { user: `many:${i}`, tab: 1 })
    return ['ok', {}, socket]
  })
}

const renders = (srv: TestServer) => srv.hub.stats().presence.stateRenders

async function joinWithState(c: RawClient, topic: string, payload: object) {
  const { joinRef } = await c.join(topic, payload)
  return c.waitFor((f) => f[0] === joinRef && f[3] === 'presence_state', 2000, `presence_state of ${topic}`)
}

t.test('presence_state is rendered once per change and dialect, and shared by every joiner until the next change', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  defineHall(srv)
  const clients = await Promise.all([0, 1, 2, 3, 4].map(() => RawClient.connect(srv.url())))
  const phoenix = await RawClient.connect(srv.url() + '?vsn=2.0.0', 'phoenix')
  t.teardown(() => Promise.all([...clients, phoenix].map((c) => c.close())))
  const start = renders(srv)
  await joinWithState(clients[0]!, 'hall:a', { user: 'alice' })
  t.equal(renders(srv) - start, 1, "alice's join renders the state once")
  for (const c of clients.slice(1, 4)) {
    const state = await joinWithState(c, 'hall:a', {})
    t.same(Object.keys(state[4]), ['alice'])
  }
  t.equal(renders(srv) - start, 1, 'three watchers with no change in between: no new rendering')
  await joinWithState(phoenix, 'hall:a', {})
  t.equal(renders(srv) - start, 2, 'the phoenix dialect renders its own')
  const bob = await joinWithState(clients[4]!, 'hall:a', { user: 'bob' })
  t.same(Object.keys(bob[4]).sort(), ['alice', 'bob'], 'in a small room a joiner sees itself at once')
  t.equal(renders(srv) - start, 3, 'a change: rendered again for the next joiner')
})

t.test('a room of 100 presences or more: joiners within one diff window share a rendering, and the diff completes every list', async (t) => {
  const windows = holdWindows(t, WINDOW_MS)
  const srv = await startServer({ presence: { batchMs: WINDOW_MS } })
  t.teardown(srv.close)
  defineHall(srv)
  const crowd = await RawClient.connect(srv.url())
  const u0 = await RawClient.connect(srv.url())
  const [u1, u2] = await Promise.all([0, 1].map(() => RawClient.connect(srv.url() + '?vsn=2.0.0', 'phoenix')))
  t.teardown(() => Promise.all([crowd, u0, u1!, u2!].map((c) => c.close())))
  await joinWithState(crowd, 'hall:big', { many: 120 })
  const start = renders(srv)
  const s0 = await joinWithState(u0, 'hall:big', { user: 'u0' })
  t.equal(renders(srv) - start, 0, 'u0 shares the rendering from before the window…')
  t.notOk('u0' in s0[4], '…which does not hold u0 itself')
  const s1 = await joinWithState(u1!, 'hall:big', { user: 'u1' })
  t.equal(renders(srv) - start, 1, 'the phoenix dialect had none: rendered during the window')
  t.ok('u0' in s1[4] && 'u1' in s1[4], 'with every change so far')
  const s2 = await joinWithState(u2!, 'hall:big', { user: 'u2' })
  t.equal(renders(srv) - start, 1, 'u2 shares it')
  t.notOk('u2' in s2[4])
  t.equal(windows.open(), 1, 'the three joins fell in one window')
  windows.release()
  await broadcastMarker(srv.hub, 'hall:big', [crowd, u0, u1!, u2!])
  const want = Object.keys(srv.hub.presence('hall:big').list()).sort()
  t.equal(want.length, 123)
  for (const c of [crowd, u0, u1!, u2!]) t.same(Object.keys(view(c, 'hall:big')).sort(), want, 'every list is whole after the window')
  // The window closed: the next joiner gets a new rendering, with every change.
  const late = await RawClient.connect(srv.url())
  t.teardown(() => late.close())
  const state = await joinWithState(late, 'hall:big', {})
  t.equal(renders(srv) - start, 2)
  t.same(Object.keys(state[4]).sort(), want)
})

t.test('a diff window lasts one more tick per 1,000 subscribers, up to 20', async (t) => {
  const windows = holdWindows(t, WINDOW_MS)
  const subscribers: Record<string, number> = { small: 10, big: 2500, huge: 1_000_000 }
  const delivered: string[] = []
  const batcher = new DiffBatcher(
    { subscriberCount: (topic) => subscribers[topic] ?? 0, deliver: (topic) => delivered.push(topic), closed() {}, refOf },
    WINDOW_MS,
  )
  t.teardown(() => batcher.stop())
  const entry = (topic: string, clock: number): PresenceEntry => ({ replica: 'n', clock, topic, key: 'k', owner: 'o', meta: {} })
  batcher.queue(['small', 'big', 'huge', 'nobody'].map((topic, i) => ({ type: 'join' as const, entry: entry(topic, i + 1) })))
  const closedAt: Record<string, number> = {}
  for (let tick = 1; tick <= 25 && windows.open() > 0; tick++) {
    windows.release()
    for (const topic of delivered.splice(0)) closedAt[topic] = tick
  }
  t.same(closedAt, { small: 1, big: 3, huge: 20 }, 'a topic nobody subscribes to opens no window')
  t.equal(windows.open(), 0, 'no tick once every window closed')
})
