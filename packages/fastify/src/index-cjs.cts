// The package entry in the CommonJS build: `require('@hornbeam/fastify')` is the default export
// itself (callable), carrying every named export and `.default` as well, so both
// `const x = require(...)` and `const { x } = require(...)` work.
import api = require('./plugin.js')
export * from './plugin.js'
export { default } from './plugin.js'
module.exports = Object.assign(api.default, api)
