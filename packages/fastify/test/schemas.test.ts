// JSON Schema on channels, validated as Fastify validates routes (its Ajv, its shared schemas,
// or the app's own validator compiler), and Standard Schemas through app.channel too.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { z } from 'zod'
import channels, { type ChannelsPluginOptions } from '@hornbeam/fastify'
import { RawClient, quietLogger } from '../../../test/helpers/wire.js'

async function start(t: { teardown: (fn: () => unknown) => void }, define: (app: FastifyInstance) => void, options: ChannelsPluginOptions = {}, fastifyOptions = {}) {
  const app = Fastify(fastifyOptions)
  await app.register(channels, { logger: quietLogger(), ...options })
  define(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const c = await RawClient.connect(`ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws/websocket`)
  t.teardown(() => c.close())
  return { app, c }
}

const join = {
  type: 'object',
  required: ['username'],
  properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, color: { type: 'string', default: 'blue' } },
}
const newMsg = {
  type: 'object',
  required: ['body'],
  additionalProperties: false,
  properties: { body: { type: 'string', maxLength: 20 }, count: { type: 'integer' }, tags: { type: 'array', items: { type: 'string', maxLength: 3 } } },
}

t.test('JSON Schema: a failing join or push is answered with its issues; defaults and coercion reach the handler', async (t) => {
  const seen: unknown[] = []
  const { c } = await start(t, (app) => {
    app
      .channel('room:*', { join, events: { new_msg: newMsg } })
      .onJoin((_topic, _tp, params) => (seen.push(params), ['ok', params]))
      .on('new_msg', (payload) => (seen.push(payload), ['reply', payload]))
  })
  const missing = await c.join('room:a', {})
  t.equal(missing.status, 'error')
  t.same(missing.response, {
    reason: 'the join params did not match the schema',
    issues: [{ message: "must have required property 'username'", path: ['username'] }],
  })
  const short = await c.join('room:a', { username: '' })
  t.same(short.response.issues, [{ message: 'must NOT have fewer than 1 characters', path: ['username'] }])
  t.same(seen, [], 'the handler never saw them')

  const ok = await c.join('room:a', { username: 'ada' })
  t.same(ok.response, { username: 'ada', color: 'blue' }, "Fastify's Ajv defaults applied (useDefaults)")
  const bad = await c.push(ok.joinRef, 'room:a', 'new_msg', { body: 'hi', tags: ['ok', 'toolong'] })
  t.same(bad.response.issues, [{ message: 'must NOT have more than 3 characters', path: ['tags', 1] }], 'the array index is a number')
  const coerced = await c.push(ok.joinRef, 'room:a', 'new_msg', { body: 'hi', count: '3', extra: 1 })
  t.same(coerced.response, { body: 'hi', count: 3 }, "coerced and stripped as Fastify's Ajv does (coerceTypes, removeAdditional)")
})

t.test('schemas added with addSchema resolve by $ref', async (t) => {
  const { c } = await start(t, (app) => {
    app.addSchema({ $id: 'user', type: 'object', required: ['username'], properties: { username: { type: 'string', minLength: 2 } } })
    app.channel('u:*', { join: { $ref: 'user#' } })
  })
  const r = await c.join('u:1', { username: 'x' })
  t.same(r.response.issues, [{ message: 'must NOT have fewer than 2 characters', path: ['username'] }])
  t.equal((await c.join('u:2', { username: 'xy' })).status, 'ok')
})

t.test("the app's own validator compiler, and the plugin's ajv option", async (t) => {
  const compiled: unknown[] = []
  const { c } = await start(t, (app) => {
    app.setValidatorCompiler(({ schema }) => {
      compiled.push(schema)
      return (data: unknown) => ((data as { n?: unknown }).n === 7 ? { value: { n: 7, by: 'custom' } } : { error: new Error('n must be 7') })
    })
    app.channel('c:*', { events: { n: { type: 'object' } } }).on('n', (payload) => ['reply', payload])
  })
  const { joinRef } = await c.join('c:1')
  t.same((await c.push(joinRef, 'c:1', 'n', { n: 7 })).response, { n: 7, by: 'custom' }, 'its value goes to the handler')
  t.same((await c.push(joinRef, 'c:1', 'n', { n: 1 })).response, {
    reason: 'the payload of "n" did not match the schema',
    issues: [{ message: 'n must be 7', path: [] }],
  })
  t.equal(compiled.length, 1, 'compiled once, on first use')

  const strict = await start(t, (app) => {
    app.channel('s:*', { events: { n: { type: 'object', properties: { n: { type: 'integer' } } } } }).on('n', (p) => ['reply', p])
  }, { ajv: { customOptions: { coerceTypes: false } } })
  const s = await strict.c.join('s:1')
  t.equal((await strict.c.push(s.joinRef, 's:1', 'n', { n: '3' })).status, 'error', 'coerceTypes: false, as asked')
})

t.test('Standard Schemas pass through app.channel unchanged', async (t) => {
  const { c } = await start(t, (app) => {
    app.channel('z:*', { events: { m: z.object({ body: z.string().min(1) }) } }).on('m', (payload) => ['reply', { body: payload.body }])
  })
  const { joinRef } = await c.join('z:1')
  t.same((await c.push(joinRef, 'z:1', 'm', { body: '' })).response.issues[0].path, ['body'])
  t.same((await c.push(joinRef, 'z:1', 'm', { body: 'x' })).response, { body: 'x' })
})
