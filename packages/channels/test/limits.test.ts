// Limits, authentication, origin checks, prototype pollution, metrics.
import t from 'tap'
import WebSocket from 'ws'
import { registerMetrics } from '@hornbeam/channels/prometheus'
import { RawClient, startServer, sleep, eventually, quietLogger } from '../../../test/helpers/wire.js'

t.test('maxChannelsPerSocket: a join past it gets "too many channels"', async (t) => {
  const srv = await startServer({ maxChannelsPerSocket: 2 })
  t.teardown(srv.close)
  srv.hub.channel('c:*')
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  t.equal((await c.join('c:1')).status, 'ok')
  t.equal((await c.join('c:2')).status, 'ok')
  t.same((await c.join('c:3')).response, { reason: 'too many channels' })
  t.equal((await c.join('c:2')).status, 'ok', 'rejoining a joined topic is not a new channel')
})

t.test('messagesPerSecond: one error reply past it, the rest counted; sustained abuse closes with 1008', async (t) => {
  const srv = await startServer({ messagesPerSecond: 5, maxRejectedMessages: 10 })
  t.teardown(srv.close)
  srv.hub.channel('m:1').on('ping', () => ['reply', {}])
  const c = await RawClient.connect(srv.url())
  const { joinRef } = await c.join('m:1')
  const refs = [...Array(12).keys()].map(() => {
    const ref = c.nextRef()
    c.send(joinRef, ref, 'm:1', 'ping', {})
    return ref
  })
  // Once the hub has taken all twelve, a broadcast marks the end of whatever it answered.
  await eventually(() => srv.hub.stats().rateLimited >= 12 - 5, 2000, 'all taken')
  srv.hub.broadcast('m:1', 'marker', {})
  await c.waitFor((f) => f[3] === 'marker')
  const answers = refs.map((r) => c.frames.find((f) => f[1] === r)?.[4])
  const admitted = answers.filter((a) => a?.status === 'ok').length
  t.ok(admitted <= 5, `${admitted} admitted: no more than the bucket allows`)
  t.same(answers.filter((a) => a?.status === 'error'), [{ status: 'error', response: { reason: 'rate limited' } }], 'one "rate limited" reply')
  t.equal(answers.filter((a) => a === undefined).length, 12 - admitted - 1, 'the other rejections are counted, not answered')
  t.equal(srv.hub.stats().rateLimited, 12 - admitted)
  for (let i = 0; i < 20; i++) c.send(joinRef, c.nextRef(), 'm:1', 'ping', {})
  t.same(await c.waitForClose(), { code: 1008, reason: 'message rate limit exceeded' })
  t.ok(srv.hub.stats().rateLimited > 10)
})

t.test('the abuse score decays (half-life 10 s) instead of resetting on an admitted message', async (t) => {
  const { Limits } = await import('./fixtures/internals.js')
  const { defaultLimits } = await import('@hornbeam/channels')
  const counters = { rateLimited: 0, slowConsumers: 0, droppedFrames: 0 }
  const limits = new Limits({ ...defaultLimits, messagesPerSecond: 10, maxRejectedMessages: 20 }, counters, quietLogger())
  const state = { lastSeen: 0, messageTokens: 10, messageAt: 0, joinTokens: 0, joinAt: 0, abuse: 0, abuseAt: 0, rejectionAnswered: false, channels: { size: 0 } }
  const at = (ms: number) => ((state.lastSeen = ms), limits.admitMessage(state))
  // 20 messages a second, twice the rate: half are rejected, and the score climbs past 20.
  const verdicts: string[] = []
  for (let ms = 0; !verdicts.includes('close'); ms += 50) verdicts.push(at(ms))
  t.ok(verdicts.includes('ok'), 'messages were admitted in between')
  t.ok(verdicts.every((v, i) => v !== 'reject' || i === 0 || verdicts[i - 1] === 'ok'), 'a rejection is answered only after an admitted message')
  t.ok(verdicts.length < 200, `closed after ${verdicts.length} messages (${verdicts.length * 50} ms) at twice the rate`)
  // An occasional burst: 12 at once (2 over), then quiet for a minute, ten times: never closed.
  const calm = { ...state, lastSeen: 0, messageTokens: 10, messageAt: 0, abuse: 0, abuseAt: 0 }
  const seen = new Set<string>()
  for (let minute = 0; minute < 10; minute++) {
    for (let i = 0; i < 12; i++) {
      calm.lastSeen = minute * 60_000
      seen.add(limits.admitMessage(calm))
    }
  }
  t.notOk(seen.has('close'), 'bursts a little over the rate, spread out, are never closed')
  t.ok(calm.abuse < 3, `the score decayed between bursts (${calm.abuse.toFixed(2)})`)
})

