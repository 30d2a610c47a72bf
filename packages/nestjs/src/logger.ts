import { Logger as NestLogger } from '@nestjs/common'
import type { Logger } from '@hornbeam/channels'

/**
 * The hub's logger, written to Nest's `Logger` (context 'HornbeamChannels'), so its warnings and
 * errors go wherever the app's logs go (`app.useLogger(...)`, log levels). The hub logs
 * `(fields, message)`; here the message, then the fields as JSON, and an error's stack.
 */
export function nestLogger(context = 'HornbeamChannels'): Logger {
  const logger = new NestLogger(context)
  return {
    debug: (obj, msg) => logger.debug(render(obj, msg).text),
    info: (obj, msg) => logger.log(render(obj, msg).text),
    warn: (obj, msg) => logger.warn(render(obj, msg).text),
    error: (obj, msg) => {
      const { text, stack } = render(obj, msg)
      logger.error(text, stack)
    },
  }
}

function render(obj: unknown, msg: string | undefined): { text: string; stack?: string } {
  if (typeof obj === 'string') return { text: msg === undefined ? obj : `${msg} ${obj}` }
  const fields: Record<string, unknown> = obj instanceof Error ? { err: obj } : { ...(obj as object) }
  const err = fields.err instanceof Error ? fields.err : undefined
  delete fields.err
  let text = msg ?? err?.message ?? ''
  if (err !== undefined && msg !== undefined) text += `: ${err.message}`
  if (Object.keys(fields).length > 0) text += ` ${json(fields)}`
  return { text, stack: err?.stack }
}

function json(value: unknown): string {
  try {
    return JSON.stringify(value)
  } catch {
    return String(value)
  }
}
