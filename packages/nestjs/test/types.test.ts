// The public types as a Nest app sees them (the emitted .d.ts, so run after the build), compiled
// under strict with experimentalDecorators and emitDecoratorMetadata: each good file compiles,
// each bad one fails with exactly the errors it marks, none of them in our declarations.
import t from 'tap'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { markedErrors, show, type Found } from '../../../test/helpers/typecheck.js'

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/types/${name}`, import.meta.url))

// test/helpers/typecheck.ts's options, plus the decorators a Nest app compiles with.
const options: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  esModuleInterop: true,
  types: ['node'],
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
}

// The program before: the next one reuses its parsed files (lib, @types/node, Nest's .d.ts).
let previous: ts.Program | undefined
function diagnose(rootNames: string[]): Found[] {
  const program = ts.createProgram({ rootNames, options, oldProgram: previous })
  previous = program
  return ts.getPreEmitDiagnostics(program).map((d) => ({
    file: d.file?.fileName ?? '',
    line: d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0,
    code: d.code,
    text: ts.flattenDiagnosticMessageText(d.messageText, ' '),
  }))
}

// One program for both files: Nest's declarations are read and checked once.
const files = { ok: fixture('nestjs-ok.ts'), bad: fixture('nestjs-bad.ts') }
let found: Found[] | undefined
function diagnostics(): Found[] {
  found ??= diagnose(Object.values(files))
  return found
}

// Compiling against NestJS's declarations takes a while on a busy machine.
t.setTimeout(300_000)

t.test('none from the declarations themselves (ours, and what they import)', async (t) => {
  t.same(diagnostics().filter((d) => d.file !== files.ok && d.file !== files.bad).map(show), [])
})

t.test('nestjs-ok.ts compiles with zero diagnostics under strict', async (t) => {
  t.same(diagnostics().filter((d) => d.file === files.ok).map(show), [], 'no diagnostics')
})

t.test('nestjs-bad.ts fails with the marked errors, on the marked lines', async (t) => {
  const expected = markedErrors(files.bad)
  t.ok(expected.length >= 10, `${expected.length} misuses marked`)
  const mine = diagnostics().filter((d) => d.file === files.bad)
  t.same(mine.map((d) => `${d.line}:TS${d.code}`).sort(), expected.sort(), mine.map(show).join('\n'))
})

// Contracts: ChannelsService.broadcast typed once the app registers its topics' contracts, and
// @Channel methods typed by a contract (typed socket, broadcastFrom, replies). One program per
// file: each registers the same topic pattern (TopicContracts is program-wide).
const contract = { ok: fixture('contract-ok.ts'), bad: fixture('contract-bad.ts') }

t.test('contract-ok.ts compiles with zero diagnostics under strict', async (t) => {
  t.same(diagnose([contract.ok]).map(show), [], 'no diagnostics')
})

t.test('contract-bad.ts fails with the marked errors, on the marked lines', async (t) => {
  const found = diagnose([contract.bad])
  const expected = markedErrors(contract.bad)
  t.ok(expected.length >= 3, `${expected.length} misuses marked`)
  t.same(found.filter((d) => d.file !== contract.bad).map(show), [], 'none from the declarations themselves')
  t.same(found.filter((d) => d.file === contract.bad).map((d) => `${d.line}:TS${d.code}`).sort(), expected.sort(), found.map(show).join('\n'))
})
