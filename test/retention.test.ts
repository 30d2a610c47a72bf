// An open socket must not keep its upgrade request alive (a few KB per connection): the request
// the connect hook saw is garbage once the socket is accepted, on every adapter.
import t from 'tap'
import v8 from 'node:v8'
import vm from 'node:vm'
import type { IncomingMessage } from 'node:http'
import express from 'express'
import Fastify from 'fastify'
import channels from '@hornbeam/fastify'
import { channelsMiddleware } from '@hornbeam/express'
import { RawClient, startServer, quietLogger } from './helpers/wire.js'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

/**
 * Collected after a few event-loop turns and full GCs: no clock. A turn between deref() and gc()
 * lets go of the WeakRef's own hold (kept until the end of the job that called deref()).
 */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    gc()
  }
  return ref.deref() === undefined
}

t.test('node:http attach', async (t) => {
  let seen: WeakRef<IncomingMessage> | undefined
  const srv = await startServer({ connect: (_p, req) => ((seen = new WeakRef(req as IncomingMessage)), {}) })
  t.teardown(srv.close)
  srv.hub.channel('x')
  const c = await RawClient.connect(srv.url())
  t.teardown(() => c.close())
  await c.join('x')
  t.ok(await collected(seen!), 'the upgrade request was collected while the socket stays open')
})

t.test('Fastify', async (t) => {
  let seen: WeakRef<IncomingMessage> | undefined
  const app = Fastify()
  await app.register(channels, { logger: quietLogger(), connect: (_p, request) => ((seen = new WeakRef(request.raw)), {}) })
  app.channel('x')
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const c = await RawClient.connect(`ws://127.0.0.1:${(app.server.address() as any).port}/ws`)
  t.teardown(() => c.close())
  await c.join('x')
  t.ok(await collected(seen!), 'the upgrade request was collected while the socket stays open')
})

t.test('Express', async (t) => {
  let seen: WeakRef<IncomingMessage> | undefined
  const app = express()
  const mw = channelsMiddleware({ logger: quietLogger(), connect: (_p, req) => ((seen = new WeakRef(req)), {}) })
  app.use(mw)
  mw.channel('x')
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  t.teardown(async () => {
    await mw.close()
    server.closeAllConnections()
    server.close()
  })
  const c = await RawClient.connect(`ws://127.0.0.1:${(server.address() as any).port}/ws`)
  t.teardown(() => c.close())
  await c.join('x')
  t.ok(await collected(seen!), 'the upgrade request was collected while the socket stays open')
})
