// Builds what tsc does not: the CommonJS bundle (with a copy of the .d.ts files beside it, so
// `require` users get types that TypeScript reads as CommonJS) and the minified browser bundle
// that sets `window.Hornbeam`, then prints the browser bundle's size, minified and gzipped.
// tsc -b (ESM + .d.ts) runs first; it is a no-op when the root build has just run it.
// `--outdir <dir>` writes the two bundles there instead, without tsc and without touching dist/
// (the tests check the script so while other tests read dist/); the .d.ts come from dist/.
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const dist = join(here, 'dist')
const require = createRequire(import.meta.url)
const outdirArg = process.argv.indexOf('--outdir')
const out = outdirArg === -1 ? dist : resolve(process.argv[outdirArg + 1] ?? '')
if (out === here || out === resolve('/')) throw new Error(`build.mjs: refusing --outdir ${out}`)

if (out === dist) {
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', here], { stdio: 'inherit' })
  if (tsc.status !== 0) process.exit(tsc.status ?? 1)
}

const entry = join(here, 'src/index.ts')
const banner = `/* @hornbeam/client ${JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')).version} | Apache-2.0 */`

// CommonJS: dist/cjs/index.js, in a folder whose package.json says "commonjs".
const cjs = join(out, 'cjs')
rmSync(cjs, { recursive: true, force: true })
mkdirSync(cjs, { recursive: true })
await build({
  entryPoints: [entry],
  outfile: join(cjs, 'index.js'),
  bundle: true,
  format: 'cjs',
  platform: 'neutral',
  target: 'es2019',
  banner: { js: banner },
  sourcemap: true,
  logLevel: 'warning',
})
writeFileSync(join(cjs, 'package.json'), '{ "type": "commonjs" }\n')
for (const file of readdirSync(dist)) {
  if (!file.endsWith('.d.ts')) continue
  const text = readFileSync(join(dist, file), 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '')
  writeFileSync(join(cjs, file), text)
}

// Browser: an IIFE that assigns the exports to the global `Hornbeam` (window.Hornbeam), in a
// folder of its own whose package.json says "commonjs" (a script, not an ES module, for whoever
// resolves `@hornbeam/client/browser`), with a declaration of that global.
const browserDir = join(out, 'browser')
rmSync(browserDir, { recursive: true, force: true })
mkdirSync(browserDir, { recursive: true })
writeFileSync(join(browserDir, 'package.json'), '{ "type": "commonjs" }\n')
writeFileSync(
  join(browserDir, 'hornbeam.min.d.ts'),
  "// The bundle is a script: it sets window.Hornbeam and exports nothing.\ndeclare global {\n  var Hornbeam: typeof import('../cjs/index.js')\n}\nexport {}\n",
)
const browserFile = join(browserDir, 'hornbeam.min.js')
await build({
  entryPoints: [entry],
  outfile: browserFile,
  bundle: true,
  format: 'iife',
  globalName: 'Hornbeam',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  banner: { js: banner },
  sourcemap: true,
  logLevel: 'warning',
})

const bundle = readFileSync(browserFile)
const gzipped = gzipSync(bundle, { level: 9 })
const kb = (n) => `${(n / 1024).toFixed(1)} kB`
const shown = out === dist ? 'dist/browser/hornbeam.min.js' : browserFile
console.log(`@hornbeam/client: ${shown} ${kb(bundle.length)} minified, ${kb(gzipped.length)} gzipped (${bundle.length} / ${gzipped.length} bytes)`)
