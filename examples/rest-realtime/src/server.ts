// `npm run build && node examples/rest-realtime/dist/server.js`, then try the README's curl lines.
import { buildApp } from './app.js'

// Socket clients send their token in the query string: request logs show the path only.
const path = (url = '/') => (url.includes('?') ? `${url.slice(0, url.indexOf('?'))}?…` : url)
const app = await buildApp({ logger: { serializers: { req: (req: { method: string; url?: string }) => ({ method: req.method, url: path(req.url) }) } } })
process.on('unhandledRejection', (err) => app.log.error({ err }, 'unhandled rejection: still serving'))
const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' })
console.log(`rest-realtime listening on ${address}`)
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close())
