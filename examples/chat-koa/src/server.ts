// The chat on Koa: `npm start`, then open http://127.0.0.1:3000 in two windows.
// WORKERS=auto (with REDIS_URL): one process per core, sharing the port (node:cluster).
import type { AddressInfo } from 'node:net'
import { runWorkers } from '@hornbeam/channels'
import Koa from 'koa'
import { channels } from '@hornbeam/koa'
import { adapterFromEnv, allowedHostsFromEnv, longPollFromEnv, chatPage, defineChat, keepServingOnUnhandledRejection, listenAddress, pathForLogs, workersFromEnv } from './chat.js'

async function start() {
  keepServingOnUnhandledRejection()
  const app = new Koa()

  // Request log (LOG_LEVEL info or lower): paths only, since clients send their token in the query string.
  if (['trace', 'debug', 'info'].includes(process.env.LOG_LEVEL ?? 'info')) {
    app.use(async (ctx, next) => {
      const log = () => console.log(`${ctx.method} ${pathForLogs(ctx.originalUrl)} ${ctx.respond === false ? 'upgrade' : ctx.status}`)
      ctx.res.once('finish', log) // after Koa's own error responses too
      await next()
      if (ctx.respond === false) log() // an upgrade the channels middleware handed to the hub: no response
    })
  }

  // One line: channels on /ws (and /ws/websocket), the client bundle on /ws/hornbeam.js.
  const chat = channels({ path: '/ws', adapter: await adapterFromEnv(), allowedHosts: allowedHostsFromEnv(), longPoll: longPollFromEnv() })
  app.use(chat)

  defineChat(chat.hub)

  app.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/') {
      ctx.type = 'html'
      ctx.body = chatPage
    } else if (ctx.method === 'GET' && ctx.path === '/healthz') {
      ctx.body = { ok: true }
    } else if (ctx.method === 'POST' && /^\/rooms\/[^/]+\/announce$/.test(ctx.path)) {
      // A REST route that broadcasts from the request context: {"body": "..."} to every member of the room.
      const id = ctx.path.split('/')[2]!
      const { body } = await readJson(ctx)
      if (typeof body !== 'string' || !body) ctx.throw(400, 'expected {"body": "<message>"}')
      await ctx.channels.broadcast(`room:${decodeURIComponent(id)}`, 'new_msg', { username: 'system', body })
      ctx.status = 202
      ctx.body = { sent: true }
    } else {
      await next()
    }
  })

  /** A request's JSON object body, at most 16 KiB (Koa has no body parser of its own). */
  async function readJson(ctx: Koa.Context): Promise<Record<string, unknown>> {
    if (!ctx.is('application/json')) ctx.throw(415, 'expected application/json')
    let raw = ''
    ctx.req.setEncoding('utf8')
    for await (const chunk of ctx.req) {
      raw += chunk
      if (raw.length > 16 * 1024) ctx.throw(413, 'body too large')
    }
    try {
      const value: unknown = JSON.parse(raw)
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>
    } catch {}
    ctx.throw(400, 'expected a JSON object')
  }

  await chat.hub.ready() // a cluster adapter (REDIS_URL) connects before the app listens

  const { port, host } = listenAddress()
  const server = app.listen(port, host, () => {
    const { port: actual } = server.address() as AddressInfo
    console.log(`chat listening on http://${host}:${actual}`)
  })
  // Address in use, permission denied: report it as it is.
  server.on('error', (err) => {
    console.error(`chat could not listen on ${host}:${port}: ${err.message}`)
    process.exit(1)
  })

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void chat.close().then(() => server.close()))
  }
}

// One process, or WORKERS of them forked with node:cluster (the primary restarts a crashed one).
await runWorkers(start, workersFromEnv())
