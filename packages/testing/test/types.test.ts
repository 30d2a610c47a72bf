// The kit's types as users see them (the emitted .d.ts, so run after the build): typed by a
// contract, untyped otherwise. tap skips folders named `fixtures`.
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { typeTestPair } from '../../../test/helpers/typecheck.js'

const fixture = (name: string) => fileURLToPath(new URL(`./types/fixtures/${name}`, import.meta.url))

typeTestPair(t, fixture('kit-ok.ts'), fixture('kit-bad.ts'), 3)
