/**
 * Topic router: maps a concrete topic (`room:lobby`) to the channel definition whose pattern
 * matches it, and extracts the topic params.
 *
 * Patterns are split on `:` into segments. A segment is a literal (`room`), a named
 * parameter (`{team}`) or an unnamed wildcard (`*`). Parameters and wildcards match exactly one
 * non-empty segment.
 *
 * Unnamed wildcards take the seed's names: a `*` after a literal segment `L` is `L_id`
 * (`room:*` → `room_id`, `user:*:post:*` → `user_id`, `post_id`); a `*` straight after another
 * parameter has no literal of its own and is `channel_id` (`chat:*:*` → `chat_id`,
 * `channel_id`, as in the seed's table); a later one in such a run is `param<N>_id` where N is
 * its segment index; a leading `*` is `id`.
 *
 * Precedence when several patterns match: an exact (all-literal) pattern first; then, comparing
 * segment by segment from the left, a literal beats a parameter; ties go to the pattern
 * registered first.
 */

export type TopicParams = Record<string, string>

interface Segment {
  literal?: string
  param?: string
}

export interface CompiledPattern<T> {
  readonly pattern: string
  readonly segments: readonly Segment[]
  readonly paramNames: readonly string[]
  readonly value: T
  readonly order: number
}

export class PatternError extends Error {
  override name = 'PatternError'
}

export function compilePattern<T>(pattern: string, value: T, order = 0): CompiledPattern<T> {
  if (typeof pattern !== 'string' || pattern.length === 0) {
    throw new PatternError('a topic pattern must be a non-empty string')
  }
  const parts = pattern.split(':')
  const segments: Segment[] = []
  const paramNames: string[] = []
  let run = 0 // parameters in a row since the last literal
  parts.forEach((part, index) => {
    if (part === '') throw new PatternError(`empty segment in topic pattern "${pattern}"`)
    let name: string | undefined
    if (part === '*') {
      const prev = index > 0 ? parts[index - 1] : undefined
      if (prev === undefined) name = 'id'
      else if (run === 0) name = `${prev}_id`
      else if (run === 1) name = 'channel_id'
      else name = `param${index}_id`
    } else if (part.startsWith('{') && part.endsWith('}')) {
      name = part.slice(1, -1)
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new PatternError(`bad parameter name "${name}" in topic pattern "${pattern}"`)
      }
    } else if (part.includes('*') || part.includes('{') || part.includes('}')) {
      throw new PatternError(`"${part}" in "${pattern}": wildcards take a whole segment`)
    }
    if (name === undefined) {
      segments.push({ literal: part })
      run = 0
    } else {
      if (paramNames.includes(name)) {
        throw new PatternError(`parameter "${name}" appears twice in topic pattern "${pattern}"`)
      }
      segments.push({ param: name })
      paramNames.push(name)
      run++
    }
  })
  return { pattern, segments, paramNames, value, order }
}

/** Negative when `a` should win over `b`. */
function compareSpecificity(a: CompiledPattern<unknown>, b: CompiledPattern<unknown>): number {
  const n = Math.min(a.segments.length, b.segments.length)
  for (let i = 0; i < n; i++) {
    const al = a.segments[i]!.literal !== undefined
    const bl = b.segments[i]!.literal !== undefined
    if (al !== bl) return al ? -1 : 1
  }
  return a.order - b.order
}

export interface RouteMatch<T> {
  value: T
  pattern: string
  params: TopicParams
}

export class TopicRouter<T> {
  private readonly exact = new Map<string, CompiledPattern<T>>()
  /** Patterns with parameters, grouped by segment count, kept sorted by precedence. */
  private readonly byLength = new Map<number, CompiledPattern<T>[]>()
  private count = 0

  add(pattern: string, value: T): CompiledPattern<T> {
    const compiled = compilePattern(pattern, value, this.count++)
    if (compiled.paramNames.length === 0) {
      if (this.exact.has(pattern)) throw new PatternError(`topic pattern "${pattern}" is already registered`)
      this.exact.set(pattern, compiled)
      return compiled
    }
    const list = this.byLength.get(compiled.segments.length) ?? []
    if (list.some((c) => c.pattern === pattern)) {
      throw new PatternError(`topic pattern "${pattern}" is already registered`)
    }
    list.push(compiled)
    list.sort(compareSpecificity)
    this.byLength.set(compiled.segments.length, list)
    return compiled
  }

  match(topic: string): RouteMatch<T> | undefined {
    const exact = this.exact.get(topic)
    if (exact) return { value: exact.value, pattern: exact.pattern, params: {} }
    const parts = topic.split(':')
    const candidates = this.byLength.get(parts.length)
    if (!candidates) return undefined
    for (const c of candidates) {
      const params = matchSegments(c, parts)
      if (params) return { value: c.value, pattern: c.pattern, params }
    }
    return undefined
  }
}

function matchSegments(c: CompiledPattern<unknown>, parts: string[]): TopicParams | undefined {
  // Keys come from the pattern (the developer's), values from the topic: a plain object is safe.
  const params: TopicParams = {}
  for (let i = 0; i < parts.length; i++) {
    const seg = c.segments[i]!
    const part = parts[i]!
    if (seg.literal !== undefined) {
      if (seg.literal !== part) return undefined
    } else {
      if (part === '') return undefined
      params[seg.param!] = part
    }
  }
  return params
}
