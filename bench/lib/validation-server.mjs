// The server of bench/validation.mjs, in its own process: one hub on node:http with the same
// handler behind three channels, `plain:*` (no schema), `zod:*` and `valibot:*` (a small schema
// for the pushed event). Between `start` and `stop` it measures its own CPU time.
import { createServer } from 'node:http'
import { importPackage } from './packages.mjs'

const { createHub } = (await importPackage('@hornbeam/channels', 'channels')).mod
const { z } = await import('zod')
const v = await import('valibot')

const hub = createHub({ messagesPerSecond: 0, joinsPerSecond: 0, idleTimeoutMs: 3_600_000, history: false })
// The same small message shape in each library: what a chat's new_msg carries.
const schemas = {
  zod: z.object({ body: z.string().max(2000), n: z.number().int().nonnegative() }),
  valibot: v.object({ body: v.pipe(v.string(), v.maxLength(2000)), n: v.pipe(v.number(), v.integer(), v.minValue(0)) }),
}
const handler = (payload) => ['reply', { n: payload.n }]
hub.channel('plain:*').on('msg', handler)
hub.channel('zod:*', { events: { msg: schemas.zod } }).on('msg', handler)
hub.channel('valibot:*', { events: { msg: schemas.valibot } }).on('msg', handler)

const server = createServer()
hub.attach(server)
server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }))

let cpuAt
process.on('message', async (m) => {
  let result
  if (m.op === 'start') {
    globalThis.gc?.()
    cpuAt = process.cpuUsage()
  } else if (m.op === 'stop') {
    const d = process.cpuUsage(cpuAt)
    result = { cpuMicros: d.user + d.system, invalid: hub.stats().invalidPayloads ?? 0 }
  } else if (m.op === 'micro') {
    // The schema call alone, in a loop: what the push path adds, without the socket's noise.
    result = {}
    for (const [name, schema] of Object.entries(schemas)) {
      const value = { body: 'hello, this is a chat message', n: 1 }
      for (let i = 0; i < 20_000; i++) schema['~standard'].validate(value)
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < m.iterations; i++) schema['~standard'].validate(value)
      result[name] = Number(process.hrtime.bigint() - t0) / m.iterations
    }
  } else if (m.op === 'exit') {
    await hub.close()
    process.exit(0)
  }
  process.send({ id: m.id, result })
})
process.on('disconnect', () => process.exit(0))
