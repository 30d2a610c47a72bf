// A load-generator process for the long-poll scenario (bench/lib/longpoll.mjs): long-poll clients
// speaking Phoenix's protocol as phoenix.js does (GET without a token opens a session, GETs with
// it poll, POSTs send newline-joined frames), over node:http with keep-alive connections.
//
// Requests { id, op, ... } (see Child in child.mjs):
//   open({ url, count, concurrency })  opens `count` sessions, `concurrency` at a time
//   plain({ url, count, concurrency }) `count` GETs of a plain route (the reference: what any request costs)
//   join({ topic, concurrency })       each session joins `topic` (phoenix dialect) and waits for the reply
//   idle()                             every session keeps one poll waiting at the server, as an idle
//                                      phoenix.js client does (a new poll as soon as one is answered)
//   stop()                             stops polling (aborts the waiting polls)
import { Agent, request } from 'node:http'
import { serveRequests } from './child.mjs'
import { nowMicros } from './hist.mjs'

process.on('disconnect', () => process.exit(0))

/** Open and join: a bounded pool of kept-alive connections. Idle polls: one connection per session. */
let agent = new Agent({ keepAlive: true, maxSockets: 64 })
const pollAgent = new Agent({ keepAlive: true, maxSockets: Infinity })
/** @type {Array<{ token: string, joined: boolean }>} */
let sessions = []
let endpoint = ''
let polling = false
const inFlight = new Set()
let pollsAnswered = 0
let pollErrors = 0

function call(method, url, { body, agent: via = agent, raw = false } = {}) {
  return new Promise((resolve, reject) => {
    const headers = method === 'POST' ? { 'content-type': 'application/x-ndjson' } : { accept: 'application/json' }
    const req = request(url, { method, headers, agent: via }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        inFlight.delete(req)
        if (raw) return resolve(res.statusCode)
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        } catch {
          reject(new Error(`HTTP ${res.statusCode}: not JSON`))
        }
      })
      res.on('error', reject)
    })
    inFlight.add(req)
    req.on('error', (err) => {
      inFlight.delete(req)
      reject(err)
    })
    req.end(body)
  })
}

const withToken = (token) => `${endpoint}&token=${encodeURIComponent(token)}`

/** Runs `count` tasks, `concurrency` at a time. */
async function pool(count, concurrency, task) {
  let next = 0
  const worker = async () => {
    while (next < count) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
}

serveRequests({
  async open({ url, count, concurrency = 32 }) {
    endpoint = `${url}${url.includes('?') ? '&' : '?'}vsn=2.0.0`
    agent.destroy()
    agent = new Agent({ keepAlive: true, maxSockets: concurrency })
    const errors = new Set()
    let failed = 0
    const t0 = nowMicros()
    await pool(count, concurrency, async () => {
      try {
        const answer = await call('GET', endpoint)
        if (answer.status === 410 && typeof answer.token === 'string') sessions.push({ token: answer.token, joined: false })
        else (failed++, errors.add(`status ${answer.status}`))
      } catch (err) {
        failed++
        errors.add(String(err?.message ?? err))
      }
    })
    const seconds = (nowMicros() - t0) / 1e6
    return { opened: count - failed, failed, seconds, perSecond: Math.round((count - failed) / seconds), errors: [...errors].slice(0, 5) }
  },

  async plain({ url, count, concurrency = 32 }) {
    agent.destroy()
    agent = new Agent({ keepAlive: true, maxSockets: concurrency })
    let ok = 0
    const t0 = nowMicros()
    await pool(count, concurrency, async () => {
      if ((await call('GET', url, { raw: true }).catch(() => 0)) === 200) ok++
    })
    const seconds = (nowMicros() - t0) / 1e6
    return { ok, seconds, perSecond: Math.round(ok / seconds) }
  },

  async join({ topic, concurrency = 32 }) {
    let joined = 0
    const errors = new Set()
    await pool(sessions.length, concurrency, async (i) => {
      const session = sessions[i]
      try {
        const sent = await call('POST', withToken(session.token), { body: JSON.stringify(['1', '1', topic, 'phx_join', {}]) })
        if (sent.status !== 200) throw new Error(`join POST status ${sent.status}`)
        // The reply (then presence_state, hb_history) is waiting for the first poll.
        for (let tries = 0; tries < 5 && !session.joined; tries++) {
          const polled = await call('GET', withToken(session.token))
          for (const m of polled.messages ?? []) if (m.startsWith('["1","1",') && m.includes('"status":"ok"')) session.joined = true
        }
        if (session.joined) joined++
        else errors.add('no join reply')
      } catch (err) {
        errors.add(String(err?.message ?? err))
      }
    })
    return { joined, sessions: sessions.length, errors: [...errors].slice(0, 5) }
  },

  idle() {
    polling = true
    for (const session of sessions) {
      const loop = async () => {
        while (polling) {
          try {
            await call('GET', withToken(session.token), { agent: pollAgent })
            pollsAnswered++
          } catch {
            if (polling) pollErrors++
            return
          }
        }
      }
      void loop()
    }
    return { polling: sessions.length }
  },

  stop() {
    polling = false
    for (const req of inFlight) req.destroy()
    inFlight.clear()
    const result = { sessions: sessions.length, pollsAnswered, pollErrors }
    sessions = []
    pollsAnswered = pollErrors = 0
    agent.destroy()
    pollAgent.destroy()
    return result
  },

  exit() {
    polling = false
    setImmediate(() => process.exit(0))
    return {}
  },
})

process.send({ type: 'ready' })
