// The package entry (ESM). The CommonJS build's entry is index-cjs.cts.
export * from './plugin.js'
export { default } from './plugin.js'
