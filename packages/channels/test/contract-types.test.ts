// Contracts and schemas at compile time, as users see them (the emitted .d.ts, so run after the
// build): handlers, replies, socket.push, broadcasts, TopicContracts, schema inference,
// ContractOf, and untyped use unchanged. tap skips folders named `fixtures`.
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { typeTestPair } from '../../../test/helpers/typecheck.js'

const fixture = (name: string) => fileURLToPath(new URL(`./types/fixtures/${name}`, import.meta.url))

typeTestPair(t, fixture('contract-ok.ts'), fixture('contract-bad.ts'), 16)
