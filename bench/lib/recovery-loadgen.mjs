// A load generator of the recovery scenario (bench/recovery.mjs): real clients (@hornbeam/client or
// socket.io-client) on one room, whose TCP sockets are cut at random while broadcasts flow, each
// recording every message its application callback gets. Forked by bench/recovery.mjs; obeys
// { id, op } requests over IPC (see `ops`).
//
// The network: every client connects through its own http.Agent (`GateAgent`), whose
// createConnection opens the TCP connection itself. That is where the "network" is simulated:
//   - a cut destroys the client's TCP socket (for ws: `ws._socket.destroy()`; for socket.io-client:
//     `socket.io.engine.transport.ws._socket.destroy()`, the same net.Socket under engine.io's ws),
//     as a network drop would; the server sees the connection end;
//   - for `offlineMs` after a cut the network is down: a connect attempt fails at once with
//     ECONNREFUSED, so the client's own reconnect backoff runs as it would on a dead network, and
//     it reconnects only after the floor;
//   - in a cluster every connection goes to one of the nodes picked at random (a load balancer
//     without stickiness); a node that is down refuses, and the client's backoff runs again.
import http from 'node:http'
import net from 'node:net'
import WebSocket from 'ws'
import { Histogram, nowMicros } from './hist.mjs'
import { serveRequests } from './child.mjs'
import { pool } from './pool.mjs'

const send = (m) => process.connected && process.send(m)
process.on('disconnect', () => process.exit(0))

/** @type {Client[]} */
let clients = []
let churning = false
let cutMinMs = 2000
let cutMaxMs = 4000
let offlineMs = 500

class GateAgent extends http.Agent {
  constructor(client) {
    super({ keepAlive: false })
    this.client = client
  }

  createConnection(_options, _cb) {
    const c = this.client
    if (Date.now() < c.offlineUntil) {
      c.refused++
      c.event('refused')
      const s = new net.Socket()
      process.nextTick(() => s.destroy(Object.assign(new Error('connect ECONNREFUSED (network down: bench cut)'), { code: 'ECONNREFUSED' })))
      return s
    }
    const target = c.targets[Math.floor(Math.random() * c.targets.length)]
    c.attempts++
    c.connectAt = nowMicros()
    c.event('connect', `node ${target.node}`)
    c.lastTarget = target.node
    const s = net.connect({ host: '127.0.0.1', port: target.port })
    s.setNoDelay(true)
    c.tcp = s
    return s
  }
}

class Client {
  constructor(index, kind, targets) {
    this.index = index
    this.kind = kind
    this.targets = targets
    this.offlineUntil = 0
    this.refused = 0
    this.attempts = 0
    this.opens = 0
    this.cuts = 0
    this.cutsOther = 0
    this.closes = 0
    this.joins = 0
    this.joinedAt = null // monotonic µs of the first join's reply
    this.openedAt = 0 // monotonic µs the current connection opened
    this.connNo = 0
    this.counts = new Uint16Array(256)
    this.maxSeq = 0
    this.dups = []
    this.outOfOrder = [] // [seq, after]
    this.arrivals = [] // [seq, at µs, connNo, ref] for every app callback
    this.events = [] // [at µs, what, detail]
    this.recover = { resumes: 0, recovered: 0, notRecovered: 0, replayed: 0, reasons: {} }
    this.cutTimer = undefined
    this.cutAt = 0 // monotonic µs of the last cut not yet followed by an open
    this.serverClosedAt = 0 // monotonic µs the server ended the connection (no cut), until the next open
    this.cause = 'first'
    this.agent = new GateAgent(this)
  }

  event(what, detail) {
    this.events.push([nowMicros(), what, detail ?? null])
  }

