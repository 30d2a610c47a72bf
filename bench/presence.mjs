// Presence benchmark: track/untrack rate, list() cost and memory for one topic with 10,000
// presences and for 10,000 topics with one presence each; and the presence_diff frames sent
// when 1,000 users join one room within a second, with and without batching.
//   node --expose-gc bench/presence.mjs [--quick]
import { createServer } from 'node:http'
import WebSocket from 'ws'
import { createHub, silentLogger } from '@hornbeam/channels'

const quick = process.argv.includes('--quick')
const N = quick ? 2000 : 10_000
const gc = globalThis.gc ?? (() => {})

/** A stand-in for a joined socket: presence only needs its id and liveness. */
const fakeSocket = (id) => ({ id, host: { closed: false } })

function heap() {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

function measureTracking(layout) {
  const hub = createHub({ logger: silentLogger })
  const before = heap()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) {
    const topic = layout === 'one topic' ? 'room:big' : `room:${i}`
    hub.presence(topic).track(fakeSocket(`c${i}`), `user:${i}`, { username: `user${i}`, status: 'online' })
  }
  const trackNs = Number(process.hrtime.bigint() - t0)
  const bytes = heap() - before
  const t1 = process.hrtime.bigint()
  let listed = 0
  const lists = layout === 'one topic' ? 20 : 2000
  for (let i = 0; i < lists; i++) listed += Object.keys(hub.presence(layout === 'one topic' ? 'room:big' : `room:${i}`).list()).length
  const listNs = Number(process.hrtime.bigint() - t1) / lists
  const t2 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) hub.presenceTracker.untrackOwner(`c${i}`)
  const untrackNs = Number(process.hrtime.bigint() - t2)
  void hub.close()
  return {
    layout,
    presences: N,
    tracksPerSec: Math.round(N / (trackNs / 1e9)),
    untracksPerSec: Math.round(N / (untrackNs / 1e9)),
    listMicros: +(listNs / 1000).toFixed(1),
    bytesPerPresence: Math.round(bytes / N),
    listedCheck: listed > 0,
  }
}

async function measureBurst(batchMs, users) {
  const hub = createHub({ logger: silentLogger, presence: { batchMs }, joinsPerSecond: 0, messagesPerSecond: 0 })
  hub.channel('room:*').onJoin((topic, _tp, p, s) => (hub.presence(topic).track(s, p.user, { user: p.user }), ['ok']))
  const server = createServer()
  hub.attach(server, { path: '/ws' })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const url = `ws://127.0.0.1:${server.address().port}/ws/websocket`
  const clients = await Promise.all(
    Array.from({ length: users }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(url)
      ws.on('open', () => resolve(ws))
      ws.on('error', reject)
    })),
  )
  let complete = 0
  const framesBefore = hub.stats().framesOut
  const started = Date.now()
  const done = new Promise((resolve) => {
    clients.forEach((ws, i) => {
      const seen = new Set()
      ws.on('message', (data) => {
        const [, , , event, payload] = JSON.parse(data.toString())
        if (event === 'presence_state') for (const k of Object.keys(payload)) seen.add(k)
        else if (event === 'presence_diff') for (const k of Object.keys(payload.joins)) seen.add(k)
        else return
        if (seen.size === users && !ws.complete) {
          ws.complete = true
          if (++complete === users) resolve(Date.now() - started)
        }
      })
    })
  })
  // Joins spread evenly over one second.
  clients.forEach((ws, i) => setTimeout(() => ws.send(JSON.stringify(['1', '1', 'room:burst', 'hb_join', { user: `u${i}` }])), (i * 1000) / users))
  const completeMs = await done
  const frames = hub.stats().framesOut - framesBefore
  for (const ws of clients) ws.terminate()
  await hub.close()
  server.close()
  return { batchMs, users, frames, diffFrames: frames - 2 * users, completeMs }
}

export async function runPresenceBench({ quick: q = quick } = {}) {
  const tracking = [measureTracking('one topic'), measureTracking('one presence per topic')]
  const users = q ? 200 : 1000
  const bursts = []
  for (const batchMs of [0, 20, 50, 100]) bursts.push(await measureBurst(batchMs, users))
  return { tracking, bursts }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runPresenceBench()
  console.table(result.tracking)
  console.table(result.bursts)
}
