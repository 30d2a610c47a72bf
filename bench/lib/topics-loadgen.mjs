// A load-generator process for many topics of few subscribers (the `fanout-topics` scenario of
// bench/run.mjs, bench/lib/history-cost.mjs): it opens `perTopic` clients for each topic it is
// given, joins each to its topic, counts every broadcast its clients receive and reports the
// running total to the orchestrator every few milliseconds ({ type: 'progress', received }), so
// the orchestrator can keep a window of deliveries in flight without one IPC message per
// broadcast (with one subscriber per topic that would be one per delivery, and the IPC would
// cost more than the fan-out being measured).
//
// Clients speak the hornbeam wire protocol over `ws` (also used for the raw ws server, which
// answers the same join) or Socket.IO over socket.io-client (websocket transport only).
import WebSocket from 'ws'
import { Histogram, nowMicros } from './hist.mjs'
import { serveRequests } from './child.mjs'
import { pool } from './pool.mjs'

const send = (m) => process.connected && process.send(m)
process.on('disconnect', () => process.exit(0))

let clients = []
let received = 0
let unexpected = 0
let hist = new Histogram()
let reported = -1
let ticker

const MARK = Buffer.from('"m",{"s":')
const T_MARK = Buffer.from(',"t":')

function readInt(buf, i) {
  let n = 0
  for (let c = buf[i]; c >= 48 && c <= 57; c = buf[++i]) n = n * 10 + (c - 48)
  return n
}

function delivered(t) {
  hist.add(nowMicros() - t)
  received++
}

function openHornbeam(url) {
  return new Promise((resolve, reject) => {
    const client = { kind: 'hornbeam', acks: new Map(), refSeq: 0, closed: false }
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true })
    client.ws = ws
    const timer = setTimeout(() => (ws.terminate(), reject(new Error('connect timeout'))), 60_000)
    ws.on('open', () => (clearTimeout(timer), resolve(client)))
    ws.on('error', (err) => (clearTimeout(timer), reject(err)))
    ws.on('close', () => (client.closed = true))
    ws.on('message', (data) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
      const i = buf.indexOf(MARK)
      if (i >= 0) {
        const j = buf.indexOf(T_MARK, i + MARK.length)
        if (j >= 0) return delivered(readInt(buf, j + T_MARK.length))
      }
      let frame
      try {
        frame = JSON.parse(buf.toString())
      } catch {
        unexpected++
        return
      }
      const [, ref, , event, payload] = frame
      if (event === 'hb_reply' || event === 'phx_reply') {
        const ack = client.acks.get(ref)
        if (ack) {
          client.acks.delete(ref)
          ack(payload)
        }
      } else if (event !== 'presence_state' && event !== 'presence_diff' && event !== 'hb_history') unexpected++
    })
  })
}

function joinHornbeam(client, topic) {
  return new Promise((resolve) => {
    const ref = String(++client.refSeq)
    client.acks.set(ref, (payload) => resolve(payload?.status === 'ok'))
    client.ws.send(JSON.stringify([ref, ref, topic, 'hb_join', {}]))
  })
}

let ioFactory
async function openSocketIo(url) {
  ioFactory ??= (await import('socket.io-client')).io
  return new Promise((resolve, reject) => {
    const client = { kind: 'socketio', closed: false }
    const socket = ioFactory(url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 60_000 })
    client.socket = socket
    socket.on('connect', () => resolve(client))
    socket.on('connect_error', (err) => reject(err))
    socket.on('disconnect', () => (client.closed = true))
    socket.on('m', (p) => delivered(p.t))
  })
}

function joinSocketIo(client, topic) {
  return new Promise((resolve) => client.socket.emit('hb_join', topic, {}, (r) => resolve(r?.status === 'ok')))
}

const ops = {
  /** Opens `perTopic` clients for each of `topics` and joins each to its topic. */
  async connect({ kind, url, topics, perTopic, concurrency = 64 }) {
    const t0 = nowMicros()
    const jobs = topics.flatMap((topic) => Array.from({ length: perTopic }, () => topic))
    const results = await pool(jobs, concurrency, async (topic) => {
      const client = kind === 'socketio' ? await openSocketIo(url) : await openHornbeam(url)
      clients.push(client)
      const ok = kind === 'socketio' ? await joinSocketIo(client, topic) : await joinHornbeam(client, topic)
      if (!ok) throw new Error('join refused')
      client.joined = true
      return true
    })
    const failed = results.filter((r) => !r.ok)
    return {
      opened: clients.length,
      joined: clients.filter((c) => c.joined && !c.closed).length,
      failed: failed.length,
      errors: [...new Set(failed.map((r) => r.error))].slice(0, 5),
      micros: nowMicros() - t0,
    }
  },

  /** Starts a phase: zero counters; progress is reported every `everyMs` while it runs. */
  reset({ everyMs = 5 } = {}) {
    received = 0
    unexpected = 0
    reported = -1
    hist = new Histogram()
    clearInterval(ticker)
    ticker = setInterval(() => {
      if (received !== reported) send({ type: 'progress', received: (reported = received) })
    }, everyMs)
    return { joined: clients.filter((c) => c.joined && !c.closed).length }
  },

  /** Ends a phase: what it received. */
  report() {
    clearInterval(ticker)
    return {
      received,
      unexpected,
      joined: clients.filter((c) => c.joined && !c.closed).length,
      closed: clients.filter((c) => c.closed).length,
      hist: hist.toJSON(),
    }
  },

  async close() {
    clearInterval(ticker)
    for (const c of clients) {
      if (c.kind === 'socketio') c.socket.disconnect()
      else c.ws.terminate()
    }
    const n = clients.length
    clients = []
    return { closed: n }
  },

  async exit() {
    await ops.close()
    setImmediate(() => process.exit(0))
    return { exiting: true }
  },
}

serveRequests(ops)
send({ type: 'ready', pid: process.pid })
