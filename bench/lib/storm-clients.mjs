// Clients of bench/storm.mjs: @hornbeam/client sockets (the `ws` package as their transport,
// every other option the default unless `restartWindowMs` is given), each joined to one topic, in
// one of several processes (a process may hold about 19,000 sockets here: 20,000 open files).
// Everything is timed on the monotonic clock shared by all processes (µs).
//
// IPC requests:
//   connect { url, first, count, topics, restartWindowMs, perSecond }   opens the sockets at a
//       steady pace (no storm of our own), each joins bench:s<(first+i) mod topics>; resolves
//       when every channel has had its first hb_history
//   status      how many are joined, hold a position, resumed (after `arm`)
//   arm         from now on, record each socket's restart: the 1012, each connection attempt, the
//               reconnect, the rejoin's hb_history (resumed) and whether it recovered
//   timeline    those records, as arrays
//   close       disconnect() every socket
import WebSocket from 'ws'
import { Socket } from '@hornbeam/client'
import { nowMicros } from './hist.mjs'
import { serveRequests } from './child.mjs'

const send = (m) => process.connected && process.send(m)
process.on('disconnect', () => process.exit(0))

/** @type {Array<ReturnType<typeof makeClient>>} */
let clients = []
let armed = false

function makeClient(url, topic, restartWindowMs) {
  const c = {
    socket: null,
    channel: null,
    histories: 0,
    // After arm():
    closedAt: 0,
    closeCode: 0,
    attempts: 0,
    failedAttempts: 0,
    firstAttemptAt: 0,
    openedAt: 0,
    resumedAt: 0,
    recovered: null,
    reason: null,
    replayed: 0,
    timeouts: 0,
  }
  // The ws package as the transport (Node 20 has no global WebSocket); a subclass only to count
  // the connection attempts, which the socket makes on its own.
  class Transport extends WebSocket {
    constructor(address) {
      super(address)
      if (armed && c.closedAt) {
        c.attempts++
        if (!c.firstAttemptAt) c.firstAttemptAt = nowMicros()
      }
    }
  }
  const options = { transport: Transport }
  if (restartWindowMs !== undefined && restartWindowMs !== null) options.restartWindowMs = restartWindowMs
  const socket = new Socket(url, options)
  c.socket = socket
  socket.onClose((event) => {
    if (!armed) return
    if (!c.closedAt) {
      c.closedAt = nowMicros()
      c.closeCode = event.code
    } else if (!c.openedAt) c.failedAttempts++
  })
  socket.onOpen(() => {
    if (armed && c.closedAt && !c.openedAt) c.openedAt = nowMicros()
  })
  const channel = socket.channel(topic, {})
  c.channel = channel
  channel.on('hb_history', (payload) => {
    c.histories++
    if (armed && c.closedAt && !c.resumedAt) {
      c.resumedAt = nowMicros()
      c.recovered = payload?.resumed ? payload.recovered === true : null
      c.reason = payload?.reason ?? null
      c.replayed = payload?.replayed ?? 0
    }
  })
  channel.joinPush.receive('timeout', () => {
    if (armed) c.timeouts++
  })
  return c
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function waitFor(check, timeoutMs) {
  const until = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > until) return false
    await sleep(20)
  }
  return true
}

const ops = {
  async connect({ url, first, count, topics, restartWindowMs, perSecond = 1000 }) {
    const t0 = nowMicros()
    const batch = Math.max(1, Math.round(perSecond / 50))
    for (let i = 0; i < count; i += batch) {
      for (let k = i; k < Math.min(count, i + batch); k++) {
        const c = makeClient(url, `bench:s${(first + k) % topics}`, restartWindowMs)
        clients.push(c)
        c.socket.connect()
        c.channel.join()
      }
      await sleep(20)
    }
    const ok = await waitFor(() => clients.every((c) => c.histories > 0), 120_000)
    return { opened: clients.length, joined: clients.filter((c) => c.channel.isJoined()).length, ok, seconds: (nowMicros() - t0) / 1e6 }
  },

  status() {
    let joined = 0
    let positioned = 0
    let closed = 0
    let resumed = 0
    for (const c of clients) {
      if (c.channel.isJoined()) joined++
      if (c.channel.position !== undefined) positioned++
      if (c.closedAt) closed++
      if (c.resumedAt) resumed++
    }
    return { clients: clients.length, joined, positioned, closed, resumed }
  },

  arm() {
    armed = true
    return { armed: clients.length }
  },

  timeline() {
    const pick = (f) => clients.map(f)
    return {
      closedAt: pick((c) => c.closedAt),
      closeCode: pick((c) => c.closeCode),
      firstAttemptAt: pick((c) => c.firstAttemptAt),
      openedAt: pick((c) => c.openedAt),
      resumedAt: pick((c) => c.resumedAt),
      attempts: pick((c) => c.attempts),
      failedAttempts: pick((c) => c.failedAttempts),
      timeouts: pick((c) => c.timeouts),
      recovered: pick((c) => c.recovered),
      reason: pick((c) => c.reason),
    }
  },

  close() {
    for (const c of clients) c.socket.disconnect()
    const n = clients.length
    clients = []
    armed = false
    return { closed: n }
  },

  exit() {
    ops.close()
    setImmediate(() => process.exit(0))
    return { exiting: true }
  },
}

serveRequests(ops)
send({ type: 'ready', pid: process.pid })
