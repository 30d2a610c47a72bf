// The client's contract types as users see them (the emitted .d.ts, so run after the build):
// the good file compiles under strict, the bad one fails with exactly the errors it marks.
// tap skips folders named `fixtures`.
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { typeTestPair } from '../../../test/helpers/typecheck.js'

const fixture = (name: string) => fileURLToPath(new URL(`./types/fixtures/${name}`, import.meta.url))

typeTestPair(t, fixture('contract-ok.ts'), fixture('contract-bad.ts'), 8)
