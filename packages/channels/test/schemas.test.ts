// Runtime schemas on the wire (Standard Schema: Zod and Valibot here): a join or push that fails
// its schema gets `{ reason, issues: [{ message, path }] }` and its handler never runs; the
// handler gets the schema's output; async schemas, their time bound, and schemas that throw.
import t from 'tap'
import { z } from 'zod'
import * as v from 'valibot'
import type { StandardSchemaV1 } from '@hornbeam/channels'
import { RawClient, startServer, quietLogger } from '../../../test/helpers/wire.js'

const libraries = {
  zod: {
    join: z.object({ username: z.string().min(1).max(64) }),
    newMsg: z.object({ body: z.string().max(20), tags: z.array(z.string()).default([]) }),
  },
  valibot: {
    join: v.object({ username: v.pipe(v.string(), v.minLength(1), v.maxLength(64)) }),
    newMsg: v.object({ body: v.pipe(v.string(), v.maxLength(20)), tags: v.optional(v.array(v.string()), []) }),
  },
}

for (const [library, schemas] of Object.entries(libraries)) {
  t.test(`${library}: join and push checked, handlers get the parsed output`, async (t) => {
    const srv = await startServer()
    t.teardown(srv.close)
    const joins: unknown[] = []
    const pushes: unknown[] = []
    srv.hub
      .channel('room:*', { join: schemas.join, events: { new_msg: schemas.newMsg } })
      .onJoin((_topic, _tp, params) => {
        joins.push(params)
        return ['ok', { hello: params.username }]
      })
      .on('new_msg', (payload) => {
        pushes.push(payload)
        return ['reply', { tags: payload.tags }]
      })
      .on('free', (payload) => ['reply', payload])
    const c = await RawClient.connect(srv.url())
    t.teardown(() => c.close())

    const refused = await c.join('room:a', { username: '' })
    t.equal(refused.status, 'error', 'an empty username is refused')
    t.equal(refused.response.reason, 'the join params did not match the schema')
    t.equal(refused.response.issues.length, 1)
    t.same(refused.response.issues[0].path, ['username'], 'the issue names the field')
    t.type(refused.response.issues[0].message, 'string')
    const wrongType = await c.join('room:a', { username: 42 })
    t.equal(wrongType.status, 'error')
    t.same(wrongType.response.issues.map((i: { path: unknown }) => i.path), [['username']])
    t.same(joins, [], 'the join handler never ran for them')

    const joined = await c.join('room:a', { username: 'alice' })
    t.same([joined.status, joined.response], ['ok', { hello: 'alice' }])

    const bad = await c.push(joined.joinRef, 'room:a', 'new_msg', { body: 'x'.repeat(21), tags: ['a', 3] })
    t.equal(bad.status, 'error', 'a push that fails is answered with an error')
    t.equal(bad.response.reason, 'the payload of "new_msg" did not match the schema')
    t.same(bad.response.issues.map((i: { path: unknown }) => i.path).sort(), [['body'], ['tags', 1]], 'nested paths, array indexes as numbers')
    t.same(pushes, [], 'the event handler never ran')

    const good = await c.push(joined.joinRef, 'room:a', 'new_msg', { body: 'hi' })
    t.same(good, { status: 'ok', response: { tags: [] } }, 'the default was applied before the handler saw it')
    t.same(pushes, [{ body: 'hi', tags: [] }])
    const free = await c.push(joined.joinRef, 'room:a', 'free', { anything: [1, 2] })
    t.same(free.response, { anything: [1, 2] }, 'an event with no schema passes unchanged')
    t.equal(srv.hub.stats().invalidPayloads, 3)
    t.equal(srv.hub.stats().crashes, 0, 'no failure crashed the channel')
  })
}

t.test('transforms reach the handler; unknown keys are what the schema says', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  srv.hub
    .channel('t:*', { events: { name: z.object({ name: z.string().trim().toUpperCase() }) } })
    .on('name', (payload) => ['reply', payload])
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const { joinRef } = await c.join('t:1')
  const r = await c.push(joinRef, 't:1', 'name', { name: '  ada ', extra: true })
  t.same(r.response, { name: 'ADA' }, 'trimmed, upper-cased, the extra key stripped (zod strips by default)')
})

/** A Standard Schema written by hand: what a user of no library at all can pass. */
function schema(validate: (value: unknown) => StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>): StandardSchemaV1 {
  return { '~standard': { version: 1, vendor: 'test', validate } }
}