  opened(node) {
    this.opens++
    this.connNo++
    this.openedAt = nowMicros()
    // From the TCP connect to the WebSocket open (TCP handshake, HTTP upgrade, and for socket.io the engine's open packet).
    if (this.connectAt) handshakeHist.add(this.openedAt - this.connectAt)
    // What ended the previous connection: our cut, or the server (a rolling restart's close).
    this.cause = this.connNo === 1 ? 'first' : this.cutAt ? 'cut' : 'server'
    const since = this.cutAt || this.serverClosedAt
    if (this.connNo > 1 && since) {
      const gap = this.openedAt - since
      byCause(this.cause).gap.add(gap)
      // The slowest reconnects, with the client's timeline from the cut to the open (evidence).
      if (slowest.length < 5 || gap > slowest.at(-1).gapMs * 1000) {
        const timeline = this.events.filter(([at]) => at >= since).map(([at, what, detail]) => [+((at - since) / 1000).toFixed(1), what, detail])
        slowest.push({ index: this.index, cause: this.cause, gapMs: +(gap / 1000).toFixed(1), timeline: [...timeline, [+(gap / 1000).toFixed(1), 'open', `node ${node}`]].slice(0, 40) })
        slowest.sort((a, b) => b.gapMs - a.gapMs)
        slowest.length = Math.min(slowest.length, 5)
      }
    }
    this.cutAt = 0
    this.serverClosedAt = 0
    this.event('open', `node ${node}`)
    this.scheduleCut()
  }

  scheduleCut() {
    clearTimeout(this.cutTimer)
    this.cutTimer = undefined
    if (!churning) return
    this.cutTimer = setTimeout(() => this.cut(), cutMinMs + Math.random() * (cutMaxMs - cutMinMs))
  }

  /** The connection ended (or a connect failed): unless we cut it, the server ended it. */
  closedByServer() {
    clearTimeout(this.cutTimer)
    this.cutTimer = undefined
    if (!this.cutAt && !this.serverClosedAt && this.connNo > 0) this.serverClosedAt = nowMicros()
  }

  /** The TCP socket under the current WebSocket, as the library holds it. */
  rawSocket() {
    if (this.kind === 'hornbeam') return this.ws?._socket
    return this.socket?.io?.engine?.transport?.ws?._socket
  }

  cut() {
    this.cutTimer = undefined
    const raw = this.rawSocket() ?? this.tcp
    if (!raw || raw.destroyed) return
    this.cuts++
    this.offlineUntil = Date.now() + offlineMs
    this.cutAt = nowMicros()
    if (raw !== this.tcp) this.cutsOther++ // never expected: the library's socket is the agent's
    this.event('cut', raw === this.tcp ? null : 'not the agent socket')
    raw.destroy()
  }

  /** The application callback: one message `{ s, t }` delivered to the app. */
  deliver(payload, ref) {
    const now = nowMicros()
    const seq = payload.s
    if (seq >= this.counts.length) {
      const bigger = new Uint16Array(Math.max(seq + 1, this.counts.length * 2))
      bigger.set(this.counts)
      this.counts = bigger
    }
    this.arrivals.push([seq, now, this.connNo, ref ?? null])
    if (this.counts[seq]++ > 0) {
      this.dups.push(seq)
      return
    }
    if (seq < this.maxSeq) this.outOfOrder.push([seq, this.maxSeq])
    else this.maxSeq = seq
    // A message broadcast before this connection existed can only have come by recovery.
    if (payload.t < this.openedAt) {
      replayHist.add(now - payload.t)
      byCause(this.cause).replay.add(now - payload.t)
    } else liveHist.add(now - payload.t)
  }
}

let replayHist = new Histogram()
let liveHist = new Histogram()
/**
 * Per cause of the reconnect ('cut', or 'server': the server closed the connection): the replay
 * latencies, and the gap from the cut (or the server's close) to the next connection open, which
 * is the offline floor plus the client's reconnect backoff (or its restart window).
 */
let causes = {}
let slowest = []
let handshakeHist = new Histogram()
function byCause(cause) {
  return (causes[cause] ??= { replay: new Histogram(), gap: new Histogram() })
}

// -- @hornbeam/client

let HornbeamSocket
async function openHornbeam(client, { path, topic }) {
  HornbeamSocket ??= (await import('@hornbeam/client')).Socket
  const agent = client.agent
  // The transport: ws, with the client's agent (the simulated network). Everything else default.
  class GatedWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { agent })
      client.ws = this
      this.on('open', () => client.opened(client.lastTarget))
    }
  }
  const url = `ws://127.0.0.1:${client.targets[0].port}${path}`
  const socket = new HornbeamSocket(url, { transport: GatedWebSocket })
  client.socket = socket
  socket.onClose((e) => {
    client.closes++
    client.event('close', e.code)
    client.closedByServer()
  })
  const channel = socket.channel(topic)
  client.channel = channel
  channel.on('m', (payload, ref) => client.deliver(payload, ref))
  channel.on('hb_history', (notice) => client.event('hb_history', notice))
  channel.onRecover((info) => {
    const r = client.recover
    r.resumes++
    r.replayed += info.replayed ?? 0
    if (info.recovered) r.recovered++
    else {
      r.notRecovered++
      r.reasons[info.reason ?? '?'] = (r.reasons[info.reason ?? '?'] ?? 0) + 1
    }
    client.event('recover', info)
  })
  socket.connect()
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('first join timed out (30 s)')), 30_000)
    channel
      .join()
      .receive('ok', () => {
        clearTimeout(timer)
        client.joins++
        client.joinedAt ??= nowMicros()
        client.event('joined')
        resolve()
      })
      .receive('error', (r) => {
        clearTimeout(timer)
        reject(new Error(`join refused: ${JSON.stringify(r)}`))
      })
  })
}

