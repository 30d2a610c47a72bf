// The public types as users see them (the emitted .d.ts, so run after the build): each good file
// compiles under strict, each bad one fails with exactly the errors it marks, none of them in our
// declarations. tap skips folders named `fixtures`, so it never runs those files itself.
// (test/helpers/typecheck.ts's typeTestPair, but for the one @types/koa error below.)
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { diagnose, markedErrors, show, type Found } from '../../../test/helpers/typecheck.js'

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/types/${name}`, import.meta.url))

// Not ours: @types/koa 3 names `contentDisposition.Options`, which content-disposition 2 (its own
// types, hoisted here by express 5) does not export. Anything else outside the fixture counts.
const upstream = (d: Found) => d.file.endsWith('/node_modules/@types/koa/index.d.ts') && d.code === 2694 && /content-disposition/.test(d.text)

function typeTestPair(good: string, bad: string, minMarked: number): void {
  const name = (file: string) => file.slice(file.lastIndexOf('/') + 1)
  t.test(`${name(good)} compiles with zero diagnostics under strict`, { timeout: 180000 }, async (t) => {
    t.same(diagnose(good).filter((d) => !upstream(d)).map(show), [], 'no diagnostics')
  })
  t.test(`${name(bad)} fails with the marked errors, on the marked lines`, { timeout: 180000 }, async (t) => {
    const found = diagnose(bad).filter((d) => !upstream(d))
    const expected = markedErrors(bad)
    t.ok(expected.length >= minMarked, `${expected.length} misuses marked`)
    t.same(found.filter((d) => d.file !== bad).map(show), [], 'none from the declarations themselves')
    t.same(found.filter((d) => d.file === bad).map((d) => `${d.line}:TS${d.code}`).sort(), expected.sort(), found.map(show).join('\n'))
  })
}

typeTestPair(fixture('koa-ok.ts'), fixture('koa-bad.ts'), 4)
// Contracts: typed handlers through mw.channel, typed ctx.channels (and mw.broadcast) once the
// app registers its topics' contracts.
typeTestPair(fixture('contract-ok.ts'), fixture('contract-bad.ts'), 3)
