// The chat on NestJS: `npm start`, then open http://127.0.0.1:3000 in two windows.
// platform-express by default; `PLATFORM=fastify npm start` for platform-fastify.
// WORKERS=auto (with REDIS_URL): one process per core, sharing the port (node:cluster).
import { Logger, type INestApplication, type LogLevel } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import type { AddressInfo } from 'node:net'
import { AppModule } from './app.module.js'
import { runWorkers } from '@hornbeam/channels'
import { keepServingOnUnhandledRejection, listenAddress, workersFromEnv } from './chat.js'

async function start() {
  const logger = new Logger('Chat')
  keepServingOnUnhandledRejection((err) => logger.error(`unhandled rejection: ${err}`, (err as Error)?.stack))

  const platform = process.env.PLATFORM ?? 'express'
  if (platform !== 'express' && platform !== 'fastify') {
    console.error(`PLATFORM must be express or fastify, not ${platform}`)
    process.exit(1)
  }
  const options = { logger: logLevels(process.env.LOG_LEVEL ?? 'log') }
  let app: INestApplication
  if (platform === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify')
    app = await NestFactory.create(AppModule, new FastifyAdapter(), options)
  } else {
    app = await NestFactory.create(AppModule, options)
  }
  // SIGINT and SIGTERM: the channels module closes the hub first (clients get 1012 and reconnect
  // elsewhere, leave hooks run, presence is untracked), then Nest closes the server.
  app.enableShutdownHooks()

  const { port, host } = listenAddress()
  try {
    await app.listen(port, host)
  } catch (err) {
    // Address in use, permission denied: report it as it is.
    console.error(`chat could not listen on ${host}:${port}: ${(err as Error).message}`)
    process.exit(1)
  }
  const { port: actual } = app.getHttpServer().address() as AddressInfo
  console.log(`chat listening on http://${host}:${actual}`)
}

// One process, or WORKERS of them forked with node:cluster (the primary restarts a crashed one).
await runWorkers(start, workersFromEnv())

/** LOG_LEVEL (Nest's levels, or `info` for `log`): that level and the ones above it. */
function logLevels(level: string): LogLevel[] {
  const levels: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose']
  const index = levels.indexOf((level === 'info' ? 'log' : level) as LogLevel)
  return levels.slice(0, index < 0 ? 4 : index + 1)
}
