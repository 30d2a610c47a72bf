// Every handler return form, sync and async, and how assigns flow between handlers.
import t from 'tap'
import { ok, error, reply, noreply, stop } from '@hornbeam/channels'
import { RawClient, startServer, sleep, eventually } from '../../../test/helpers/wire.js'

const later = <T>(v: T) => new Promise<T>((resolve) => setTimeout(() => resolve(v), 5))

t.test('join return forms', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  const forms: Record<string, (s: any) => any> = {
    'ok-bare': () => ['ok'],
    'ok-response': () => ['ok', { a: 1 }],
    'ok-socket': (s) => ['ok', { a: 2 }, s.assign('x', 1)],
    'error-string': () => ['error', 'nope'],
    'error-object': () => ['error', { reason: 'denied', code: 7 }],
    undefined: () => undefined,
    'async-ok': (s) => later(['ok', { a: 3 }, s]),
    'async-error': () => later(['error', { reason: 'later' }]),
    helper: (s) => ok({ a: 4 }, s),
    'helper-error': () => error('helped'),
    garbage: () => ['maybe'],
    throws: () => {
      throw new Error('join boom')
    },
    rejects: () => Promise.reject(new Error('join async boom')),
  }
  srv.hub.channel('j:*').onJoin((_topic, tp, _params, socket) => forms[tp.j_id!]!(socket))
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const expect: Record<string, [string, unknown]> = {
    'ok-bare': ['ok', {}],
    'ok-response': ['ok', { a: 1 }],
    'ok-socket': ['ok', { a: 2 }],
    'error-string': ['error', { reason: 'nope' }],
    'error-object': ['error', { reason: 'denied', code: 7 }],
    undefined: ['ok', {}],
    'async-ok': ['ok', { a: 3 }],
    'async-error': ['error', { reason: 'later' }],
    helper: ['ok', { a: 4 }],
    'helper-error': ['error', { reason: 'helped' }],
    garbage: ['error', { reason: 'join crashed' }],
    throws: ['error', { reason: 'join crashed' }],
    rejects: ['error', { reason: 'join crashed' }],
  }
  for (const [form, [status, response]] of Object.entries(expect)) {
    const r = await c.join(`j:${form}`, {})
    t.same([r.status, r.response], [status, response], form)
  }
  const joined = Object.keys(srv.hub.stats().topics).sort()
  t.same(joined, ['j:async-ok', 'j:helper', 'j:ok-bare', 'j:ok-response', 'j:ok-socket', 'j:undefined'], 'only accepted joins subscribe')
})

