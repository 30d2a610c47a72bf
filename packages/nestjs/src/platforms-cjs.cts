// The CommonJS build's platforms.ts: require, so a CommonJS app loads the adapters' CommonJS
// builds (one copy of @hornbeam/channels, not one per module format).
import type { ExpressAdapterModule, FastifyAdapterModule, MountWith } from './platforms.js'

export type { ExpressAdapterModule, FastifyAdapterModule, MountWith }

export function loadExpressAdapter(): Promise<ExpressAdapterModule> {
  return load<ExpressAdapterModule>('@hornbeam/express', 'platform-express')
}

export function loadFastifyAdapter(): Promise<FastifyAdapterModule> {
  return load<FastifyAdapterModule>('@hornbeam/fastify', 'platform-fastify')
}

async function load<T>(name: string, platform: string): Promise<T> {
  try {
    return require(name) as T
  } catch (err) {
    if ((err as { code?: string })?.code !== 'MODULE_NOT_FOUND') throw err
    throw new Error(`@hornbeam/nestjs: the app runs on @nestjs/${platform}, which needs ${name} (npm install ${name})`, { cause: err })
  }
}
