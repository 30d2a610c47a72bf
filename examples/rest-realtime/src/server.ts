// `npm run build && node examples/rest-realtime/dist/server.js`, then try the README's curl lines.
import { buildApp } from './app.js'

const app = await buildApp({ logger: true })
const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' })
console.log(`rest-realtime listening on ${address}`)
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close())
