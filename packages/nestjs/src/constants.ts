/** Injection token of the hub the module creates: `@Inject(CHANNELS_HUB) hub: Hub` (or `@InjectHub()`). */
export const CHANNELS_HUB = Symbol.for('@hornbeam/nestjs:hub')

/** Injection token of the options given to `forRoot` (or made by `forRootAsync`'s factory). */
export const CHANNELS_MODULE_OPTIONS = Symbol.for('@hornbeam/nestjs:options')

/** @internal Metadata keys: the class's pattern and options, and each method's hooks. */
export const CHANNEL_METADATA = '@hornbeam/nestjs:channel'
/** @internal */
export const CHANNEL_HOOKS_METADATA = '@hornbeam/nestjs:hooks'
