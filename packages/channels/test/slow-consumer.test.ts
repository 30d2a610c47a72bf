// A client that stops reading while 100 MB is broadcast: the server's memory stays bounded, the
// slow socket is closed (or its frames dropped), and a reading client gets everything.
import t from 'tap'
import WebSocket from 'ws'
import { startServer, eventually } from '../../../test/helpers/wire.js'

const PAYLOAD = 'x'.repeat(1000)
const MESSAGES = 100_000 // ~100 MB
const RSS_BOUND = 48 * 1024 * 1024

async function openJoined(url: string): Promise<{ ws: WebSocket; count: () => number }> {
  const ws = new WebSocket(url)
  let n = 0
  await new Promise((resolve) => ws.on('open', resolve))
  ws.send(JSON.stringify(['1', '1', 'firehose', 'hb_join', {}]))
  await new Promise<void>((resolve) => ws.once('message', () => resolve()))
  ws.on('message', () => n++)
  return { ws, count: () => n }
}

for (const mode of ['close', 'drop'] as const) {
  t.test(`slowConsumer: '${mode}'`, async (t) => {
    const srv = await startServer({ maxBufferedBytes: 1024 * 1024, slowConsumer: mode })
    t.teardown(srv.close)
    srv.hub.channel('firehose')
    const reader = await openJoined(srv.url())
    const stalled = await openJoined(srv.url())
    t.teardown(() => (reader.ws.terminate(), stalled.ws.terminate()))
    // Stop reading at the TCP level: the kernel buffers fill, then the server's would.
    ;(stalled.ws as any)._socket.pause()
    global.gc?.()
    const baseline = process.memoryUsage().rss
    let peak = baseline
    for (let sent = 0; sent < MESSAGES; ) {
      // Bursts of 250 per turn, then let the sockets drain.
      for (let i = 0; i < 250; i++, sent++) srv.hub.broadcast('firehose', 'm', { i: sent, p: PAYLOAD })
      await new Promise((resolve) => setImmediate(resolve))
      while (srv.hub.stats().connections > 0 && readerBehind(reader.count(), sent)) await new Promise((r) => setTimeout(r, 1))
      peak = Math.max(peak, process.memoryUsage().rss)
    }
    await eventually(() => reader.count() >= MESSAGES, 20_000, 'the reading client got everything')
      t.equal(reader.count(), MESSAGES, 'every message reached the reader')
    const growth = peak - baseline
    t.ok(growth < RSS_BOUND, `server+clients RSS grew ${(growth / 1048576).toFixed(1)} MB while ~100 MB was broadcast (bound ${RSS_BOUND / 1048576} MB)`)
    const stats = srv.hub.stats()
    if (mode === 'close') {
      t.equal(stats.slowConsumers, 1, 'one slow consumer closed')
      t.equal(stats.connections, 1, 'only the reader is left')
    } else {
      t.ok(stats.droppedFrames > 0, `${stats.droppedFrames} frames dropped for the stalled socket`)
      t.equal(stats.connections, 2, 'the stalled socket stays, its frames are dropped')
    }
  })
}

/**
 * The reader (in this process) is more than 300 messages (~300 KB) behind: wait for it, so it is
 * never itself a slow consumer (the limit here is 1 MiB).
 */
function readerBehind(received: number, sent: number): boolean {
  return sent - received > 300
}
