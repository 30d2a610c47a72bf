import { createRequire } from 'node:module'

/** Where the installed `@hornbeam/client` browser bundle is (throws if it is not installed). */
export function clientBundleFile(): string {
  // @ts-ignore: the CommonJS build uses client-bundle-cjs.cts instead, which has no import.meta.
  return createRequire(import.meta.url).resolve('@hornbeam/client/browser')
}
