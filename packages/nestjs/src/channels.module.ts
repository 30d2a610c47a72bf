import { Module, type DynamicModule, type Provider } from '@nestjs/common'
import { DiscoveryModule } from '@nestjs/core'
import { createHub, type Hub } from '@hornbeam/channels'
import { ChannelsExplorer, ConnectRef } from './channels.explorer.js'
import { ChannelsService } from './channels.service.js'
import { CHANNELS_HUB, CHANNELS_MODULE_OPTIONS } from './constants.js'
import type { ChannelsModuleAsyncOptions, ChannelsModuleOptions } from './interfaces.js'
import { nestLogger } from './logger.js'

/**
 * Hornbeam channels for a Nest app: `ChannelsModule.forRoot({ path: '/ws' })` in the root module.
 * The module is global: `ChannelsService` (and the hub, `CHANNELS_HUB`) can be injected anywhere.
 * It creates the hub, registers the `@Channel` providers on it at init, mounts it on the HTTP
 * platform (Express or Fastify) and closes it on shutdown.
 */
@Module({})
export class ChannelsModule {
  static forRoot(options: ChannelsModuleOptions = {}): DynamicModule {
    return ChannelsModule.build({ provide: CHANNELS_MODULE_OPTIONS, useValue: options })
  }

  /** The options from a factory: `forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: (config) => ({ ... }) })`. */
  static forRootAsync(options: ChannelsModuleAsyncOptions): DynamicModule {
    return ChannelsModule.build(
      { provide: CHANNELS_MODULE_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] },
      options.imports ?? [],
    )
  }

  private static build(optionsProvider: Provider, imports: NonNullable<ChannelsModuleAsyncOptions['imports']> = []): DynamicModule {
    return {
      module: ChannelsModule,
      global: true,
      imports: [DiscoveryModule, ...imports],
      providers: [
        optionsProvider,
        ConnectRef,
        { provide: CHANNELS_HUB, useFactory: makeHub, inject: [CHANNELS_MODULE_OPTIONS, ConnectRef] },
        ChannelsService,
        ChannelsExplorer,
      ],
      exports: [ChannelsService, CHANNELS_HUB],
    }
  }
}

async function makeHub(options: ChannelsModuleOptions, connectRef: ConnectRef): Promise<Hub> {
  const { path: _path, serveClient: _serveClient, hub: given, connect, logger, ...hubOptions } = options
  if (given !== undefined) {
    if (connect !== undefined) throw new Error('@hornbeam/nestjs: `connect` applies to a hub the module creates; give a shared `hub` its connect hook with createHub({ connect })')
    await given.ready()
    return given
  }
  const hub = createHub({
    ...hubOptions,
    logger: logger ?? nestLogger(),
    // Resolved at init (the provider may need the whole app); no request comes before that.
    connect:
      connect === undefined
        ? undefined
        : (params, request, info) => {
            if (connectRef.hook === undefined) throw new Error('@hornbeam/nestjs: an upgrade before the module was initialized')
            return connectRef.hook(params, request, info)
          },
  })
  // A cluster adapter (Redis) connects before the app starts; if it cannot, the app does not start.
  await hub.ready().catch(async (err: unknown) => {
    await hub.close()
    throw err
  })
  return hub
}
