// The public types as users see them (the emitted .d.ts, so run after `tsc -b`): the good file
// compiles under strict, the bad one fails with exactly the errors it marks, none of them in our
// declarations. tap skips folders named `fixtures`, so it never runs those two files itself.
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { diagnose, markedErrors, show } from '../../../test/helpers/typecheck.js'

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/types/${name}`, import.meta.url))

t.test('express-ok.ts compiles with zero diagnostics under strict', { timeout: 60000 }, async (t) => {
  t.same(diagnose(fixture('express-ok.ts')).map(show), [], 'no diagnostics')
})

t.test('express-bad.ts fails with the marked errors, on the marked lines', { timeout: 60000 }, async (t) => {
  const file = fixture('express-bad.ts')
  const found = diagnose(file)
  const expected = markedErrors(file)
  t.ok(expected.length >= 4, `${expected.length} misuses marked`)
  t.same(found.filter((d) => d.file !== file).map(show), [], 'none from the declarations themselves')
  t.same(found.filter((d) => d.file === file).map((d) => `${d.line}:TS${d.code}`).sort(), expected.sort(), found.map(show).join('\n'))
})
