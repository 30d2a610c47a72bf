// A load-generator process: many WebSocket clients that join a topic, count and timestamp every
// broadcast they receive, and report to the orchestrator over IPC. Several of these run at once
// (forked by bench/run.mjs), separate from the server process.
//
// Requests { id, op, ... } are answered { id, result } or { id, error }; unsolicited reports are
// { type: 'done', seq } when every joined client of this process has received message `seq`.
//
// Clients speak the hornbeam wire protocol over `ws` (kind 'hornbeam', also used for the raw ws
// server, which answers the same join), the phoenix v2 wire (kind 'phoenix': `vsn=2.0.0`,
// phx_join, binary broadcasts) or Socket.IO over socket.io-client (kind 'socketio', websocket
// transport only). Binary broadcasts (bench/lib/binary-cost.mjs) carry seq and send time in their
// first 12 bytes (uint32, float64), as binary frames or, on the hornbeam wire, in their
// {"hb_binary": "<base64>"} form.
import WebSocket from 'ws'
import { Histogram, nowMicros } from './lib/hist.mjs'
import { serveRequests } from './lib/child.mjs'
import { pool } from './lib/pool.mjs'

const send = (m) => process.connected && process.send(m)
process.on('disconnect', () => process.exit(0))

/** @type {Array<Client>} */
let clients = []
let joinedCount = 0
let hist = new Histogram()
let received = 0
let unexpected = 0
const pending = new Map() // seq -> deliveries so far in this process
let trackDone = true
/** The heartbeats op's state: one timer for the process, however many clients. */
const heartbeat = { on: false, timer: undefined, tick: 0, ref: 0, sent: 0, slots: [], assigned: 0, topic: 'hornbeam' }

const MARK = Buffer.from('"m",{"s":')
const T_MARK = Buffer.from(',"t":')
const BINARY_MARK = Buffer.from('"m",{"hb_binary":"')

/** Reads the unsigned integer at buf[i...], up to the first non-digit. */
function readInt(buf, i) {
  let n = 0
  for (let c = buf[i]; c >= 48 && c <= 57; c = buf[++i]) n = n * 10 + (c - 48)
  return n
}

function delivered(client, seq, t) {
  const now = nowMicros()
  hist.add(now - t)
  received++
  client.received++
  if (!trackDone) return
  const c = (pending.get(seq) ?? 0) + 1
  if (c >= joinedCount) {
    pending.delete(seq)
    // t: the server's broadcast time; at: this process's last delivery of it (same clock).
    send({ type: 'done', seq, t, at: now })
  } else pending.set(seq, c)
}

class Client {
  constructor(index) {
    this.index = index
    this.received = 0
    this.joined = false
    this.acks = new Map() // ref -> resolve
    this.presence = new Map() // topic -> Set of keys
    this.refSeq = 0
  }
}

// -- hornbeam protocol over ws

/** A binary broadcast (phoenix v2 kind 2: kind, |topic|, |event|, topic, event, payload). */
function deliveredBinary(client, buf) {
  if (buf[0] !== 2) return void unexpected++
  const at = 3 + buf[1] + buf[2]
  delivered(client, buf.readUInt32BE(at), buf.readDoubleBE(at + 4))
}

function openHornbeam(url, index, kind = 'hornbeam', localAddress) {
  return new Promise((resolve, reject) => {
    const client = new Client(index)
    const ws = new WebSocket(kind === 'phoenix' ? `${url}?vsn=2.0.0` : url, { perMessageDeflate: false, skipUTF8Validation: true, ...(localAddress ? { localAddress } : {}) })
    client.ws = ws
    client.kind = kind
    const timer = setTimeout(() => (ws.terminate(), reject(new Error('connect timeout'))), 60_000)
    ws.on('open', () => {
      clearTimeout(timer)
      resolve(client)
    })
    ws.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    ws.on('close', () => (client.closed = true))
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
      if (isBinary) return deliveredBinary(client, buf)
      const i = buf.indexOf(MARK)
      if (i >= 0) {
        const seq = readInt(buf, i + MARK.length)
        const j = buf.indexOf(T_MARK, i + MARK.length)
        if (j >= 0) return delivered(client, seq, readInt(buf, j + T_MARK.length))
      }
      const b = buf.indexOf(BINARY_MARK)
      // The JSON form of a binary broadcast: its first 12 bytes are the first 16 base64 characters.
      if (b >= 0) {
        const head = Buffer.from(buf.toString('latin1', b + BINARY_MARK.length, b + BINARY_MARK.length + 16), 'base64')
        return delivered(client, head.readUInt32BE(0), head.readDoubleBE(4))
      }
      let frame
      try {
        frame = JSON.parse(buf.toString())
      } catch {
        unexpected++
        return
      }
      const [, ref, topic, event, payload] = frame
      if (event === 'hb_reply' || event === 'phx_reply') {
        const ack = client.acks.get(ref)
        if (ack) {
          client.acks.delete(ref)
          ack(payload)
        }
      } else if (event === 'presence_state') {
        client.presence.set(topic, new Set(Object.keys(payload)))
        presenceChanged()
      } else if (event === 'presence_diff') {
        let set = client.presence.get(topic)
        if (!set) client.presence.set(topic, (set = new Set()))
        for (const k of Object.keys(payload.leaves ?? {})) set.delete(k)
        for (const k of Object.keys(payload.joins ?? {})) set.add(k)
        presenceChanged()
      } else if (event !== 'presence_state') {
        unexpected++
      }
    })
  })
}