// -- socket.io-client

let ioFactory
async function openSocketIo(client, { topic }) {
  ioFactory ??= (await import('socket.io-client')).io
  // Default options but the transport (websocket only: the servers of a cluster have no sticky
  // sessions, and a cut is then one TCP socket, as with ws) and our agent (the simulated network).
  const socket = ioFactory(`http://127.0.0.1:${client.targets[0].port}`, { transports: ['websocket'], forceNew: true, agent: client.agent })
  client.socket = socket
  socket.io.on('open', () => client.opened(client.lastTarget))
  socket.io.on('close', (reason) => {
    client.closes++
    client.event('close', reason)
    client.closedByServer()
  })
  socket.on('m', (payload) => client.deliver(payload, null))
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('first join timed out (30 s)')), 30_000)
    socket.on('connect', () => {
      const first = client.joinedAt === null
      if (!first) {
        const r = client.recover
        r.resumes++
        if (socket.recovered) r.recovered++
        else r.notRecovered++
      }
      client.event('connect', { recovered: socket.recovered })
      // With connection state recovery the rooms come back with the session: join only when not recovered.
      if (socket.recovered) return
      socket.emit('join', topic, () => {
        client.joins++
        client.event('joined')
        if (first) {
          clearTimeout(timer)
          client.joinedAt = nowMicros()
          resolve()
        }
      })
    })
  })
}

/** What one client saw, against the broadcasts made (`bySeq`: seq -> { t, ok }). */
function evaluate(c, broadcasts, detailLimit) {
  const expected = []
  for (const b of broadcasts) if (b.ok && c.joinedAt !== null && b.t >= c.joinedAt) expected.push(b.seq)
  const lost = expected.filter((s) => !(c.counts[s] > 0))
  const expectedSet = new Set(expected)
  let delivered = 0
  for (const s of expected) if (c.counts[s] > 0) delivered++
  const known = new Set(broadcasts.map((b) => b.seq))
  let early = 0
  let unknown = 0
  for (let s = 0; s < c.counts.length; s++) {
    if (c.counts[s] === 0 || expectedSet.has(s)) continue
    if (known.has(s)) early++
    else unknown++
  }
  const anomalous = lost.length > 0 || c.dups.length > 0 || c.outOfOrder.length > 0 || unknown > 0
  const out = {
    index: c.index,
    joined: c.joinedAt !== null,
    expected: expected.length,
    delivered,
    lost: lost.length,
    duplicates: c.dups.length,
    outOfOrder: c.outOfOrder.length,
    early,
    unknown,
  }
  if (anomalous && detailLimit > 0) {
    // The evidence: which messages, when they were broadcast, and the client's timeline around them.
    const tOf = new Map(broadcasts.map((b) => [b.seq, b]))
    const times = [...lost, ...c.dups, ...c.outOfOrder.map(([s]) => s)].map((s) => tOf.get(s)?.t).filter((t) => t !== undefined)
    const from = Math.min(...times) - 3e6
    const to = Math.max(...times) + 6e6
    out.detail = {
      lostSeqs: lost.slice(0, 50),
      lostBroadcasts: lost.slice(0, 10).map((s) => tOf.get(s)),
      duplicateSeqs: c.dups.slice(0, 50),
      outOfOrder: c.outOfOrder.slice(0, 50),
      joinedAt: c.joinedAt,
      events: c.events.filter(([at]) => at >= from && at <= to).slice(0, 80),
      arrivals: c.arrivals.filter(([, at]) => at >= from && at <= to).slice(0, 120),
    }
  }
  return out
}

