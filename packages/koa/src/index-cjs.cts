// The package entry in the CommonJS build: `require('@hornbeam/koa')` is the default export
// itself (callable), carrying every named export and `.default` as well, so both
// `const x = require(...)` and `const { x } = require(...)` work.
import api = require('./middleware.js')
export * from './middleware.js'
export { default } from './middleware.js'
module.exports = Object.assign(api.default, api)