t.test('event return forms', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  const leaves: string[] = []
  const ch = srv.hub.channel('e:*')
  ch.onLeave((topic, _s, reason) => void leaves.push(`${topic}:${reason}`))
  const forms: Record<string, (s: any) => any> = {
    'reply-socket': (s) => ['reply', { r: 1 }, s],
    'reply-bare': () => ['reply', { r: 2 }],
    'reply-tuple-error': (s) => ['reply', ['error', { why: 'x' }], s],
    'reply-status-field': (s) => ['reply', { status: 'error', reason: 'seed form' }, s],
    'noreply-socket': (s) => ['noreply', s],
    'noreply-bare': () => ['noreply'],
    undefined: () => undefined,
    'async-reply': (s) => later(['reply', { r: 3 }, s]),
    helper: (s) => reply({ r: 4 }, s),
    'helper-noreply': (s) => noreply(s),
  }
  for (const [name, fn] of Object.entries(forms)) ch.on(name, (_p, s) => fn(s))
  ch.on('stop-socket', (_p, s) => ['stop', 'bye', s])
  ch.on('stop-helper', (_p, s) => stop({ reason: 'helped' }, s))
  ch.on('garbage', () => ['replyy', {}] as any)
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const { joinRef } = await c.join('e:1')
  const replies: Record<string, unknown> = {
    'reply-socket': { status: 'ok', response: { r: 1 } },
    'reply-bare': { status: 'ok', response: { r: 2 } },
    'reply-tuple-error': { status: 'error', response: { why: 'x' } },
    'reply-status-field': { status: 'error', response: { status: 'error', reason: 'seed form' } },
    'async-reply': { status: 'ok', response: { r: 3 } },
    helper: { status: 'ok', response: { r: 4 } },
  }
  for (const [name, expected] of Object.entries(replies)) t.same(await c.request(joinRef, 'e:1', name), expected, name)
  for (const name of ['noreply-socket', 'noreply-bare', 'undefined', 'helper-noreply']) {
    const ref = c.nextRef()
    c.send(joinRef, ref, 'e:1', name, {})
    // Events of one channel run in order: this reply comes after any reply to the event above.
    await c.request(joinRef, 'e:1', 'reply-bare')
    t.notOk(c.frames.some((f) => f[1] === ref), `${name}: no reply`)
  }
  t.same(await c.request(joinRef, 'e:1', 'nothing-registered'), { status: 'error', response: { reason: 'no handler for event "nothing-registered"' } })

  c.send(joinRef, c.nextRef(), 'e:1', 'stop-socket', {})
  t.same((await c.waitFor((f) => f[3] === 'hb_close'))[4], { reason: 'bye' }, 'stop closes the channel')
  const j2 = await c.join('e:2')
  c.send(j2.joinRef, c.nextRef(), 'e:2', 'stop-helper', {})
  t.same((await c.waitFor((f) => f[2] === 'e:2' && f[3] === 'hb_close'))[4], { reason: 'helped' })
  const j3 = await c.join('e:3')
  c.send(j3.joinRef, c.nextRef(), 'e:3', 'garbage', {})
  t.ok(await c.waitFor((f) => f[2] === 'e:3' && f[3] === 'hb_error'), 'a garbage result crashes the channel')
  // The crash's leave hook runs as the channel ends, maybe after hb_error went out.
  await eventually(() => leaves.length >= 3, 2000, 'the third leave hook')
  t.same(leaves, ['e:1:stop', 'e:2:stop', 'e:3:crash'])
})

t.test('assigns: connect hook first, then what each handler returns, across channels', async (t) => {
  const srv = await startServer({ connect: (params) => ({ user: params.user, seen: 0 }) })
  t.teardown(srv.close)
  const ch = srv.hub.channel('a:*')
  ch.onJoin((_t, _tp, _p, socket) => ['ok', { assigns: socket.assigns }, socket.assign('joined', true)])
  ch.on('bump', (_p, socket) => {
    const next = socket.mergeAssigns({ seen: (socket.assigns.seen as number) + 1 })
    return ['reply', { seen: next.assigns.seen }, next]
  })
  ch.on('discard', (_p, socket) => {
    socket.assign('seen', 1000) // not returned: not kept
    return ['reply', {}, socket]
  })
  ch.on('read', (_p, socket) => ['reply', socket.assigns])
  const c = await RawClient.connect(srv.url() + '?user=ann')
  t.teardown(() => c.close())
  const j1 = await c.join('a:1')
  t.same(j1.response, { assigns: { user: 'ann', seen: 0 } }, 'connect assigns are there from the start')
  t.same((await c.request(j1.joinRef, 'a:1', 'bump')).response, { seen: 1 })
  t.same((await c.request(j1.joinRef, 'a:1', 'bump')).response, { seen: 2 })
  await c.request(j1.joinRef, 'a:1', 'discard')
  const j2 = await c.join('a:2')
  t.same(j2.response.assigns, { user: 'ann', seen: 2, joined: true }, 'per-connection: another channel sees them')
  t.same((await c.request(j2.joinRef, 'a:2', 'read')).response, { user: 'ann', seen: 2, joined: true })
})

t.test('events of one channel run in order even when handlers are async', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  const order: number[] = []
  srv.hub.channel('o:1').on('step', async (p) => {
    await sleep(Math.random() * 10)
    order.push(p.i)
    return ['reply', { i: p.i }]
  })
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const { joinRef } = await c.join('o:1')
  const replies = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => c.request(joinRef, 'o:1', 'step', { i })))
  t.same(order, [0, 1, 2, 3, 4, 5, 6, 7])
  t.same(replies.map((r) => r.response.i), [0, 1, 2, 3, 4, 5, 6, 7])
})
