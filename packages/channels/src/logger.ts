/** The subset of a pino/Fastify/console logger the hub writes to. */
export interface Logger {
  debug(obj: unknown, msg?: string): void
  info(obj: unknown, msg?: string): void
  warn(obj: unknown, msg?: string): void
  error(obj: unknown, msg?: string): void
}

const noop = () => {}

/** Default: warnings and errors to the console, nothing else. */
export const consoleLogger: Logger = {
  debug: noop,
  info: noop,
  warn: (obj, msg) => console.warn('[hornbeam]', msg ?? '', obj),
  error: (obj, msg) => console.error('[hornbeam]', msg ?? '', obj),
}

export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop }
