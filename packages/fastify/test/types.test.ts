// The public types: a file using the API compiles under strict; one misusing it does not, with
// the expected errors. Runs the TypeScript compiler API on test/types/fixtures/*.ts, which import
// dist/index.js (so the emitted .d.ts is what is checked). tap skips folders named `fixtures`,
// so `tap packages/fastify/test/` never runs those two files.
import t from 'tap'
import ts from 'typescript'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const options: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  esModuleInterop: true,
  skipLibCheck: true,
  types: ['node'],
}

function diagnose(name: string) {
  const file = fileURLToPath(new URL(`./types/fixtures/${name}`, import.meta.url))
  const program = ts.createProgram([file], options)
  return ts.getPreEmitDiagnostics(program).map((d) => ({
    code: d.code,
    line: d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0,
    text: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }))
}

t.test('fastify-ok.ts compiles under strict with no diagnostics', { timeout: 60000 }, async (t) => {
  const found = diagnose('fastify-ok.ts')
  t.same(found, [], found.map((d) => `${d.line}: TS${d.code} ${d.text}`).join('\n') || 'no diagnostics')
})

t.test('fastify-bad.ts fails with the expected errors, on the expected lines', { timeout: 60000 }, async (t) => {
  const found = diagnose('fastify-bad.ts')
  t.ok(found.length > 0, 'it does not compile')
  const source = readFileSync(new URL('./types/fixtures/fastify-bad.ts', import.meta.url), 'utf8').split('\n')
  const expected = source.flatMap((line, i) => {
    const m = /expect TS(\d+)/.exec(line)
    return m ? [{ code: Number(m[1]), line: i + 2 }] : []
  })
  t.equal(expected.length, 5, 'five misuses annotated')
  t.same(
    found.map(({ code, line }) => ({ code, line })),
    expected,
    found.map((d) => `${d.line}: TS${d.code} ${d.text.split('\n')[0]}`).join('\n'),
  )
})
