// Every row of the seed's protocol tables and DESIGN.md's dialect table, in both dialects.
import t from 'tap'
import { RawClient, startServer, eventually, POSITION } from '../../../test/helpers/wire.js'

const wires = [
  { name: 'hornbeam', dialect: 'hornbeam', query: '', objects: false },
  { name: 'phoenix vsn=2.0.0', dialect: 'phoenix', query: '?vsn=2.0.0', objects: false },
  { name: 'phoenix vsn=1.0.0 (objects)', dialect: 'phoenix', query: '?vsn=1.0.0', objects: true },
] as const

for (const w of wires) {
  t.test(w.name, async (t) => {
    const srv = await startServer()
    t.teardown(srv.close)
    const leaves: string[] = []
    const room = srv.hub.channel('room:*')
    room.onJoin((topic, _tp, params, socket) => {
      srv.hub.presence(topic).track(socket, params.user ?? 'anon', { n: 1 })
      return ['ok', { joined: topic }, socket]
    })
    room.onLeave((topic, _s, reason) => void leaves.push(`${topic}:${reason}`))
    room.on('boom', () => {
      throw new Error('kaboom')
    })
    room.on('halt', (_p, socket) => ['stop', 'done here', socket])
    room.on('ping', (p, socket) => {
      socket.push('pushed', { n: p.n })
      return ['reply', { pong: p.n }, socket]
    })
    room.on('status', (p, socket) => {
      srv.hub.presence(socket.topic).update(socket, p.user, { n: 2 })
      return ['noreply', socket]
    })

    const c = await RawClient.connect(srv.url() + w.query, w.dialect, w.objects)
    const n = c.names
    t.teardown(() => c.close())

    t.test('join → reply {status, response}, then presence_state', async (t) => {
      const ref = c.nextRef()
      c.send(ref, ref, 'room:a', n.join, { user: 'u1' })
      const reply = await c.waitFor((f) => f[1] === ref)
      t.same(reply, [ref, ref, 'room:a', n.reply, { status: 'ok', response: { joined: 'room:a' } }])
      const next = await c.frameAfter(reply)
      t.equal(next[3], 'presence_state', 'presence_state is the very next frame')
      const meta = next[4].u1.metas[0]
      t.equal(meta.n, 1)
      t.type(meta[w.dialect === 'hornbeam' ? 'hb_ref' : 'phx_ref'], 'string', 'meta ref key of the dialect')
    })

    t.test('heartbeat', async (t) => {
      const ref = c.nextRef()
      c.send(null, ref, n.hb, 'heartbeat', {})
      const reply = await c.waitFor((f) => f[1] === ref)
      t.same(reply, [null, ref, n.hb, n.reply, { status: 'ok', response: {} }])
    })

    t.test('push with reply, and a server push carrying the join_ref', async (t) => {
      const joinRef = c.frames.find((f) => f[2] === 'room:a' && f[3] === n.reply)![0]
      const reply = await c.request(joinRef, 'room:a', 'ping', { n: 7 })
      t.same(reply, { status: 'ok', response: { pong: 7 } })
      const pushed = await c.waitFor((f) => f[3] === 'pushed')
      t.same(pushed, [joinRef, null, 'room:a', 'pushed', { n: 7 }])
    })

    t.test('presence update: one diff, old meta leaves, new joins (phx_ref_prev for phoenix)', async (t) => {
      const joinRef = c.frames.find((f) => f[2] === 'room:a' && f[3] === n.reply)![0]
      c.send(joinRef, c.nextRef(), 'room:a', 'status', { user: 'u1' })
      const diff = await c.waitFor((f) => f[3] === 'presence_diff')
      t.equal(diff[4].leaves.u1.metas[0].n, 1)
      t.equal(diff[4].joins.u1.metas[0].n, 2)
      const refKey = w.dialect === 'hornbeam' ? 'hb_ref' : 'phx_ref'
      if (w.dialect === 'phoenix') {
        t.equal(diff[4].joins.u1.metas[0].phx_ref_prev, diff[4].leaves.u1.metas[0].phx_ref)
      } else {
        t.notOk('phx_ref_prev' in diff[4].joins.u1.metas[0])
      }
      t.not(diff[4].joins.u1.metas[0][refKey], diff[4].leaves.u1.metas[0][refKey])
    })

    t.test('a crashing handler: *_error for that channel only, others live on', async (t) => {
      const b = await c.join('room:b', {})
      const joinRefA = c.frames.find((f) => f[2] === 'room:a' && f[3] === n.reply)![0]
      c.send(b.joinRef, c.nextRef(), 'room:b', 'boom', {})
      const err = await c.waitFor((f) => f[2] === 'room:b' && f[3] === n.error)
      t.same(err, [b.joinRef, b.joinRef, 'room:b', n.error, {}])
      t.same(await c.request(joinRefA, 'room:a', 'ping', { n: 1 }), { status: 'ok', response: { pong: 1 } }, 'room:a still works')
      t.same(await c.request(b.joinRef, 'room:b', 'ping', { n: 1 }), { status: 'error', response: { reason: 'unmatched topic' } }, 'room:b is gone')
      const again = await c.join('room:b', {})
      t.equal(again.status, 'ok', 'the client can rejoin')
      t.ok(leaves.includes('room:b:crash'), 'leave hook ran with reason crash')
    })

    t.test('stop ends the channel with *_close', async (t) => {
      const s = await c.join('room:s', {})
      c.send(s.joinRef, c.nextRef(), 'room:s', 'halt', {})
      const closed = await c.waitFor((f) => f[2] === 'room:s' && f[3] === n.close)
      t.same(closed, [s.joinRef, s.joinRef, 'room:s', n.close, { reason: 'done here' }])
      t.same(await c.request(s.joinRef, 'room:s', 'ping', { n: 1 }), { status: 'error', response: { reason: 'unmatched topic' } })
      await eventually(() => leaves.includes('room:s:stop'), 2000, 'the stop leave hook')
      t.ok(leaves.includes('room:s:stop'))
    })

    t.test('leave: leave hook, ok reply, then *_close', async (t) => {
      const l = await c.join('room:l', { user: 'leaver' })
      const ref = c.nextRef()
      c.send(l.joinRef, ref, 'room:l', n.leave, {})
      const reply = await c.waitFor((f) => f[1] === ref)
      t.same(reply, [l.joinRef, ref, 'room:l', n.reply, { status: 'ok', response: {} }])
      const close = await c.frameAfter(reply)
      t.same(close, [l.joinRef, l.joinRef, 'room:l', n.close, {}], '*_close right after the reply')
      t.ok(leaves.includes('room:l:leave'))
      t.same(srv.hub.presence('room:l').list(), {}, 'presence gone')
    })

    t.test('duplicate join replaces the old channel', async (t) => {
      const first = await c.join('room:d', { user: 'dup' })
      const second = await c.join('room:d', { user: 'dup' })
      t.equal(second.status, 'ok')
      const oldClose = await c.waitFor((f) => f[2] === 'room:d' && f[3] === n.close)
      t.equal(oldClose[0], first.joinRef, '*_close carries the old join_ref')
      t.ok(leaves.includes('room:d:rejoin'), 'old channel leave hook ran')
      t.equal(srv.hub.presence('room:d').get('dup')?.metas.length, 1, 'one presence, not two')
      t.equal(srv.hub.stats().topics['room:d'], 1, 'one subscription, not two')
      t.same(await c.request(first.joinRef, 'room:d', 'ping', { n: 2 }), { status: 'error', response: { reason: 'unmatched topic' } }, 'stale join_ref refused')
      t.same(await c.request(second.joinRef, 'room:d', 'ping', { n: 3 }), { status: 'ok', response: { pong: 3 } })
    })

    t.test('unmatched topic: join and event before join', async (t) => {
      const j = await c.join('nope:1', {})
      t.same(j.status, 'error')
      t.same(j.response, { reason: 'unmatched topic' })
      t.same(await c.request(null, 'room:never', 'ping', {}), { status: 'error', response: { reason: 'unmatched topic' } })
    })

    t.test('broadcast frames carry their history position in the ref slot', async (t) => {
      srv.hub.broadcast('room:a', 'news', { x: 1 })
      const got = await c.waitFor((f) => f[3] === 'news')
      t.same(got, [null, got[1], 'room:a', 'news', { x: 1 }])
      t.match(got[1], POSITION, 'epoch:offset, never a bare integer')
    })
  })
}

t.test('broadcast frames have null refs on a pattern without history', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  srv.hub.channel('quiet:*', { history: false })
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  await c.join('quiet:1')
  srv.hub.broadcast('quiet:1', 'news', { x: 1 })
  t.same(await c.waitFor((f) => f[3] === 'news'), [null, null, 'quiet:1', 'news', { x: 1 }])
  t.equal(c.events('quiet:1', 'hb_history').length, 0, 'no hb_history either')
})

t.test('an unknown vsn is refused with 400', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  await t.rejects(RawClient.connect(srv.url() + '?vsn=9.0.0'), /HTTP 400/)
})

t.test('the phoenix subprotocol is answered', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  const { default: WebSocket } = await import('ws')
  const ws = new WebSocket(srv.url() + '?vsn=2.0.0', ['phoenix', 'base64url.bearer.phx.dG9rZW4'])
  await new Promise((resolve, reject) => (ws.on('open', resolve), ws.on('error', reject)))
  t.equal(ws.protocol, 'phoenix')
  ws.close()
})
