// The NestJS 11 smoke test: the chat app (the same decorated fixtures as the NestJS 12 tests) on
// NestJS 11 + platform-express, installed in test/nest11/node_modules. Everything Nest-related is
// loaded after a resolution hook sends `@nestjs/*` there, this package's ES module build included.
import t from 'tap'
import { register, createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { RawClient, broadcastMarker, quietLogger } from '../../../test/helpers/wire.js'
import { fixtureFile } from './helpers/fixtures.js'
import { startNest, type NestRuntime } from './helpers/nest.js'

const nest11PackageJson = fileURLToPath(new URL('../../../test/nest11/package.json', import.meta.url))
register('./helpers/nest11-hooks.mjs', import.meta.url, { data: { packageJson: nest11PackageJson } })
const nest11 = createRequire(nest11PackageJson)

const { NestFactory } = nest11('@nestjs/core') as typeof import('@nestjs/core')
const nestjs = (await import('@hornbeam/nestjs')) as typeof import('@hornbeam/nestjs')
const fx = (await import(pathToFileURL(fixtureFile('chat-app', 'mjs')).href)) as typeof import('./fixtures/chat-app.js')
const runtime: NestRuntime = { NestFactory, CHANNELS_HUB: nestjs.CHANNELS_HUB }

t.test('NestJS 11 is the one in use', async (t) => {
  t.match(nest11('@nestjs/core/package.json').version, /^11\./, 'test/nest11 has NestJS 11')
  t.equal(nest11('@nestjs/common').Module, (await import('@nestjs/common')).Module, 'an ES module import of @nestjs/common gets it too')
})

t.test('NestJS 11, platform-express: the chat flow, a REST broadcast, app.close()', { timeout: 30000 }, async (t) => {
  const srv = await startNest(t, 'express', fx.chatAppModule({ channels: { logger: quietLogger() } }), { runtime })
  t.equal(srv.app.getHttpAdapter().getType(), 'express')
  const chat = srv.get<InstanceType<typeof fx.ChatService>>(fx.ChatService)
  const alice = await RawClient.connect(srv.url('/ws'))
  const bob = await RawClient.connect(srv.url())

  t.same((await alice.join('room:lobby', {})).response, { reason: 'username required' }, 'no username: refused')
  const a = await alice.join('room:lobby', { username: 'alice' })
  t.same(a.response, { room_id: 'lobby', message: 'Welcome to lobby!' })
  const b = await bob.join('room:lobby', { username: 'bob' })
  t.same(Object.keys((await bob.waitFor((f) => f[3] === 'presence_state'))[4]).sort(), ['user:alice', 'user:bob'], 'presence')
  t.same(await alice.push(a.joinRef, 'room:lobby', 'new_msg', { body: 'hi bob' }), { status: 'ok', response: { status: 'ok' } })
  t.same((await bob.waitFor((f) => f[3] === 'new_msg'))[4], { username: 'alice', body: 'hi bob' }, 'broadcastFrom')
  alice.send(a.joinRef, alice.nextRef(), 'room:lobby', 'typing', { typing: true })
  t.same((await bob.waitFor((f) => f[3] === 'typing'))[4], { username: 'alice', typing: true }, 'typing')
  t.same((await bob.push(b.joinRef, 'room:lobby', 'get_history')).response, { messages: [{ username: 'system', body: 'Welcome to the chat!' }] })
  await broadcastMarker(srv.hub, 'room:lobby', [alice])
  t.equal(alice.events('room:lobby', 'new_msg').length, 0, 'no echo to the sender')

  const posted = await srv.http('/rooms/lobby/announce', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body: 'news' }) })
  t.equal(posted.status, 202)
  t.same((await alice.waitFor((f) => f[3] === 'new_msg'))[4], { username: 'announcement', body: 'news' }, 'ChannelsService.broadcast from a controller')
  t.same(await (await srv.http('/hello')).json(), { hello: 'world' }, 'a neighbouring route')

  await srv.close()
  t.same(chat.leaves.sort(), ['User alice left room:lobby', 'User bob left room:lobby'], 'leave hooks ran on app.close()')
  t.same(srv.hub.presence('room:lobby').list(), {}, 'presence untracked')
  for (const c of [alice, bob]) t.equal((await c.waitForClose()).code, 1012)
})
