// The framework adapters are optional peers, loaded when the platform is known (the CommonJS
// build uses platforms-cjs.cts, which requires them). Typed structurally: the package's types do
// not depend on either adapter being installed.
import type { Hub } from '@hornbeam/channels'

/** What the module gives an adapter: the hub it made, and where to mount it. */
export interface MountWith {
  hub: Hub
  path?: string
  serveClient?: boolean
}

/** The part of @hornbeam/express the module uses. */
export interface ExpressAdapterModule {
  channelsMiddleware(options: MountWith): ((req: any, res: any, next: any) => void) & {
    attach(server: unknown, app?: unknown): () => void
    close(): Promise<void>
  }
}

/** The part of @hornbeam/fastify the module uses. */
export interface FastifyAdapterModule {
  channels: unknown
}

export function loadExpressAdapter(): Promise<ExpressAdapterModule> {
  return load<ExpressAdapterModule>('@hornbeam/express', 'platform-express')
}

export function loadFastifyAdapter(): Promise<FastifyAdapterModule> {
  return load<FastifyAdapterModule>('@hornbeam/fastify', 'platform-fastify')
}

// A specifier in a variable: the build does not need the adapters (nor their types).
function load<T>(name: string, platform: string): Promise<T> {
  return (import(name) as Promise<T>).catch((err: { code?: string }) => {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' && err?.code !== 'MODULE_NOT_FOUND') throw err
    throw new Error(`@hornbeam/nestjs: the app runs on @nestjs/${platform}, which needs ${name} (npm install ${name})`, { cause: err })
  })
}
