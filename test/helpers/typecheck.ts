/**
 * Type tests: compile a file with the TypeScript compiler API under strict, as a user would, and
 * compare its errors with the ones the file marks (`// TSnnnn` at the end of a line that must
 * fail with that code).
 */
import { readFileSync } from 'node:fs'
import ts from 'typescript'

const options: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  esModuleInterop: true,
  types: ['node'],
}

export interface Found {
  file: string
  line: number
  code: number
  text: string
}

// The program before: the next one reuses its parsed files (lib, @types/node, the packages' .d.ts).
let previous: ts.Program | undefined

export function diagnose(file: string): Found[] {
  const program = ts.createProgram({ rootNames: [file], options, oldProgram: previous })
  previous = program
  return ts.getPreEmitDiagnostics(program).map((d) => ({
    file: d.file?.fileName ?? '',
    line: d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0,
    code: d.code,
    text: ts.flattenDiagnosticMessageText(d.messageText, ' '),
  }))
}

/** `line:TScode` for every `// TSnnnn` mark in the file. */
export function markedErrors(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line, i) => [...line.matchAll(/\/\/ TS(\d+)/g)].map((m) => `${i + 1}:TS${m[1]}`))
}

export const show = (d: Found) => `${d.file}:${d.line} TS${d.code} ${d.text}`

interface Tap {
  test(name: string, options: { timeout: number }, fn: (t: TapTest) => Promise<void>): unknown
}
interface TapTest {
  same(found: unknown, wanted: unknown, message: string): unknown
  ok(value: unknown, message: string): unknown
}

/**
 * The pair every type test has: `good` compiles with zero diagnostics under strict; `bad` fails
 * with exactly the errors it marks, none of them in our declarations.
 */
export function typeTestPair(t: Tap, good: string, bad: string, minMarked: number): void {
  const name = (file: string) => file.slice(file.lastIndexOf('/') + 1)
  t.test(`${name(good)} compiles with zero diagnostics under strict`, { timeout: 180000 }, async (t) => {
    t.same(diagnose(good).map(show), [], 'no diagnostics')
  })
  t.test(`${name(bad)} fails with the marked errors, on the marked lines`, { timeout: 180000 }, async (t) => {
    const found = diagnose(bad)
    const expected = markedErrors(bad)
    t.ok(expected.length >= minMarked, `${expected.length} misuses marked`)
    t.same(found.filter((d) => d.file !== bad).map(show), [], 'none from the declarations themselves')
    t.same(found.filter((d) => d.file === bad).map((d) => `${d.line}:TS${d.code}`).sort(), expected.sort(), found.map(show).join('\n'))
  })
}
