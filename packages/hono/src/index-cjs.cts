// The package entry in the CommonJS build: `require('@hornbeam/hono')` is createChannels itself
// (callable), carrying every named export and `.default` as well, so both
// `const createChannels = require(...)` and `const { createChannels } = require(...)` work.
import api = require('./channels.js')
export * from './channels.js'
export { default } from './channels.js'
module.exports = Object.assign(api.default, api)