const ops = {
  /** Opens `count` clients (indices from `firstIndex`), each joined to `topic`. */
  async connect({ kind, targets, path = '/ws', count, firstIndex = 0, topic, concurrency = 25, cut }) {
    if (cut) ({ minMs: cutMinMs, maxMs: cutMaxMs, offlineMs } = cut)
    const t0 = nowMicros()
    const indices = Array.from({ length: count }, (_, i) => firstIndex + i)
    const results = await pool(indices, concurrency, async (index) => {
      const client = new Client(index, kind, targets)
      clients.push(client)
      if (kind === 'hornbeam') await openHornbeam(client, { path, topic })
      else await openSocketIo(client, { topic })
    })
    const failed = results.filter((r) => !r.ok)
    return {
      opened: clients.length,
      joined: clients.filter((c) => c.joinedAt !== null).length,
      failed: failed.length,
      errors: [...new Set(failed.map((r) => r.error))].slice(0, 5),
      seconds: (nowMicros() - t0) / 1e6,
    }
  },

  /** Starts (or stops) cutting: each connected client is cut 2–4 s after its connection opened. */
  churn({ on }) {
    churning = on
    for (const c of clients) {
      if (on) {
        if (c.rawSocket() && !c.rawSocket().destroyed) c.scheduleCut()
      } else {
        clearTimeout(c.cutTimer)
        c.cutTimer = undefined
      }
    }
    return { churning }
  },

  /** How many clients have message `lastSeq`, and every app delivery so far. */
  progress({ lastSeq }) {
    let complete = 0
    let deliveries = 0
    let connected = 0
    for (const c of clients) {
      if (lastSeq > 0 && c.counts[lastSeq] > 0) complete++
      deliveries += c.arrivals.length
      const raw = c.rawSocket()
      if (raw && !raw.destroyed) connected++
    }
    return { clients: clients.length, complete, deliveries, connected }
  },

  /** The verdict per client against the broadcasts made, summed, with the evidence for anomalies. */
  report({ broadcasts, detailLimit = 20 }) {
    const per = []
    let details = 0
    for (const c of clients) {
      const r = evaluate(c, broadcasts, details < detailLimit ? 1 : 0)
      if (r.detail) details++
      per.push(r)
    }
    const sum = (k) => per.reduce((a, r) => a + r[k], 0)
    const totals = (k) => clients.reduce((a, c) => a + c[k], 0)
    const recover = { resumes: 0, recovered: 0, notRecovered: 0, replayed: 0, reasons: {} }
    for (const c of clients) {
      for (const k of ['resumes', 'recovered', 'notRecovered', 'replayed']) recover[k] += c.recover[k]
      for (const [k, v] of Object.entries(c.recover.reasons)) recover.reasons[k] = (recover.reasons[k] ?? 0) + v
    }
    return {
      clients: clients.length,
      joined: per.filter((r) => r.joined).length,
      expected: sum('expected'),
      delivered: sum('delivered'),
      lost: sum('lost'),
      duplicates: sum('duplicates'),
      outOfOrder: sum('outOfOrder'),
      early: sum('early'),
      unknown: sum('unknown'),
      clientsWithLoss: per.filter((r) => r.lost > 0).length,
      clientsWithDuplicates: per.filter((r) => r.duplicates > 0).length,
      clientsOutOfOrder: per.filter((r) => r.outOfOrder > 0).length,
      cuts: totals('cuts'),
      cutsOther: totals('cutsOther'),
      opens: totals('opens'),
      closes: totals('closes'),
      refused: totals('refused'),
      joins: totals('joins'),
      recover,
      replay: replayHist.toJSON(),
      live: liveHist.toJSON(),
      slowestReconnects: slowest,
      handshake: handshakeHist.toJSON(),
      causes: Object.fromEntries(Object.entries(causes).map(([k, v]) => [k, { replay: v.replay.toJSON(), gap: v.gap.toJSON() }])),
      anomalies: per.filter((r) => r.detail),
      perClientLost: per.filter((r) => r.lost > 0).map((r) => [r.index, r.lost]),
    }
  },

  async close() {
    churning = false
    for (const c of clients) {
      clearTimeout(c.cutTimer)
      try {
        if (c.kind === 'hornbeam') c.socket?.disconnect()
        else c.socket?.disconnect()
      } catch {}
    }
    const n = clients.length
    clients = []
    replayHist = new Histogram()
    liveHist = new Histogram()
    causes = {}
    slowest = []
    handshakeHist = new Histogram()
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
