/**
 * Decorated fixtures. tap's TypeScript loader compiles test files with the root tsconfig.json,
 * which has no `experimentalDecorators`: NestJS's decorators (and ours) would be compiled as TC39
 * decorators and fail. So the decorated classes live in test/fixtures/*.ts and are compiled here
 * as a Nest app's own tsc would (experimentalDecorators, emitDecoratorMetadata), into
 * test/fixtures/dist/ (git-ignored), next to their sources so that their imports resolve the same:
 * `<name>.cjs` (CommonJS) and `<name>.mjs` (ES module).
 *
 * The tests load the CommonJS form (`loadFixture`). NestJS 12 is ESM-only, and tap's TypeScript
 * loader (a fork of ts-node) resolves ES module imports with an old copy of Node's resolver that
 * matches only `exports` patterns ending in `*`: Nest 12's `"./*.js"` subpaths resolve to
 * `*.js.js` there. Through require(), Nest 12 loads with Node's own resolver (require(esm),
 * Node >= 20.19). The ES module form runs in child processes (plain node, no loader).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const sources = fileURLToPath(new URL('../fixtures/', import.meta.url))
const out = join(sources, 'dist')
const require = createRequire(import.meta.url)

const base: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  esModuleInterop: true,
  inlineSourceMap: true,
  inlineSources: true,
}
const forms = [
  { ext: 'cjs', module: ts.ModuleKind.CommonJS },
  { ext: 'mjs', module: ts.ModuleKind.ES2022 },
] as const

let compiled = false

/** Compiles every fixture, once per process, in both forms. */
export function compileFixtures(): void {
  if (compiled) return
  mkdirSync(out, { recursive: true })
  for (const file of readdirSync(sources).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(sources, file), 'utf8')
    for (const { ext, module } of forms) {
      const { outputText } = ts.transpileModule(source, {
        compilerOptions: { ...base, module },
        fileName: join(sources, file),
        reportDiagnostics: false,
      })
      // `./other.js` between fixtures: the file of the same form.
      writeIfChanged(join(out, file.replace(/\.ts$/, `.${ext}`)), outputText.replace(/(["'])(\.\/[\w.-]+)\.js\1/g, `$1$2.${ext}$1`))
    }
  }
  compiled = true
}

/** The CommonJS form of `fixtures/<name>.ts`. */
export function loadFixture<T = any>(name: string): T {
  compileFixtures()
  return require(join(out, `${name}.cjs`)) as T
}

/** The path of a compiled fixture (`'mjs'` for the ES module form), for a child process. */
export function fixtureFile(name: string, ext: 'cjs' | 'mjs'): string {
  compileFixtures()
  return join(out, `${name}.${ext}`)
}

function writeIfChanged(target: string, text: string): void {
  let current: string | undefined
  try {
    current = readFileSync(target, 'utf8')
  } catch {}
  if (current === text) return
  // Test files run in parallel: each writes a whole file and renames it into place.
  const temporary = `${target}.${process.pid}.tmp`
  writeFileSync(temporary, text)
  renameSync(temporary, target)
}
