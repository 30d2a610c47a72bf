// The chat on Fastify: `npm start`, then open http://127.0.0.1:3000 in two windows.
// WORKERS=auto (with REDIS_URL): one process per core, sharing the port (node:cluster).
import Fastify from 'fastify'
import { runWorkers } from '@hornbeam/channels'
import channels from '@hornbeam/fastify'
import { adapterFromEnv, allowedHostsFromEnv, longPollFromEnv, chatPage, defineChat, keepServingOnUnhandledRejection, listenAddress, pathForLogs, workersFromEnv } from './chat.js'

async function start() {
  const app = Fastify({
    logger: {
      level: process.env.LOG_LEVEL ?? 'info',
      // Clients send their token in the query string: request logs show the path only.
      serializers: { req: (req) => ({ method: req.method, url: pathForLogs(req.url), remoteAddress: req.ip }) },
    },
  })
  keepServingOnUnhandledRejection((err) => app.log.error({ err }, 'unhandled rejection'))

  // One line: channels on /ws (and /ws/websocket), the client bundle on /ws/hornbeam.js.
  await app.register(channels, { path: '/ws', adapter: await adapterFromEnv(), allowedHosts: allowedHostsFromEnv(), longPoll: longPollFromEnv() })

  defineChat(app.channels, (line) => app.log.info(line))

  app.get('/', (_request, reply) => reply.type('text/html; charset=utf-8').send(chatPage))
  app.get('/healthz', () => ({ ok: true }))

  const { port, host } = listenAddress()
  const address = await app.listen({ port, host })
  console.log(`chat listening on ${address}`)

  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close())
}

// One process, or WORKERS of them forked with node:cluster (the primary restarts a crashed one).
await runWorkers(start, workersFromEnv())
