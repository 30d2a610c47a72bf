// The declarations as users see them: the good file compiles under strict, the bad one fails with
// exactly the errors it marks. Reads ../dist, so run after `tsc -b`.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const options: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  types: ['node'],
  esModuleInterop: true,
}

function diagnose(file: string): ts.Diagnostic[] {
  const program = ts.createProgram([file], options)
  return [...ts.getPreEmitDiagnostics(program)]
}

function show(d: ts.Diagnostic): string {
  const where = d.file ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : ''
  return `${where} TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`
}

t.test('express-ok.ts compiles with zero diagnostics under strict', async (t) => {
  const diagnostics = diagnose(fileURLToPath(new URL('fixtures/types/express-ok.ts', import.meta.url)))
  t.same(diagnostics.map(show), [], 'no diagnostics')
})

t.test('express-bad.ts fails with the marked errors, on the marked lines', async (t) => {
  const file = fileURLToPath(new URL('fixtures/types/express-bad.ts', import.meta.url))
  const expected = readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line, i) => [...line.matchAll(/\/\/ TS(\d+)/g)].map((m) => `${i + 1}:TS${m[1]}`))
  const diagnostics = diagnose(file)
  t.ok(diagnostics.length > 0, `${diagnostics.length} diagnostics`)
  const outside = diagnostics.filter((d) => d.file?.fileName !== file)
  t.same(outside.map(show), [], 'none from the declarations themselves')
  const got = diagnostics
    .filter((d) => d.file?.fileName === file)
    .map((d) => `${d.file!.getLineAndCharacterOfPosition(d.start!).line + 1}:TS${d.code}`)
  t.same(got.sort(), expected.sort(), diagnostics.map(show).join('\n'))
})
