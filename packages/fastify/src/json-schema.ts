/**
 * JSON Schemas for channel joins and events, validated the way Fastify validates routes: with the
 * app's validator compiler when it has one (setValidatorCompiler, or the one Fastify built for
 * its routes), else with Fastify's own default, Ajv through @fastify/ajv-compiler, with the
 * schemas the app added with `addSchema`. Each becomes a Standard Schema, which the core runs.
 */
import type { FastifyInstance, FastifySchema } from 'fastify'
import { AjvCompiler } from '@fastify/ajv-compiler'
import type { StandardSchemaV1 } from '@hornbeam/channels'

/** A JSON Schema object (draft 7, as Fastify's Ajv takes it). */
export type JsonSchema = Record<string, unknown>

type Validate = (data: unknown) => unknown
type Compiler = (route: { schema: FastifySchema; method: string; url: string; httpPart: string }) => Validate

interface AjvError {
  instancePath?: string
  message?: string
  params?: { missingProperty?: string }
}

export function isJsonSchema(value: unknown): value is JsonSchema {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !('~standard' in value)
}

/**
 * A Standard Schema over a JSON Schema. It compiles on first use, once the app is ready, so the
 * compiler and the shared schemas are the app's final ones.
 */
export function jsonSchema(fastify: FastifyInstance, schema: JsonSchema, url: string, ajv: object | undefined): StandardSchemaV1 {
  let validate: Validate | undefined
  const compile = (): Validate => {
    const compiler: Compiler =
      (fastify.validatorCompiler as Compiler | undefined) ??
      (AjvCompiler()(fastify.getSchemas() as never, { customOptions: {}, plugins: [], ...ajv } as never) as unknown as Compiler)
    return compiler({ schema, method: 'CHANNEL', url, httpPart: 'body' })
  }
  return {
    '~standard': {
      version: 1,
      vendor: '@hornbeam/fastify',
      validate: (value) => {
        validate ??= compile()
        const result = validate(value)
        return result instanceof Promise ? result.then((r) => toResult(r, value, validate!)) : toResult(result, value, validate)
      },
    },
  }
}

/** Fastify's validator contract: true/false with `.errors` (Ajv), or `{ value }` / `{ error }`. */
function toResult(result: unknown, value: unknown, validate: Validate): StandardSchemaV1.Result<unknown> {
  if (result === true) return { value }
  if (result === false) return { issues: issuesOf((validate as { errors?: AjvError[] }).errors) }
  if (result !== null && typeof result === 'object') {
    const { error, value: parsed } = result as { error?: unknown; value?: unknown }
    if (error !== undefined) return { issues: issuesOf((error as { validation?: AjvError[] }).validation ?? [{ message: String((error as Error).message ?? error) }]) }
    return { value: 'value' in result ? parsed : value }
  }
  return { value }
}

function issuesOf(errors: AjvError[] | null | undefined): StandardSchemaV1.Issue[] {
  return (errors ?? [{ message: 'is invalid' }]).map((e) => {
    const path: PropertyKey[] = (e.instancePath ?? '')
      .split('/')
      .slice(1)
      .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((segment) => (/^(0|[1-9]\d*)$/.test(segment) ? Number(segment) : segment))
    if (e.params?.missingProperty !== undefined) path.push(e.params.missingProperty)
    return { message: e.message ?? 'is invalid', path }
  })
}
