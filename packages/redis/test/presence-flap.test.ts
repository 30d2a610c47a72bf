// A presence peer marked down and back within one presence_diff window (its Redis frozen for about
// the down period, then resumed) must not make its users vanish: the diff a subscriber gets never
// names one ref in both joins and leaves, and the client's list (joins applied first, then
// leaves, as phoenix.js and @hornbeam/client do) keeps the user who never went offline.
import { EventEmitter, once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { createHub, type Hub } from '@hornbeam/channels'
import { Presence } from '@hornbeam/client'
import { redisAdapter } from '@hornbeam/redis'
import { RawClient } from '../../../test/helpers/wire.js'
import { RedisServer } from './fixtures/cluster.js'

/** A logger that emits each message, so a test can wait for "presence peer is down". */
function eventLogger() {
  const events = new EventEmitter()
  const at = (obj: unknown, msg?: string) => void events.emit('line', msg ?? '', obj)
  return { events, logger: { debug: at, info: at, warn: at, error: at } }
}

function waitForLine(events: EventEmitter, pattern: RegExp): Promise<void> {
  return new Promise((resolve) => {
    const listener = (msg: string) => {
      if (!pattern.test(msg)) return
      events.off('line', listener)
      resolve()
    }
    events.on('line', listener)
  })
}

async function listen(hub: Hub): Promise<{ server: Server; url: string }> {
  const server = createServer()
  hub.attach(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws/websocket` }
}

t.test('a peer down and back within one batching window: its users stay listed', async (t) => {
  const redis = await RedisServer.start(t)
  // A wide window, so the down and the return land in one diff; PINGs rare, so a short freeze
  // does not also reconnect the adapters (the heartbeats queued meanwhile arrive on thaw).
  const presence = { heartbeatMs: 100, downPeriodMs: 400, batchMs: 2500 }
  const logA = eventLogger()
  const a = createHub({ adapter: redisAdapter({ url: redis.url, pingIntervalMs: 60_000, logger: logA.logger }), logger: logA.logger, presence })
  const b = createHub({ adapter: redisAdapter({ url: redis.url, pingIntervalMs: 60_000, logger: eventLogger().logger }), logger: eventLogger().logger, presence })
  await Promise.all([a.ready(), b.ready()])
  for (const hub of [a, b]) {
    hub.channel('room:*').onJoin((topic, _tp, params, socket) => {
      hub.presence(topic).track(socket, params.user, { user: params.user })
      return ['ok', {}, socket]
    })
  }
  const [na, nb] = await Promise.all([listen(a), listen(b)])
  const watcher = await RawClient.connect(na.url)
  const bob = await RawClient.connect(nb.url)
  t.teardown(async () => {
    await Promise.all([watcher.close(), bob.close()])
    await Promise.all([a.close(), b.close()])
    na.server.close()
    nb.server.close()
  })

  /** The watcher's list, built from its frames the way @hornbeam/client builds it. */
  const listed = () => {
    let state: Record<string, unknown> = {}
    for (const f of watcher.frames.filter((f) => f[2] === 'room:1')) {
      if (f[3] === 'presence_state') state = Presence.syncState(state as any, f[4]) as any
      if (f[3] === 'presence_diff') state = Presence.syncDiff(state as any, f[4]) as any
    }
    return Object.keys(state).sort()
  }

  await watcher.join('room:1', { user: 'watcher' })
  await bob.join('room:1', { user: 'bob' })
  await watcher.waitFor((f) => f[3] === 'presence_diff' && 'bob' in f[4].joins, 5000, 'bob listed on A')
  t.same(listed(), ['bob', 'watcher'])

  const down = waitForLine(logA.events, /presence peer is down/)
  redis.freeze()
  await down
  const back = waitForLine(logA.events, /presence peer is back/)
  redis.thaw()
  await back
  t.ok(a.stats().presence.downPeers === 0, 'A counts B up again')

  // A marker change in the same window: once its diff is in, the flap has been flushed too.
  const carol = await RawClient.connect(na.url)
  t.teardown(() => carol.close())
  await carol.join('room:1', { user: 'carol' })
  const flushed = await watcher.waitFor((f) => f[3] === 'presence_diff' && 'carol' in f[4].joins, 5000, 'the window flushed')
  const diffs = watcher.frames.filter((f) => f[3] === 'presence_diff')
  for (const diff of diffs) {
    const joined = Object.values<any>(diff[4].joins).flatMap((p) => p.metas.map((m: any) => m.hb_ref))
    const left = Object.values<any>(diff[4].leaves).flatMap((p) => p.metas.map((m: any) => m.hb_ref))
    t.same(joined.filter((ref) => left.includes(ref)), [], 'no ref in both joins and leaves of one diff')
  }
  t.notOk('bob' in flushed[4].leaves, 'bob is not sent as a leave')
  t.same(listed(), ['bob', 'carol', 'watcher'], 'bob, who never went offline, is still listed')
  t.same(Object.keys(a.presence('room:1').list()).sort(), ['bob', 'carol', 'watcher'], 'and on the server')
})
