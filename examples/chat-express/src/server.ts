// The chat on Express: `npm start`, then open http://127.0.0.1:3000 in two windows.
// WORKERS=auto (with REDIS_URL): one process per core, sharing the port (node:cluster).
import express from 'express'
import { runWorkers } from '@hornbeam/channels'
import { channelsMiddleware } from '@hornbeam/express'
import { adapterFromEnv, allowedHostsFromEnv, longPollFromEnv, chatPage, defineChat, keepServingOnUnhandledRejection, listenAddress, workersFromEnv } from './chat.js'

async function start() {
  keepServingOnUnhandledRejection()
  const app = express()

  // One line: channels on /ws (and /ws/websocket), the client bundle on /ws/hornbeam.js.
  const channels = channelsMiddleware({ path: '/ws', adapter: await adapterFromEnv(), allowedHosts: allowedHostsFromEnv(), longPoll: longPollFromEnv() })
  app.use(channels)

  defineChat(app.channels)

  app.get('/', (_req, res) => void res.type('html').send(chatPage))
  app.get('/healthz', (_req, res) => void res.json({ ok: true }))

  const { port, host } = listenAddress()
  const server = app.listen(port, host, (err?: Error) => {
    // Express 5 passes a listen error here (address in use, permission denied): report it as it is.
    if (err) {
      console.error(`chat could not listen on ${host}:${port}: ${err.message}`)
      process.exit(1)
    }
    const { port: actual } = server.address() as import('node:net').AddressInfo
    console.log(`chat listening on http://${host}:${actual}`)
  })

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void channels.close().then(() => server.close()))
  }
}

// One process, or WORKERS of them forked with node:cluster (the primary restarts a crashed one).
await runWorkers(start, workersFromEnv())