function joinHornbeam(client, topic, params) {
  return new Promise((resolve) => {
    const ref = String(++client.refSeq)
    client.acks.set(ref, (payload) => resolve(payload?.status === 'ok'))
    client.ws.send(JSON.stringify([ref, ref, topic, client.kind === 'phoenix' ? 'phx_join' : 'hb_join', params ?? {}]))
  })
}

// -- Socket.IO

let ioFactory
async function openSocketIo(url, index) {
  ioFactory ??= (await import('socket.io-client')).io
  return new Promise((resolve, reject) => {
    const client = new Client(index)
    client.kind = 'socketio'
    const socket = ioFactory(url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 60_000 })
    client.socket = socket
    socket.on('connect', () => resolve(client))
    socket.on('connect_error', (err) => reject(err))
    socket.on('disconnect', () => (client.closed = true))
    socket.on('m', (p) => delivered(client, p.s, p.t))
  })
}

function joinSocketIo(client, topic, params) {
  return new Promise((resolve) => client.socket.emit('hb_join', topic, params ?? {}, (r) => resolve(r?.status === 'ok')))
}

const open = (kind, url, index, localAddress) => (kind === 'socketio' ? openSocketIo(url, index) : openHornbeam(url, index, kind, localAddress))
const join = (client, topic, params) => (client.kind === 'socketio' ? joinSocketIo(client, topic, params) : joinHornbeam(client, topic, params))

// -- presence waits (cluster scenario)

const presenceWaiters = new Set()
function presenceChanged() {
  for (const w of presenceWaiters) w()
}