t.test('joinsPerSecond', async (t) => {
  const srv = await startServer({ joinsPerSecond: 2, messagesPerSecond: 0 })
  t.teardown(srv.close)
  srv.hub.channel('j:*')
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const results = await Promise.all(['j:1', 'j:2', 'j:3', 'j:4'].map((topic) => c.join(topic)))
  t.same(results.map((r) => r.status), ['ok', 'ok', 'error', 'error'])
  t.same(results[3]!.response, { reason: 'rate limited' })
})

t.test('maxConnections: past it an upgrade gets 503', async (t) => {
  const srv = await startServer({ maxConnections: 2 })
  t.teardown(srv.close)
  const a = await RawClient.connect(srv.url())
  const b = await RawClient.connect(srv.url())
  await t.rejects(RawClient.connect(srv.url()), /HTTP 503/)
  await a.close()
  await eventually(() => srv.hub.stats().connections === 1, 1000)
  const c = await RawClient.connect(srv.url())
  t.ok(c, 'room again once one left')
  await Promise.all([b.close(), c.close()])
})

t.test('token in Sec-WebSocket-Protocol (the phoenix client authToken)', async (t) => {
  const seen: unknown[] = []
  const srv = await startServer({
    connect: (_params, _req, info) => {
      seen.push(info.authToken)
      return info.authToken === 'sekrit' ? { user: 'tok' } : false
    },
  })
  t.teardown(srv.close)
  const open = (token: string) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(srv.url() + '?vsn=2.0.0', ['phoenix', `base64url.bearer.phx.${Buffer.from(token).toString('base64url')}`])
      ws.on('open', () => resolve(ws))
      ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
      ws.on('error', reject)
    })
  const ok = await open('sekrit')
  t.equal(ok.protocol, 'phoenix')
  ok.close()
  await t.rejects(open('wrong'), /HTTP 403/)
  t.same(seen, ['sekrit', 'wrong'])
})

t.test('origin check: same host by default, allow-lists, functions, off', async (t) => {
  const connectWith = (url: string, origin: string) => RawClient.connect(url).then(() => 'ok', (e) => e.message)
  const open = (url: string, origin: string) =>
    new Promise<string>((resolve) => {
      const ws = new WebSocket(url, { origin })
      ws.on('open', () => (ws.close(), resolve('ok')))
      ws.on('unexpected-response', (_req, res) => resolve(`HTTP ${res.statusCode}`))
      ws.on('error', (e) => resolve(e.message))
    })
  const def = await startServer()
  t.teardown(def.close)
  t.equal(await open(def.url(), `http://127.0.0.1:${def.port}`), 'ok', 'same host')
  t.equal(await open(def.url(), 'http://evil.example'), 'HTTP 403', 'another host')
  t.equal(await connectWith(def.url(), ''), 'ok', 'no Origin (not a browser): not checked')

  const list = await startServer({ checkOrigin: ['https://app.example.com', '//admin.example.com'] })
  t.teardown(list.close)
  t.equal(await open(list.url(), 'https://app.example.com'), 'ok')
  t.equal(await open(list.url(), 'http://admin.example.com'), 'ok', '//host matches any scheme')
  t.equal(await open(list.url(), 'http://app.example.com'), 'HTTP 403', 'scheme matters for full entries')
  t.equal(await open(list.url(), `http://127.0.0.1:${list.port}`), 'HTTP 403', 'an allow-list replaces the same-host rule')

  const fn = await startServer({ checkOrigin: (origin) => origin.endsWith('.trusted.test') })
  t.teardown(fn.close)
  t.equal(await open(fn.url(), 'https://x.trusted.test'), 'ok')
  t.equal(await open(fn.url(), 'https://x.untrusted.test'), 'HTTP 403')

  const off = await startServer({ checkOrigin: false })
  t.teardown(off.close)
  t.equal(await open(off.url(), 'http://evil.example'), 'ok', 'off for development')
})

