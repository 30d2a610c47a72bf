// The public types as users see them (the emitted .d.ts, so run after the build): each good
// file compiles under strict, each bad one fails with exactly the errors it marks, none of them
// in our declarations. tap skips folders named `fixtures`, so it never runs those files itself.
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { typeTestPair } from '../../../test/helpers/typecheck.js'

const fixture = (name: string) => fileURLToPath(new URL(`./types/fixtures/${name}`, import.meta.url))

typeTestPair(t, fixture('fastify-ok.ts'), fixture('fastify-bad.ts'), 4)
// Contracts: typed handlers through app.channel (JSON Schemas too), typed request.channels.
typeTestPair(t, fixture('contract-ok.ts'), fixture('contract-bad.ts'), 4)