t.test('async schemas: answered when they settle, in order with the channel\'s other events', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  const taken = new Set(['bob'])
  const unique = schema(async (value) => {
    await new Promise((resolve) => setImmediate(resolve))
    const name = (value as { name?: unknown }).name
    return typeof name === 'string' && !taken.has(name) ? { value: { name } } : { issues: [{ message: 'taken', path: [{ key: 'name' }] }] }
  })
  const seen: string[] = []
  srv.hub
    .channel('a:*', { events: { claim: unique } })
    .on('claim', (payload) => (seen.push(payload.name), ['reply', { claimed: payload.name }]))
    .on('after', () => (seen.push('after'), ['reply', {}]))
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const { joinRef } = await c.join('a:1')
  const [taken1, free, after] = await Promise.all([
    c.push(joinRef, 'a:1', 'claim', { name: 'bob' }),
    c.push(joinRef, 'a:1', 'claim', { name: 'eve' }),
    c.push(joinRef, 'a:1', 'after', {}),
  ])
  t.same(taken1.response, { reason: 'the payload of "claim" did not match the schema', issues: [{ message: 'taken', path: ['name'] }] })
  t.same(free.response, { claimed: 'eve' })
  t.equal(after.status, 'ok')
  t.same(seen, ['eve', 'after'], 'the event after an async check waited for it')
})

t.test('an async schema past validationTimeoutMs is answered with an error; the channel moves on', async (t) => {
  const srv = await startServer({ validationTimeoutMs: 50 })
  t.teardown(srv.close)
  const never = schema(() => new Promise(() => {}))
  srv.hub
    .channel('slow:*', { events: { stuck: never } })
    .on('stuck', () => ['reply', { ran: true }])
    .on('next', () => ['reply', { next: true }])
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const { joinRef } = await c.join('slow:1')
  const stuck = await c.push(joinRef, 'slow:1', 'stuck', {})
  t.same(stuck, { status: 'error', response: { reason: 'the payload of "stuck" took too long to validate' } })
  const next = await c.push(joinRef, 'slow:1', 'next', {})
  t.same(next.response, { next: true }, 'the next event runs')
})

t.test('a schema that throws or rejects: an error reply, logged, the channel lives on', async (t) => {
  const logger = quietLogger()
  const srv = await startServer({ logger })
  t.teardown(srv.close)
  const throws = schema(() => {
    throw new Error('schema bug')
  })
  const rejects = schema(() => Promise.reject(new Error('async schema bug')))
  const notAResult = schema(() => null as unknown as StandardSchemaV1.Result<unknown>)
  srv.hub
    .channel('bug:*', { events: { a: throws, b: rejects, c: notAResult } })
    .on('a', () => ['reply', {}])
    .on('b', () => ['reply', {}])
    .on('c', () => ['reply', {}])
    .on('ok', () => ['reply', { alive: true }])
  srv.hub.channel('joinbug:*', { join: throws })
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const { joinRef } = await c.join('bug:1')
  for (const event of ['a', 'b', 'c']) {
    const r = await c.push(joinRef, 'bug:1', event, {})
    t.same(r, { status: 'error', response: { reason: 'the server could not validate this' } }, `${event}: an error reply, no details`)
  }
  t.same((await c.push(joinRef, 'bug:1', 'ok', {})).response, { alive: true }, 'the channel still answers')
  t.equal(c.events('bug:1', 'hb_error').length, 0, 'no channel error was sent')
  t.match(logger.errors, [{ err: { message: 'schema bug' } }, { err: { message: 'async schema bug' } }, { err: {} }])
  const refused = await c.join('joinbug:1', { x: 1 })
  t.same(refused.response, { reason: 'the server could not validate this' }, 'a join schema that throws refuses the join')
  t.equal(srv.hub.stats().crashes, 0)
})

t.test('issues are capped at 20, and a huge payload does not make a huge reply', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  srv.hub.channel('many:*', { events: { list: z.object({ items: z.array(z.number()) }) } }).on('list', () => ['reply', {}])
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  const { joinRef } = await c.join('many:1')
  const r = await c.push(joinRef, 'many:1', 'list', { items: Array.from({ length: 500 }, (_, i) => `n${i}`) })
  t.equal(r.response.issues.length, 20)
  t.same(r.response.issues[19].path, ['items', 19])
})

t.test('declaring a channel with something that is not a Standard Schema throws at once', async (t) => {
  const srv = await startServer()
  t.teardown(srv.close)
  t.throws(() => srv.hub.channel('x:*', { events: { a: { type: 'object' } } } as never), {
    name: 'TypeError',
    message: 'the schema of "a" on "x:*" is not a Standard Schema (v1): pass a Zod, Valibot or ArkType schema, or one of your own with \'~standard\'',
  })
  t.throws(() => srv.hub.channel('y:*', { join: {} } as never), /the join schema of "y:\*" is not a Standard Schema/)
})
