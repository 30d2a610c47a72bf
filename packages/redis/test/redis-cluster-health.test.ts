// Cluster mode's check for half-open connections (echo-health.ts), against the local Redis Cluster
// `npm test` starts: a node's control subscriber that stops hearing, and a publisher whose answers
// stop coming, neither erroring nor closing (as in a network split without a reset), are found by
// the echo through the node's own channel, dropped and reconnected; control messages flow again.
// A Cluster keeps its connections to itself: the test stops reading their sockets from inside,
// which is what a half-open connection looks like to the process.
import t from 'tap'
import type { ClusterMessage } from '@hornbeam/channels'
import { redisAdapter, type RedisAdapter } from '@hornbeam/redis'
import { eventually } from '../../../test/helpers/wire.js'
import { uniqueId } from './fixtures/cluster.js'
import { redisClusterSeeds } from './fixtures/redis-cluster.js'

const opts = { timeout: 60_000 }

function recordingLogger() {
  const lines: Array<{ level: string; msg?: string; obj: any }> = []
  const at = (level: string) => (obj: unknown, msg?: string) => void lines.push({ level, msg, obj })
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } }
}

/** Two nodes' adapters on the run's cluster, on a key prefix of their own; `a` records its log, both what they hear on `control`. */
async function pair(t: { teardown(fn: () => unknown): void }) {
  const prefix = `hbtest:${uniqueId()}:`
  const nodes = redisClusterSeeds().split(',')
  const logs = recordingLogger()
  const a = redisAdapter({ cluster: { nodes }, keyPrefix: prefix, logger: logs.logger, pingIntervalMs: 200 })
  const b = redisAdapter({ cluster: { nodes }, keyPrefix: prefix, logger: recordingLogger().logger, pingIntervalMs: 200 })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const heard = { a: [] as unknown[], b: [] as unknown[] }
  const record = (into: unknown[]) => (channel: string, message: ClusterMessage) => void (channel === 'control' && into.push((message as any).payload))
  await a.start('a', record(heard.a))
  await b.start('b', record(heard.b))
  let n = 0
  /** Publishes a numbered message on `control` from `from`; returns its number. */
  const say = (from: RedisAdapter) => {
    const payload = ++n
    from.publish('control', { v: 1, kind: 'broadcast', node: from === a ? 'a' : 'b', topic: 'x', event: 'e', payload } as ClusterMessage)
    return payload
  }
  /** Resolves once `to` hears a message `from` sends from now on (sending one per check, since one may be lost). */
  const hearsAgain = (from: RedisAdapter, into: unknown[], what: string) => {
    const after = n
    return eventually(() => (say(from), into.some((p) => (p as number) > after)), 10_000, what)
  }
  return { a, b, logs, heard, say, hearsAgain }
}

/** The adapter's Cluster connections (private: the test reaches in to stop reading a socket). */
const connectionsOf = (adapter: RedisAdapter) => (adapter as any).conns as { pub: any; sub: any }

t.test('a deaf control subscriber: its echo is not heard; it is reconnected, and hears again', opts, async (t) => {
  const { a, b, logs, heard, say, hearsAgain } = await pair(t)
  const first = say(b)
  await eventually(() => heard.a.includes(first), 5000, 'a hears b')

  const subscriber = connectionsOf(a).sub.subscriber.getInstance()
  subscriber.stream.pause()
  const during = say(b)
  await eventually(() => logs.lines.some((l) => l.level === 'warn' && /echo not heard; reconnecting the subscriber/.test(l.msg ?? '')), 5000, 'the deaf subscriber found')
  t.notOk(heard.a.includes(during), 'what came while it was deaf is lost (at most once)')
  await eventually(() => a.stats().connected, 10_000, 'a reconnected')
  // The reconnected subscriber hears b again (a new connection; the paused one was dropped).
  await hearsAgain(b, heard.a, 'a hears b again')
  t.not(connectionsOf(a).sub.subscriber.getInstance(), subscriber, 'on a new connection')
  t.equal(logs.lines.filter((l) => l.level === 'error').length, 0, 'no errors')
})

t.test('a stuck publisher: its echo PUBLISH is not answered; it is reconnected, and b hears a again', opts, async (t) => {
  const { a, logs, heard, say, hearsAgain } = await pair(t)
  const before = say(a)
  await eventually(() => heard.b.includes(before), 5000, 'b hears a')

  // PUBLISH goes to any master: connect to every one first, then stop reading all of them.
  const masters = connectionsOf(a).pub.nodes('master')
  await Promise.all(masters.map((node: any) => node.ping()))
  for (const node of masters) node.stream.pause()
  say(a)
  await eventually(() => a.stats().pendingPublishes > 0, 5000, "a's publishes stuck")
  await eventually(() => logs.lines.some((l) => l.level === 'warn' && /PUBLISH of its echo unanswered; reconnecting the publisher/.test(l.msg ?? '')), 5000, 'the stuck publisher found')
  await eventually(() => a.stats().connected && a.stats().pendingPublishes === 0, 10_000, 'a reconnected, nothing left waiting')
  t.ok(a.stats().dropped > 0, 'what was stuck in the dropped connection was counted as dropped')
  await hearsAgain(a, heard.b, 'b hears a again')
  t.equal(logs.lines.filter((l) => l.level === 'error').length, 0, 'no errors')
})
