import type { FactoryProvider, ModuleMetadata, Type } from '@nestjs/common'
import type { Assigns, ConnectHook, ConnectInfo, Hub, HubOptions } from '@hornbeam/channels'

/**
 * The connect hook as an injectable provider, so it can use the app's services (auth, users):
 * `connect(params, request, info)` runs before the upgrade, after the app's middleware. Return the
 * connection's first assigns, `true` to accept with none, or `false` to refuse with 403 (a throw
 * refuses too). `request` is the platform's: Express's `Request`, or Fastify's `FastifyRequest`.
 */
export interface ChannelsConnect<Request = any> {
  connect(
    params: Record<string, string>,
    request: Request,
    info: ConnectInfo,
  ): Assigns | boolean | undefined | void | Promise<Assigns | boolean | undefined | void>
}

/**
 * How `forRoot({ connect })` names the connect hook: a class implementing `ChannelsConnect` (the
 * provider listed in one of your modules, or else created by the channels module), the injection
 * token of such a provider, or a plain `connect(params, request, info)` function.
 */
export type ChannelsConnectOption = Type<ChannelsConnect> | string | symbol | ConnectHook<any>

/** `ChannelsModule.forRoot(options)`: the hub's options, plus where to mount it and the connect hook. */
export interface ChannelsModuleOptions extends Omit<HubOptions, 'connect'> {
  /** Where clients connect; `path + '/websocket'` is served too. Default '/ws'. */
  path?: string
  /** Serve the browser client at `<path>/hornbeam.js`. Default true. */
  serveClient?: boolean
  /** The connect hook: a `ChannelsConnect` provider class, its token, or a function. */
  connect?: ChannelsConnectOption
  /**
   * Mount an existing hub (shared with `hub.attach` or another app) instead of creating one: the
   * hub options and `connect` are then its own, and shutdown closes only the sockets this app
   * accepted (closing the hub is yours).
   */
  hub?: Hub
}

/** `ChannelsModule.forRootAsync(options)`: the options made by a factory with injected dependencies. */
export interface ChannelsModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  /** What the factory gets, in order (providers of `imports`, or global ones such as ConfigService). */
  inject?: FactoryProvider['inject']
  useFactory: (...args: any[]) => ChannelsModuleOptions | Promise<ChannelsModuleOptions>
}
