export { RedisAdapter, redisAdapter } from './adapter.js'
export type { RedisAdapterStats } from './stats.js'
export { DEFAULT_URL } from './options.js'
export type { RedisAdapterOptions } from './options.js'
