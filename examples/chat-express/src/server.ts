// The seed's chat on Express: `npm run start:express` at the repository root.
import express from 'express'
import { channelsMiddleware } from '@hornbeam/express'
import { adapterFromEnv, allowedHostsFromEnv, chatPage, defineChat, keepServingOnUnhandledRejection, listenAddress } from '@hornbeam/example-chat-shared'

keepServingOnUnhandledRejection()
const app = express()

// One line: channels on /ws (and /ws/websocket), the client bundle on /ws/hornbeam.js.
app.use(channelsMiddleware({ path: '/ws', adapter: await adapterFromEnv(), allowedHosts: allowedHostsFromEnv() }))

defineChat(app.channels)

app.get('/', (_req, res) => void res.type('html').send(chatPage))

const { port, host } = listenAddress()
const server = app.listen(port, host, () => {
  const { port: actual } = server.address() as import('node:net').AddressInfo
  console.log(`chat listening on http://${host}:${actual}`)
})

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void app.channels.close().then(() => server.close()))
}
