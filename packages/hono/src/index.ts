// The package entry (ESM). The CommonJS build's entry is index-cjs.cts.
export * from './channels.js'
export { default } from './channels.js'
