/**
 * The module's work at init and shutdown, all of it glue:
 *
 * - onModuleInit: finds the `@Channel` providers (DiscoveryService) and their decorated methods
 *   (MetadataScanner), registers each method as the core's hook on `hub.channel(pattern)`;
 *   resolves the connect provider; mounts the hub on the HTTP platform through its adapter
 *   (@hornbeam/express on platform-express, @hornbeam/fastify on platform-fastify). It runs in
 *   `app.init()` (or `listen()`), after Nest's middleware and routes are registered and before the
 *   404 handler, so whatever `app.use()` or a Nest middleware registered first runs on the upgrade.
 * - onModuleDestroy: closes the hub (1012 to clients, leave hooks, presence untracked), before
 *   Nest closes the HTTP server, which would otherwise wait for the upgraded sockets. A hub given
 *   with `forRoot({ hub })` is not closed: only the sockets this app accepted are.
 */
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common'
import { DiscoveryService, HttpAdapterHost, MetadataScanner, ModuleRef } from '@nestjs/core'
import type { ConnectHook, Hub } from '@hornbeam/channels'
import { CHANNELS_HUB, CHANNELS_MODULE_OPTIONS } from './constants.js'
import { channelMetadata, hookMetadata } from './decorators.js'
import type { ChannelsConnectOption, ChannelsModuleOptions } from './interfaces.js'
import { loadExpressAdapter, loadFastifyAdapter } from './platforms.js'

/** @internal Where the connect hook the hub calls is set once its provider is resolved. */
export class ConnectRef {
  hook: ConnectHook<any> | undefined
}

/** @internal */
@Injectable()
export class ChannelsExplorer implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('HornbeamChannels')
  /** For a shared hub (`forRoot({ hub })`): closes the sockets this app accepted. */
  private closeOwn: (() => Promise<void>) | undefined

  constructor(
    @Inject(CHANNELS_HUB) private readonly hub: Hub,
    @Inject(CHANNELS_MODULE_OPTIONS) private readonly options: ChannelsModuleOptions,
    @Inject(ConnectRef) private readonly connectRef: ConnectRef,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
  ) {}

  async onModuleInit(): Promise<void> {
    this.registerChannels()
    if (this.options.connect !== undefined) this.connectRef.hook = await this.resolveConnect(this.options.connect)
    await this.mount()
  }

  async onModuleDestroy(): Promise<void> {
    // The hub the module created: all of it. A shared one: the sockets this app accepted (on
    // Fastify, the plugin does that in its preClose hook, before the server closes).
    if (this.options.hub === undefined) await this.hub.close()
    else await this.closeOwn?.()
  }

  private registerChannels(): void {
    const seen = new Map<Function, string>()
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined
      if (wrapper.isAlias || instance === null || typeof instance !== 'object') continue
      const type = instance.constructor as Function
      const channel = channelMetadata(type)
      if (channel === undefined) continue
      const where = `${type.name} (provider in ${wrapper.host?.name ?? 'a module'})`
      if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
        throw new Error(`@hornbeam/nestjs: @Channel class ${where} must be a singleton (no request or transient scope, nor dependencies that have one)`)
      }
      const first = seen.get(type)
      if (first !== undefined) throw new Error(`@hornbeam/nestjs: @Channel class ${type.name} is provided twice (${first}, ${where}): list it in one module`)
      seen.set(type, where)

      let definition: ReturnType<Hub['channel']>
      try {
        definition = this.hub.channel(channel.pattern, channel.options)
      } catch (err) {
        throw new Error(`@hornbeam/nestjs: @Channel('${channel.pattern}') on ${type.name}: ${(err as Error).message}`, { cause: err })
      }
      const taken = new Map<string, string>()
      for (const method of this.scanner.getAllMethodNames(Object.getPrototypeOf(instance))) {
        for (const hook of hookMetadata(Object.getPrototypeOf(instance), method)) {
          const slot = hook.kind === 'event' ? `@OnEvent('${hook.event}')` : hook.kind === 'join' ? '@OnJoin()' : '@OnLeave()'
          const other = taken.get(slot)
          if (other !== undefined) throw new Error(`@hornbeam/nestjs: ${type.name} has two ${slot} methods (${other}, ${method})`)
          taken.set(slot, method)
          // Called through the instance each time: `this` is the provider, and a method replaced
          // on the instance (a test spy) is the one that runs. Fixed arities: no array per call.
          const target = instance as Record<string, (...args: any[]) => any>
          if (hook.kind === 'join') definition.onJoin((topic, topicParams, params, socket) => target[method]!(topic, topicParams, params, socket))
          else if (hook.kind === 'leave') definition.onLeave((topic, socket, reason) => target[method]!(topic, socket, reason))
          else definition.on(hook.event, (payload, socket) => target[method]!(payload, socket))
        }
      }
      this.logger.log(`${type.name} {${channel.pattern}}: ${[...taken.keys()].join(', ') || 'no hooks'}`)
    }
  }

  /** A class: its provider wherever it is listed, or else a new one made in this module's context. */
  private async resolveConnect(connect: ChannelsConnectOption): Promise<ConnectHook<any>> {
    if (typeof connect === 'function' && !isClass(connect)) return connect as ConnectHook<any>
    let provider: unknown
    try {
      provider = this.moduleRef.get(connect, { strict: false })
    } catch (err) {
      if (typeof connect !== 'function') throw err
      provider = await this.moduleRef.create(connect as new (...args: any[]) => unknown)
    }
    const hook = (provider as { connect?: unknown } | null)?.connect
    if (typeof hook === 'function') return hook.bind(provider)
    if (typeof provider === 'function') return provider as ConnectHook<any>
    throw new Error(`@hornbeam/nestjs: the connect provider ${describe(connect)} has no connect(params, request, info) method`)
  }

  private async mount(): Promise<void> {
    const adapter = this.adapterHost.httpAdapter
    if (adapter === undefined || adapter === null) {
      // An application context without HTTP (NestFactory.createApplicationContext): the hub
      // still broadcasts (to other nodes, through a cluster adapter), it just takes no sockets.
      this.logger.log('no HTTP adapter: the hub is not mounted')
      return
    }
    const { path, serveClient } = this.options
    const platform = adapter.getType()
    if (platform === 'express') {
      const { channelsMiddleware } = await loadExpressAdapter()
      const app = adapter.getInstance()
      const mw = channelsMiddleware({ hub: this.hub, path, serveClient })
      app.use(mw)
      // Upgrades run through the Express app: the middleware before ours can answer them.
      mw.attach(adapter.getHttpServer(), app)
      this.closeOwn = () => mw.close()
    } else if (platform === 'fastify') {
      const { channels } = await loadFastifyAdapter()
      await adapter.getInstance().register(channels, { hub: this.hub, path, serveClient })
    } else {
      throw new Error(`@hornbeam/nestjs: no channels adapter for the "${platform}" HTTP platform (express and fastify are supported)`)
    }
  }
}

function isClass(fn: Function): boolean {
  return typeof (fn.prototype as { connect?: unknown } | undefined)?.connect === 'function' || /^class[\s{]/.test(Function.prototype.toString.call(fn))
}

function describe(token: unknown): string {
  return typeof token === 'function' ? token.name : String(token)
}
