// Module resolution hooks for the NestJS 11 smoke test (registered with module.register): every
// `@nestjs/*` that an ES module imports, this package's build included, resolves to the NestJS 11
// installed in test/nest11, as it would in an app that has NestJS 11 and this package installed.
// NestJS 11 is CommonJS; what it requires in turn resolves from there by itself.
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

let nest11

export function initialize(data) {
  nest11 = createRequire(data.packageJson)
}

export async function resolve(specifier, context, nextResolve) {
  if (specifier.startsWith('@nestjs/')) {
    return { url: pathToFileURL(nest11.resolve(specifier)).href, format: 'commonjs', shortCircuit: true }
  }
  return nextResolve(specifier, context)
}
