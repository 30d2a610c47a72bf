// @hornbeam/koa on Koa 2 (the `koa2` alias of koa@2), against real listening servers: the chat
// flow through app.listen and through mw.attach, and the 401 from an earlier middleware.
import t from 'tap'
import { createRequire } from 'node:module'
// @ts-ignore: the alias has no type declarations of its own
import Koa2 from 'koa2'
import type { KoaClass } from './fixtures/server.js'
import { authRefusal, chatFlow, longPollFlow } from './fixtures/scenarios.js'

const Koa = Koa2 as KoaClass

t.test('the alias really is Koa 2', async (t) => {
  t.match(createRequire(import.meta.url)('koa2/package.json').version, /^2\./)
})

t.test('Koa 2: chat flow with app.use(mw) + app.listen(0)', async (t) => {
  // Here `koa` resolves to Koa 3, so the package is loaded with `koa` mapped to Koa 2: the copy
  // whose Application.prototype.listen it wraps, as in an app that depends on koa@2.
  const { channels } = await t.mockImport<typeof import('@hornbeam/koa')>('@hornbeam/koa', { koa: { default: Koa2 } })
  t.equal((Koa.prototype as any)[Symbol.for('@hornbeam/koa')], true, "Koa 2's listen is wrapped")
  await chatFlow(t, Koa, 'app', channels)
})
t.test('Koa 2: chat flow with http.createServer(app.callback()) + mw.attach', (t) => chatFlow(t, Koa, 'attach'))
t.test('Koa 2: auth middleware refuses the upgrade with 401', (t) => authRefusal(t, Koa, 'attach'))
t.test('Koa 2: long-poll at /ws/longpoll through the app', (t) => longPollFlow(t, Koa, 'attach'))
