// A load generator of bench/big-room.mjs: raw `ws` sockets speaking the phoenix v2 wire, each a
// user that joins its room at a scheduled moment and keeps the room's presence list as a client
// must (presence_state, then presence_diff joins and leaves), without parsing the JSON: keys are
// found by their `":{"metas":[` suffix, so a generator can follow thousands of 1 MB lists.
//   node bench/lib/big-room-clients.mjs
// IPC requests:
//   open { url, localAddress, first, count, users, roomSize }   open the sockets of users first … first+count-1
//   join { startAt, spacingMicros }   user g sends phx_join at startAt + g × spacingMicros (monotonic µs)
//   status              how many are open, replied, complete, closed
//   results             join-reply latencies, completion times, presence bytes and keys
import { monitorEventLoopDelay } from 'node:perf_hooks'
import WebSocket from 'ws'
import { Histogram, nowMicros } from './hist.mjs'
import { serveRequests } from './child.mjs'
import { pool } from './pool.mjs'

const send = (m) => process.connected && process.send(m)
process.on('disconnect', () => process.exit(0))

const SUFFIX = Buffer.from('":{"metas":[')
const LEAVES = Buffer.from('},"leaves":{')
const STATE = Buffer.from('"presence_state"')
const DIFF = Buffer.from('"presence_diff"')
const REPLY = Buffer.from('"phx_reply"')

/** @type {User[]} */
let users = []
const joinLatency = new Histogram()
// This process's own lag: a reply waits in it before it is read, as on a busy phone.
const lag = monitorEventLoopDelay({ resolution: 10 })

class User {
  constructor(g, room, expected, words) {
    this.g = g
    this.room = room
    this.expected = expected
    this.known = new Uint32Array(words)
    this.count = 0
    this.presenceBytes = 0
    this.presenceFrames = 0
    this.stateBytes = 0
    this.stateKeys = 0
    this.sentAt = 0
    this.repliedAt = 0
    this.completeAt = 0
    this.closeCode = 0
    this.ws = null
  }

  receive(data) {
    const head = Math.min(data.length, 64 + this.room.length)
    const isState = data.indexOf(STATE) !== -1 && data.indexOf(STATE) < head
    if (isState || (data.indexOf(DIFF) !== -1 && data.indexOf(DIFF) < head)) return this.presence(data, isState)
    if (data.indexOf(REPLY) !== -1 && data.indexOf(REPLY) < head && data[2] === 0x31 /* join_ref "1" */) {
      this.repliedAt = nowMicros()
      joinLatency.add(this.repliedAt - this.sentAt)
    }
  }

  presence(data, isState) {
    this.presenceBytes += data.length
    this.presenceFrames++
    const leavesAt = isState ? data.length : data.lastIndexOf(LEAVES)
    let keys = 0
    for (let at = data.indexOf(SUFFIX); at !== -1; at = data.indexOf(SUFFIX, at + SUFFIX.length)) {
      // `"user:<g>":{"metas":[`: the digits end where the suffix begins.
      let g = 0
      let scale = 1
      for (let i = at - 1; data[i] >= 0x30 && data[i] <= 0x39; i--, scale *= 10) g += (data[i] - 0x30) * scale
      const word = g >>> 5
      const bit = 1 << (g & 31)
      if (at < leavesAt) {
        keys++
        if ((this.known[word] & bit) === 0) (this.known[word] |= bit), this.count++
      } else if ((this.known[word] & bit) !== 0) (this.known[word] &= ~bit), this.count--
    }
    if (isState && keys > 0) (this.stateBytes += data.length), (this.stateKeys += keys)
    if (this.completeAt === 0 && this.count === this.expected) this.completeAt = nowMicros()
  }

  join() {
    this.sentAt = nowMicros()
    this.ws.send(`["1","1","${this.room}","phx_join",{"username":"${this.g}"}]`)
  }
}

function open(user, url, localAddress) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false })
    user.ws = ws
    ws.on('message', (data) => user.receive(data))
    ws.once('close', (code) => (user.closeCode = code))
    ws.once('open', resolve)
    ws.once('error', reject)
  })
}

const ops = {
  async open({ url, localAddress, first, count, users: total, roomSize }) {
    const rooms = Math.max(1, Math.ceil(total / roomSize))
    const words = Math.ceil(total / 32)
    for (let k = 0; k < count; k++) {
      const g = first + k
      const r = g % rooms
      // Users g ≡ r (mod rooms) share room r: every room fills over the whole join period.
      const expected = Math.floor((total - 1 - r) / rooms) + 1
      users.push(new User(g, rooms === 1 ? 'room:big' : `room:r${r}`, expected, words))
    }
    const t0 = nowMicros()
    const results = await pool(users, 64, (user) => open(user, `${url}?vsn=2.0.0`, localAddress))
    const failed = results.filter((r) => !r.ok)
    // The hub closes a socket that has not joined within unjoinedTimeoutMs (45 s): the join phase
    // must start soon after the sockets are open.
    return { opened: count - failed.length, failed: failed.length, error: failed[0]?.error, seconds: (nowMicros() - t0) / 1e6 }
  },

  join({ startAt, spacingMicros }) {
    lag.enable()
    const queue = users.slice().sort((a, b) => a.g - b.g)
    let next = 0
    const tick = () => {
      const now = nowMicros()
      while (next < queue.length && startAt + queue[next].g * spacingMicros <= now) queue[next++].join()
      if (next < queue.length) setTimeout(tick, 1)
    }
    tick()
    // Heartbeats as phoenix.js sends them, so the idle timeout never counts against a member.
    const heartbeat = setInterval(() => {
      for (const user of users) if (user.ws.readyState === 1) user.ws.send('[null,"hb","phoenix","heartbeat",{}]')
    }, 20_000)
    heartbeat.unref()
    return { scheduled: queue.length }
  },

  status() {
    let replied = 0
    let complete = 0
    let closed = 0
    for (const u of users) {
      if (u.repliedAt) replied++
      if (u.completeAt) complete++
      if (u.closeCode) closed++
    }
    return { users: users.length, replied, complete, closed }
  },

  results() {
    return {
      joinLatency: joinLatency.toJSON(),
      sentAt: users.map((u) => u.sentAt),
      completeAt: users.map((u) => u.completeAt),
      expected: users.map((u) => u.expected),
      presenceBytes: users.map((u) => u.presenceBytes),
      presenceFrames: users.map((u) => u.presenceFrames),
      stateBytes: users.reduce((s, u) => s + u.stateBytes, 0),
      stateKeys: users.reduce((s, u) => s + u.stateKeys, 0),
      closeCodes: users.filter((u) => u.closeCode).map((u) => u.closeCode),
      lag: { p99Ms: lag.percentile(99) / 1e6, maxMs: lag.max / 1e6 },
    }
  },

  exit() {
    for (const u of users) u.ws?.terminate()
    users = []
    setImmediate(() => process.exit(0))
    return {}
  },
}

serveRequests(ops)
send({ type: 'ready', pid: process.pid })
