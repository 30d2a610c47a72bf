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

/** Calls `fn`; hands its value (or its promise's) to `onValue`, and what it throws to `onError`. */
export function settle<T>(
  fn: () => T | Promise<T>,
  onValue: (value: T) => unknown,
  onError: (err: unknown) => unknown,
): unknown {
  let result: T | Promise<T>
  try {
    result = fn()
  } catch (err) {
    return onError(err)
  }
  if (result !== null && typeof result === 'object' && typeof (result as Promise<T>).then === 'function') {
    return (result as Promise<T>).then(onValue, onError)
  }
  return onValue(result as T)
}
