// The rules every framework adapter shares through @hornbeam/channels/adapter, checked on each:
// one hub shared by two adapters, where closing one closes only its own sockets; an adapter
// that created its hub closes it; serveClient.
import type { AddressInfo } from 'node:net'
import { createServer, type Server } from 'node:http'
import { createRequire } from 'node:module'
import t from 'tap'
import express from 'express'
import Fastify from 'fastify'
import { createHub, type Hub } from '@hornbeam/channels'
import { channels } from '@hornbeam/fastify'
import { channelsMiddleware } from '@hornbeam/express'
import Koa from 'koa'
import { channels as koaChannels } from '@hornbeam/koa'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { createChannels } from '@hornbeam/hono'
import { RawClient, quietLogger } from './helpers/wire.js'

const require = createRequire(import.meta.url)

interface Mounted {
  url: string
  http: (path: string) => Promise<Response>
  /** The adapter's own shutdown. */
  close: () => Promise<void>
}

type Options = { hub?: Hub; serveClient?: boolean }

/**
 * @hornbeam/nestjs: ChannelsModule.forRoot(options) in an app on either Nest platform. NestJS 12
 * is ESM-only and tap's TypeScript loader mis-resolves its `"./*.js"` exports, so Nest (and the
 * package's CommonJS build) load through require(), which uses Node's own resolver.
 */
async function nest(platform: 'express' | 'fastify', options: Options): Promise<Mounted> {
  const { Module } = require('@nestjs/common') as typeof import('@nestjs/common')
  const { NestFactory } = require('@nestjs/core') as typeof import('@nestjs/core')
  const { FastifyAdapter } = require('@nestjs/platform-fastify') as typeof import('@nestjs/platform-fastify')
  const { ChannelsModule } = require('@hornbeam/nestjs') as typeof import('@hornbeam/nestjs')
  class AppModule {}
  Module({ imports: [ChannelsModule.forRoot({ logger: quietLogger(), ...options })] })(AppModule)
  const app =
    platform === 'fastify'
      ? await NestFactory.create(AppModule, new FastifyAdapter(), { logger: false })
      : await NestFactory.create(AppModule, { logger: false })
  await app.listen(0, '127.0.0.1')
  const base = `127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`
  return { url: `ws://${base}/ws/websocket`, http: (p) => fetch(`http://${base}${p}`), close: () => app.close() }
}

const adapters: Record<string, (options: Options) => Promise<Mounted>> = {
  async fastify(options) {
    const app = Fastify()
    await app.register(channels, { logger: quietLogger(), ...options })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `127.0.0.1:${(app.server.address() as AddressInfo).port}`
    return { url: `ws://${base}/ws/websocket`, http: (p) => fetch(`http://${base}${p}`), close: () => app.close() }
  },
  async express(options) {
    const app = express()
    const mw = channelsMiddleware({ logger: quietLogger(), ...options })
    app.use(mw)
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s))
    })
    const base = `127.0.0.1:${(server.address() as AddressInfo).port}`
    return {
      url: `ws://${base}/ws/websocket`,
      http: (p) => fetch(`http://${base}${p}`),
      close: async () => {
        await mw.close()
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      },
    }
  },
  async koa(options) {
    const app = new Koa()
    const mw = koaChannels({ logger: quietLogger(), ...options })
    app.use(mw)
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s))
    })
    const base = `127.0.0.1:${(server.address() as AddressInfo).port}`
    return {
      url: `ws://${base}/ws/websocket`,
      http: (p) => fetch(`http://${base}${p}`),
      close: async () => {
        await mw.close()
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      },
    }
  },
  async hono(options) {
    const channels = createChannels({ logger: quietLogger(), ...options })
    const app = channels.routes(new Hono().use(channels.middleware))
    const server: Server = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', websocket: channels.websocket }, () => resolve(s as Server))
    })
    const base = `127.0.0.1:${(server.address() as AddressInfo).port}`
    return {
      url: `ws://${base}/ws/websocket`,
      http: (p) => fetch(`http://${base}${p}`),
      close: async () => {
        await channels.close()
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      },
    }
  },
  'nestjs (platform-express)': (options) => nest('express', options),
  'nestjs (platform-fastify)': (options) => nest('fastify', options),
}

for (const [name, mount] of Object.entries(adapters)) {
  t.test(`${name}: given a shared hub, closing closes only its own sockets`, async (t) => {
    const hub = createHub({ logger: quietLogger() })
    t.teardown(() => hub.close())
    hub.channel('room:*').on('ping', () => ['reply', { pong: true }])
    // The same hub behind a plain node:http server too: its socket must outlive the adapter.
    const other = createServer()
    hub.attach(other)
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
    t.teardown(() => new Promise((resolve) => (other.closeAllConnections(), other.close(resolve))))
    const adapter = await mount({ hub })
    const mine = await RawClient.connect(adapter.url)
    const theirs = await RawClient.connect(`ws://127.0.0.1:${(other.address() as AddressInfo).port}/ws/websocket`)
    t.teardown(() => theirs.close())
    const { joinRef } = await theirs.join('room:1')
    await mine.join('room:1')
    t.equal(hub.stats().connections, 2)
    await adapter.close()
    t.equal((await mine.waitForClose()).code, 1012, "the adapter's socket got 1012")
    t.same(await theirs.push(joinRef, 'room:1', 'ping'), { status: 'ok', response: { pong: true } }, 'the other socket lives on')
    t.equal(hub.stats().connections, 1)
  })

  t.test(`${name}: an adapter that created its hub closes it`, async (t) => {
    const adapter = await mount({})
    const c = await RawClient.connect(adapter.url)
    await adapter.close()
    t.equal((await c.waitForClose()).code, 1012)
  })

  t.test(`${name}: serveClient serves the browser bundle, and can be turned off`, async (t) => {
    const on = await mount({})
    t.teardown(on.close)
    const res = await on.http('/ws/hornbeam.js')
    t.equal(res.status, 200)
    t.match(await res.text(), /Hornbeam/)
    const off = await mount({ serveClient: false })
    t.teardown(off.close)
    t.equal((await off.http('/ws/hornbeam.js')).status, 404, 'not served')
  })
}
