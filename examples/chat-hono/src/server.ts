// The chat on Hono: `npm start`, then open http://127.0.0.1:3000 in two windows.
// WORKERS=auto (with REDIS_URL): one process per core, sharing the port (node:cluster).
import { runWorkers } from '@hornbeam/channels'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { createChannels, type ChannelsEnv } from '@hornbeam/hono'
import { adapterFromEnv, allowedHostsFromEnv, longPollFromEnv, chatPage, defineChat, keepServingOnUnhandledRejection, listenAddress, workersFromEnv } from './chat.js'

async function start() {
  keepServingOnUnhandledRejection()

  // Channels on /ws (and /ws/websocket), the client bundle on /ws/hornbeam.js.
  const channels = createChannels({ path: '/ws', adapter: await adapterFromEnv(), allowedHosts: allowedHostsFromEnv(), longPoll: longPollFromEnv() })
  defineChat(channels.hub)

  const app = new Hono<ChannelsEnv>()
  app.use(channels.middleware) // c.var.channels in every handler below
  channels.routes(app)

  app.get('/', (c) => c.html(chatPage))
  app.get('/healthz', (c) => c.json({ ok: true }))

  // A REST route that talks to the sockets: `{"body": "..."}` to everyone in the room, as "system".
  app.post('/rooms/:id/announce', async (c) => {
    const { body } = await c.req.json<{ body?: unknown }>().catch(() => ({ body: undefined }))
    if (typeof body !== 'string' || !body) return c.json({ error: 'body must be a non-empty string' }, 400)
    await c.var.channels.broadcast(`room:${c.req.param('id')}`, 'new_msg', { username: 'system', body })
    return c.json({ sent: true }, 202)
  })

  await channels.hub.ready() // with REDIS_URL: connected before the first client
  const { port, host } = listenAddress()
  // websocket: node-server upgrades the channel sockets with the hub's own ws server.
  const server = serve({ fetch: app.fetch, port, hostname: host, websocket: channels.websocket }, (info) => {
    console.log(`chat listening on http://${host}:${info.port}`)
  })
  server.once('error', (err) => {
    // Address in use, permission denied: report it as it is.
    console.error(`chat could not listen on ${host}:${port}: ${err.message}`)
    process.exit(1)
  })

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void channels.close().then(() => server.close()))
  }
}

// One process, or WORKERS of them forked with node:cluster (the primary restarts a crashed one).
await runWorkers(start, workersFromEnv())
