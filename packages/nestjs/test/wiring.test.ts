// How the module wires classes to the hub, and what it refuses at init (platform-express, and
// an application context without HTTP).
import t from 'tap'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { RawClient, quietLogger, POSITION } from '../../../test/helpers/wire.js'
import { loadFixture } from './helpers/fixtures.js'
import { platforms, startNest } from './helpers/nest.js'

// NestJS 12 and this package through require(): see helpers/fixtures.ts.
const require = createRequire(import.meta.url)
const nest = require('@hornbeam/nestjs') as typeof import('@hornbeam/nestjs')
const { NestFactory } = require('@nestjs/core') as typeof import('@nestjs/core')
const fx = loadFixture<typeof import('./fixtures/wiring.js')>('wiring')
const logger = quietLogger()

t.test('channel options, stacked @OnEvent, @InjectHub, and the connect hook as a function', async (t) => {
  const srv = await startNest(t, 'express', fx.wiringModule([fx.NewsChannel, fx.PlainChannel], { logger, connect: (params) => ({ from: params.from }) }))
  const channels = srv.get<InstanceType<typeof nest.ChannelsService>>(nest.ChannelsService)
  t.equal(srv.get<InstanceType<typeof fx.NewsChannel>>(fx.NewsChannel).hub, srv.hub, '@InjectHub() is the hub')
  t.equal(channels.hub, srv.hub, 'ChannelsService.hub is the hub')
  const c = await RawClient.connect(srv.url('/ws?from=fn'))
  t.teardown(() => c.close())
  const j = await c.join('news:1')
  t.same(j.response, { assigns: { from: 'fn' } }, 'a plain function connect hook')
  t.same(await c.push(j.joinRef, 'news:1', 'first', { n: 1 }), { status: 'ok', response: { n: 1 } })
  t.same(await c.push(j.joinRef, 'news:1', 'second', { n: 2 }), { status: 'ok', response: { n: 2 } }, 'one method, two events')
  t.match(await channels.broadcast('news:1', 'x', {}), { position: null }, '{ history: false }: no position')
  t.equal((await c.join('plain:1')).status, 'ok', 'a class with no hooks accepts every join')
  t.match(await channels.broadcast('plain:1', 'x', {}), { position: POSITION }, "while that one keeps the hub's default history")
  t.equal(channels.stats().connections, 1)
})

t.test('the connect hook as an injection token', async (t) => {
  const srv = await startNest(
    t,
    'express',
    fx.wiringModule([fx.NewsChannel, { provide: 'CONNECT', useValue: { connect: () => ({ from: 'token' }) } }], { logger, connect: 'CONNECT' }),
  )
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  t.same((await c.join('news:1')).response, { assigns: { from: 'token' } })
})

const refusals: Array<[string, any[], object, RegExp]> = [
  ['two @OnJoin() methods', [fx.TwoJoins], {}, /TwoJoins has two @OnJoin\(\) methods \(a, b\)/],
  ['a request-scoped channel class', [fx.RequestScoped], {}, /@Channel class RequestScoped .* must be a singleton/],
  ['a connect provider without connect()', [fx.NotAConnect], { connect: fx.NotAConnect }, /the connect provider NotAConnect has no connect\(params, request, info\) method/],
  ['a class provided twice', [fx.NewsChannel, { provide: 'again', useClass: fx.NewsChannel }], {}, /NewsChannel is provided twice/],
  ['two classes for one pattern', [fx.PlainChannel, fx.PlainAgain], {}, /@Channel\('plain:\*'\) on PlainAgain: topic pattern "plain:\*" is already registered/],
]
for (const [what, providers, options, message] of refusals) {
  t.test(`init fails on ${what}`, async (t) => {
    const app = await NestFactory.create(fx.wiringModule(providers, { logger, ...options }), { logger: false, abortOnError: false })
    await t.rejects(app.init(), message)
    await app.close()
  })
}

t.test('an application context without HTTP: the hub is there, not mounted, and closed with the context', async (t) => {
  const context = await NestFactory.createApplicationContext(fx.wiringModule([fx.NewsChannel], { logger }), { logger: false, abortOnError: false })
  const channels = context.get(nest.ChannelsService)
  t.match(await channels.broadcast('news:1', 'x', {}), { position: null }, 'the channel is registered (its options apply)')
  await context.close()
  t.equal(channels.stats().connections, 0)
})

t.test('the decorators check what they are given', async (t) => {
  t.throws(() => nest.Channel(''), /the pattern must be a non-empty string/)
  t.throws(() => nest.OnEvent(''), /the event must be a non-empty string/)
  class C {
    static s() {}
    m() {}
  }
  const tc39 = { kind: 'method', name: 'm' }
  t.throws(() => (nest.OnJoin() as any)(C.prototype.m, tc39), /need "experimentalDecorators": true/, 'TC39 decorators: a clear error')
  t.throws(() => (nest.Channel('x:*') as any)(C, { kind: 'class', name: 'C' }), /need "experimentalDecorators": true/)
  t.throws(() => (nest.OnLeave() as any)(C, 's', Object.getOwnPropertyDescriptor(C, 's')), /decorate an instance method/)
})

for (const platform of platforms) {
  t.test(`${platform}: forRoot({ hub }) mounts a shared hub; app.close() closes only its own sockets`, async (t) => {
    const { createHub } = require('@hornbeam/channels') as typeof import('@hornbeam/channels')
    const hub = createHub({ logger })
    t.teardown(() => hub.close())
    // The same hub behind a plain node:http server too: its socket must outlive the app.
    const other = createServer()
    hub.attach(other)
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
    t.teardown(() => new Promise((resolve) => (other.closeAllConnections(), other.close(resolve))))
    const srv = await startNest(t, platform, fx.wiringModule([fx.NewsChannel], { hub, serveClient: false }))
    t.equal(srv.hub, hub, 'CHANNELS_HUB is the given hub')
    const mine = await RawClient.connect(srv.url())
    const theirs = await RawClient.connect(`ws://127.0.0.1:${(other.address() as AddressInfo).port}/ws/websocket`)
    t.teardown(() => theirs.close())
    const { joinRef } = await theirs.join('news:1')
    await mine.join('news:1')
    t.equal(hub.stats().connections, 2)
    t.equal((await srv.http('/ws/hornbeam.js')).status, 404, 'serveClient: false')
    await srv.close()
    t.equal((await mine.waitForClose()).code, 1012, "the app's socket got 1012")
    t.same(await theirs.push(joinRef, 'news:1', 'first', { n: 3 }), { status: 'ok', response: { n: 3 } }, 'the other socket lives on, with the channel the app registered')
    t.equal(hub.stats().connections, 1)
  })
}

t.test('forRoot({ hub, connect }) is refused: connect belongs to the hub', async (t) => {
  const { createHub } = require('@hornbeam/channels') as typeof import('@hornbeam/channels')
  const hub = createHub({ logger })
  t.teardown(() => hub.close())
  await t.rejects(
    NestFactory.create(fx.wiringModule([], { hub, connect: () => true }), { logger: false, abortOnError: false }),
    /`connect` applies to a hub the module creates/,
  )
})
