// Loads a workspace package for the benchmark. The package name first (as a user would import
// it); when the workspace link is missing from node_modules (npm install not run since the
// package appeared), its built entry point under packages/<dir>/dist. A package that is not
// built is an error that names what to do, never a crash of the whole run.
import { existsSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))

export class MissingPackageError extends Error {}

/** Imports `name` (e.g. '@hornbeam/fastify'); `dir` is its folder under packages/. */
export async function importPackage(name, dir) {
  try {
    const mod = await import(name)
    return { mod, from: name }
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes(name)) throw err
  }
  const entry = `${root}packages/${dir}/dist/index.js`
  if (!existsSync(entry)) {
    throw new MissingPackageError(
      `${name} is not available: packages/${dir}/dist/index.js does not exist (build it with \`npx tsc -b\` at the root)`,
    )
  }
  const mod = await import(pathToFileURL(entry).href)
  return { mod, from: `packages/${dir}/dist/index.js (the node_modules link for ${name} is missing: run \`npm install\`)` }
}
