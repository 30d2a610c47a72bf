/** Where the installed `@hornbeam/client` browser bundle is (throws if it is not installed). */
export function clientBundleFile(): string {
  return require.resolve('@hornbeam/client/browser')
}
