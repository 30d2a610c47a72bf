import type { StandardSchemaV1 } from './standard-schema.js'

/** What a failed check answers: a short sentence and, when the schema said, what was wrong where. */
export interface InvalidPayload {
  reason: string
  issues?: Array<{ message: string; path: Array<string | number> }>
}

export type Checked =
  | { ok: true; value: unknown }
  | { ok: false; response: InvalidPayload; err?: unknown }

/** At most this many issues go back to the client: a huge invalid payload must not make a huge reply. */
const MAX_ISSUES = 20

/**
 * Runs a Standard Schema over a payload. Synchronous schemas answer synchronously (no promise
 * on the hot path); an async one is bounded by `timeoutMs`. A schema that throws or rejects
 * answers an error too, with `err` set for the log.
 */
export function check(schema: StandardSchemaV1, value: unknown, what: string, timeoutMs: number): Checked | Promise<Checked> {
  let result: StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>
  try {
    result = schema['~standard'].validate(value)
    if (typeof (result as Partial<Promise<unknown>> | null)?.then === 'function') {
      return bounded(Promise.resolve(result), what, timeoutMs)
    }
    return outcome(result as StandardSchemaV1.Result<unknown>, what)
  } catch (err) {
    // It threw, or gave something that is not a result (null, no issues array, ...).
    return failedToRun(err)
  }
}

function outcome(result: StandardSchemaV1.Result<unknown>, what: string): Checked {
  if (result.issues === undefined) return { ok: true, value: result.value }
  return {
    ok: false,
    response: {
      reason: `${what} did not match the schema`,
      issues: result.issues.slice(0, MAX_ISSUES).map((issue) => ({ message: String(issue.message), path: pathOf(issue.path) })),
    },
  }
}

function bounded(pending: Promise<StandardSchemaV1.Result<unknown>>, what: string, timeoutMs: number): Promise<Checked> {
  return new Promise<Checked>((resolve) => {
    const timer = setTimeout(() => resolve({ ok: false, response: { reason: `${what} took too long to validate` } }), timeoutMs)
    timer.unref?.()
    pending.then(
      (result) => {
        clearTimeout(timer)
        try {
          resolve(outcome(result, what))
        } catch (err) {
          resolve(failedToRun(err))
        }
      },
      (err) => {
        clearTimeout(timer)
        resolve(failedToRun(err))
      },
    )
  })
}

function failedToRun(err: unknown): Checked {
  return { ok: false, response: { reason: 'the server could not validate this' }, err }
}

function pathOf(path: StandardSchemaV1.Issue['path']): Array<string | number> {
  if (path === undefined) return []
  return path.map((segment) => {
    const key = typeof segment === 'object' && segment !== null ? segment.key : segment
    return typeof key === 'number' || typeof key === 'string' ? key : String(key)
  })
}