const ops = {
  /**
   * Opens `count` clients and joins each to `topic`. `localAddress` (e.g. 127.0.0.2): the source
   * address their TCP connections bind, so that many clients do not share one address's
   * ephemeral ports (hornbeam and phoenix kinds).
   */
  async connect({ kind, url, count, topic, firstIndex = 0, concurrency = 64, params, localAddress }) {
    const t0 = nowMicros()
    const indices = Array.from({ length: count }, (_, i) => firstIndex + i)
    const results = await pool(indices, concurrency, async (index) => {
      const client = await open(kind, url, index, localAddress)
      clients.push(client)
      if (topic) {
        const ok = await join(client, topic, { ...(params ?? {}), user: `u${index}` })
        if (!ok) throw new Error('join refused')
        client.joined = true
      }
      return true
    })
    joinedCount = clients.filter((c) => c.joined && !c.closed).length
    const failed = results.filter((r) => !r.ok)
    return {
      opened: clients.length,
      joined: joinedCount,
      failed: failed.length,
      errors: [...new Set(failed.map((r) => r.error))].slice(0, 5),
      micros: nowMicros() - t0,
    }
  },

  /** Starts a measurement phase: empties the histogram and counters. */
  reset({ trackDone: td = true } = {}) {
    hist = new Histogram()
    received = 0
    unexpected = 0
    pending.clear()
    trackDone = td
    for (const c of clients) c.received = 0
    joinedCount = clients.filter((c) => c.joined && !c.closed).length
    return { joined: joinedCount }
  },

  /** What this phase saw; `expected` is the messages each joined client should have received. */
  report({ expected }) {
    let short = 0
    let closed = 0
    for (const c of clients) {
      if (c.closed) closed++
      if (c.joined && c.received < expected) short++
    }
    return { received, joined: joinedCount, clientsShort: short, clientsClosed: closed, unexpected, hist: hist.toJSON() }
  },

  /**
   * Every client sends `joins` joins to distinct topics, pipelined, and waits for all replies.
   * Topics are `<prefix><client>-<j>` (e.g. track:j12-3); `user` names the presence key.
   */
  async joinBurst({ prefix, joins }) {
    const t0 = nowMicros()
    let ok = 0
    let refused = 0
    await Promise.all(
      clients.map(async (client) => {
        const all = []
        for (let j = 0; j < joins; j++) {
          const name = `${client.index}-${j}`
          all.push(join(client, `${prefix}${name}`, { user: `u${name}` }))
        }
        for (const r of await Promise.all(all)) r ? ok++ : refused++
      }),
    )
    return { ok, refused, startMicros: t0, endMicros: nowMicros() }
  },

  /** Joins this process's `nth` client to `topic`; resolves { ok, sentAt, ackAt } (monotonic µs). */
  async joinClient({ nth, topic }) {
    const client = clients[nth]
    const sentAt = nowMicros()
    const ok = await join(client, topic, { user: `u${client.index}` })
    if (ok) client.joined = true
    joinedCount = clients.filter((c) => c.joined && !c.closed).length
    return { ok, sentAt, ackAt: nowMicros(), key: `u${client.index}` }
  },

  /**
   * Resolves with the monotonic time at which every joined hornbeam client of this process sees
   * `key` in (present=true) or out of (present=false) the presence list of `topic`.
   */
  presenceWait({ topic, key, present, timeoutMs = 30_000 }) {
    return new Promise((resolve) => {
      const check = () => {
        const all = clients.filter((c) => c.joined && !c.closed)
        if (all.every((c) => (c.presence.get(topic)?.has(key) ?? false) === present)) {
          presenceWaiters.delete(check)
          clearTimeout(timer)
          resolve({ ok: true, at: nowMicros(), clients: all.length })
        }
      }
      const timer = setTimeout(() => {
        presenceWaiters.delete(check)
        resolve({ ok: false, at: nowMicros() })
      }, timeoutMs)
      presenceWaiters.add(check)
      check()
    })
  },

  /** The presence keys the first joined client sees on `topic`. */
  presenceKeys({ topic }) {
    const c = clients.find((x) => x.joined && !x.closed)
    return [...(c?.presence.get(topic) ?? [])]
  },

  async close() {
    clearInterval(heartbeat.timer)
    Object.assign(heartbeat, { on: false, timer: undefined, tick: 0, slots: [], assigned: 0 })
    for (const c of clients) {
      if (c.kind === 'socketio') c.socket.disconnect()
      else c.ws.terminate()
    }
    const n = clients.length
    clients = []
    joinedCount = 0
    return { closed: n }
  },

  now() {
    return nowMicros()
  },

  /**
   * Heartbeats as phoenix.js sends them (`[null, ref, <topic>, "heartbeat", {}]`, every
   * `periodMs`), for every open hornbeam client of this process, their phases spread evenly over
   * the period (client k's phase is the fractional part of k × 0.618…, the golden ratio, however
   * many there are): one timer for the process ticks every `tickMs` and sends the heartbeats of
   * the clients whose turn it is. `on: false` pauses them; the cycle stands still meanwhile, so no
   * client waits longer than a period plus the pause. The period and tick are fixed by the first
   * call. Answers the heartbeats sent so far.
   */
  heartbeats({ on = true, periodMs = 30_000, tickMs = 100, topic = 'hornbeam' } = {}) {
    heartbeat.on = on
    if (on && !heartbeat.timer) {
      const slots = Math.max(1, Math.round(periodMs / tickMs))
      heartbeat.slots = Array.from({ length: slots }, () => [])
      heartbeat.assigned = 0
      heartbeat.topic = topic
      heartbeat.timer = setInterval(() => {
        if (!heartbeat.on) return
        // Clients opened since the last tick get their phase.
        for (; heartbeat.assigned < clients.length; heartbeat.assigned++) {
          const k = heartbeat.assigned
          heartbeat.slots[Math.floor(((k * 0.6180339887498949) % 1) * slots)].push(clients[k])
        }
        for (const c of heartbeat.slots[heartbeat.tick++ % slots]) {
          if (c.closed || c.kind === 'socketio' || c.ws.readyState !== WebSocket.OPEN) continue
          c.ws.send(`[null,"h${++heartbeat.ref}","${heartbeat.topic}","heartbeat",{}]`)
          heartbeat.sent++
        }
      }, tickMs)
    }
    return { sent: heartbeat.sent }
  },

  async exit() {
    await ops.close()
    setImmediate(() => process.exit(0))
    return { exiting: true }
  },
}

serveRequests(ops)
send({ type: 'ready', pid: process.pid })
