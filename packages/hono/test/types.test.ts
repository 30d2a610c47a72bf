// The public types as users see them (the emitted .d.ts, so run after the build): each good
// file compiles under strict, each bad one fails with exactly the errors it marks, none of them
// in our declarations. tap skips folders named `fixtures`, so it never runs those files itself.
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { typeTestPair } from '../../../test/helpers/typecheck.js'

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/types/${name}`, import.meta.url))

typeTestPair(t, fixture('hono-ok.ts'), fixture('hono-bad.ts'), 6)
// Contracts: typed handlers through channels.channel, typed c.var.channels (and
// channels.broadcast) once the app registers its topics' contracts.
typeTestPair(t, fixture('contract-ok.ts'), fixture('contract-bad.ts'), 3)
