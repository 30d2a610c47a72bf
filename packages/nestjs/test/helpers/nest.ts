/** A Nest app on platform-express or platform-fastify, listening on port 0, as users start one. */
import type { AddressInfo } from 'node:net'
import { request as httpRequest } from 'node:http'
import { createRequire } from 'node:module'
import type { Server } from 'node:http'
import type { INestApplication } from '@nestjs/common'
import type { Hub } from '@hornbeam/channels'

const require = createRequire(import.meta.url)

export type Platform = 'express' | 'fastify'
export const platforms: Platform[] = ['express', 'fastify']

export interface NestServer {
  app: INestApplication
  hub: Hub
  port: number
  url: (path?: string) => string
  http: (path: string, init?: RequestInit) => Promise<Response>
  /** app.close(), once (the teardown closes it otherwise). */
  close: () => Promise<void>
  /** Resolves the app's provider (or anything its container has). */
  get: <T = any>(token: unknown) => T
}

/** Nest's own classes, from NestJS 12 (the root) by default, or another install (the Nest 11 smoke test). */
export interface NestRuntime {
  NestFactory: typeof import('@nestjs/core').NestFactory
  FastifyAdapter?: new () => any
  CHANNELS_HUB: symbol
}

/** NestJS 12 through require() (see helpers/fixtures.ts), with this package's CommonJS build. */
export function defaultRuntime(): NestRuntime {
  const { NestFactory } = require('@nestjs/core') as typeof import('@nestjs/core')
  const { FastifyAdapter } = require('@nestjs/platform-fastify') as typeof import('@nestjs/platform-fastify')
  const { CHANNELS_HUB } = require('@hornbeam/nestjs') as typeof import('@hornbeam/nestjs')
  return { NestFactory, FastifyAdapter, CHANNELS_HUB }
}

/** `before(app)` runs after NestFactory.create and before listen (app.use, enableShutdownHooks, ...). */
export async function startNest(
  t: { teardown: (fn: () => unknown) => void },
  platform: Platform,
  module: unknown,
  { runtime, before }: { runtime?: NestRuntime; before?: (app: INestApplication) => void | Promise<void> } = {},
): Promise<NestServer> {
  const { NestFactory, FastifyAdapter, CHANNELS_HUB } = runtime ?? defaultRuntime()
  const logger = process.env.HB_TEST_LOG ? undefined : (false as const)
  const app: INestApplication =
    platform === 'fastify'
      ? await NestFactory.create(module as any, new FastifyAdapter!(), { logger, abortOnError: false })
      : await NestFactory.create(module as any, { logger, abortOnError: false })
  let closing: Promise<void> | undefined
  const close = () => (closing ??= app.close())
  t.teardown(close)
  await before?.(app)
  await app.listen(0, '127.0.0.1')
  const port = ((app.getHttpServer() as Server).address() as AddressInfo).port
  return {
    app,
    hub: app.get(CHANNELS_HUB),
    port,
    url: (path = '/ws/websocket') => `ws://127.0.0.1:${port}${path}`,
    http: (path, init) => fetch(`http://127.0.0.1:${port}${path}`, init),
    close,
    get: (token) => app.get(token as any, { strict: false }),
  }
}

/** A raw upgrade request: the status, the body, and whether the server then closed the connection. */
export function rawUpgrade(port: number, path: string): Promise<{ status: number; body: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      path,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    })
    req.on('upgrade', (_res, socket) => (socket.destroy(), reject(new Error('upgraded'))))
    req.on('response', (res) => {
      const socket = res.socket
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => {
        const done = () => resolve({ status: res.statusCode!, body, closed: true })
        if (socket.destroyed) done()
        else socket.once('close', done)
      })
    })
    req.on('error', reject)
    req.end()
  })
}
