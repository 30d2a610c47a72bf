// The package entry (ESM). The CommonJS build's entry is index-cjs.cts.
export * from './middleware.js'
export { default } from './middleware.js'