t.test('origin refusal logs a clear line', async (t) => {
  const warnings: string[] = []
  const srv = await startServer({ logger: { debug() {}, info() {}, error() {}, warn: (_o: unknown, m?: string) => void warnings.push(m ?? '') } })
  t.teardown(srv.close)
  await new Promise<void>((resolve) => {
    const ws = new WebSocket(srv.url(), { origin: 'http://evil.example' })
    ws.on('unexpected-response', () => resolve())
    ws.on('error', () => resolve())
  })
  t.match(warnings.join('\n'), /origin not allowed/)
})

t.test('__proto__, constructor and prototype keys pollute nothing', async (t) => {
  const srv = await startServer({ connect: (params) => ({ ...params }) })
  t.teardown(srv.close)
  const room = srv.hub.channel('p:*')
  room.onJoin((topic, _tp, params, socket) => {
    srv.hub.presence(topic).track(socket, params.key, params.meta)
    return ['ok', { assigns: socket.assigns }, socket.mergeAssigns(params.meta)]
  })
  room.on('merge', (payload, socket) => ['reply', socket.mergeAssigns(payload).assigns, socket.mergeAssigns(payload)])
  room.on('echo', (payload) => ['reply', payload])
  const c = await RawClient.connect(srv.url() + '?__proto__=x&constructor=y&prototype=z')
  t.teardown(() => c.close())
  const evil = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"prototype":{"polluted":true}}'
  c.sendRaw(`["1","1","p:1","hb_join",{"key":"__proto__","meta":${evil}}]`)
  const joined = await c.waitFor((f) => f[1] === '1')
  t.equal(joined[4].status, 'ok')
  t.same(Object.keys(joined[4].response.assigns).sort(), ['__proto__', 'constructor', 'prototype'], 'query params stayed plain keys')
  c.sendRaw(`["1","2","p:1","merge",${evil}]`)
  await c.waitFor((f) => f[1] === '2')
  c.sendRaw(`["1","3","p:1","echo",${evil}]`)
  const echo = await c.waitFor((f) => f[1] === '3')
  t.same(Object.keys(echo[4].response).sort(), ['__proto__', 'constructor', 'prototype'])
  const list = srv.hub.presence('p:1').list()
  t.ok(Object.hasOwn(list, '__proto__'), 'a presence key "__proto__" is an own key')
  t.equal(Object.getPrototypeOf(list), Object.prototype, 'and did not replace the prototype')
  const state = c.frames.find((f) => f[3] === 'presence_state')!
  t.ok(Object.hasOwn(state[4], '__proto__'), 'presence_state carries it as a key')
  t.equal(({} as any).polluted, undefined, 'Object.prototype untouched')
  t.equal((Object as any).polluted, undefined)
  t.equal(({} as any).constructor.polluted, undefined)
})

t.test('Prometheus metrics read hub.stats()', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  srv.hub.channel('m:1')
  const registry = registerMetrics(srv.hub)
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  await c.join('m:1')
  const text = await registry.metrics()
  t.match(text, /^hornbeam_connections 1$/m)
  t.match(text, /^hornbeam_channels 1$/m)
  t.match(text, /^hornbeam_joins_total 1$/m)
  t.match(text, /^hornbeam_frames_in_total 1$/m)
  await sleep(1)
})
