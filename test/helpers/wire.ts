/**
 * Test helpers: a real listening server with a hub attached, and a raw protocol client over `ws`
 * that records every frame it receives.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'
import { createHub, type Hub, type HubOptions } from '@hornbeam/channels'

export type Frame = [string | null, string | null, string, string, any]

export interface TestServer {
  hub: Hub
  server: Server
  port: number
  url: (path?: string) => string
  close: () => Promise<void>
}

export async function startServer(options: HubOptions = {}, path = '/ws'): Promise<TestServer> {
  const hub = createHub({ logger: quietLogger(), ...options })
  const server = createServer((_req, res) => res.end('http ok'))
  hub.attach(server, { path })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    hub,
    server,
    port,
    url: (p = `${path}/websocket`) => `ws://127.0.0.1:${port}${p}`,
    close: async () => {
      await hub.close()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** Logs nothing unless HB_TEST_LOG is set; keeps the errors it saw for assertions. */
export function quietLogger() {
  const errors: unknown[] = []
  const log = process.env.HB_TEST_LOG ? (o: unknown, m?: string) => console.error(m, o) : () => {}
  return { errors, debug: log, info: log, warn: log, error: (o: unknown, m?: string) => (errors.push(o), log(o, m)) }
}

type Dialect = 'hornbeam' | 'phoenix'

const names = {
  hornbeam: { join: 'hb_join', leave: 'hb_leave', reply: 'hb_reply', close: 'hb_close', error: 'hb_error', hb: 'hornbeam' },
  phoenix: { join: 'phx_join', leave: 'phx_leave', reply: 'phx_reply', close: 'phx_close', error: 'phx_error', hb: 'phoenix' },
}

/** A protocol client speaking raw frames (arrays, or objects for vsn=1.0.0). */
export class RawClient {
  readonly frames: Frame[] = []
  /** The frames that came as binary messages (phoenix v2): their payload (a reply's response) is a Buffer. */
  readonly binary = new Set<Frame>()
  readonly ws: WebSocket
  readonly names: (typeof names)['hornbeam']
  closeEvent: { code: number; reason: string } | undefined
  private ref = 0
  private waiters: Array<() => void> = []

  constructor(
    url: string,
    readonly dialect: Dialect = 'hornbeam',
    readonly objects = false,
  ) {
    this.names = names[dialect]
    this.ws = new WebSocket(url)
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const frame = readBinaryMessage(data as Buffer, this.names.reply)
        this.binary.add(frame)
        this.frames.push(frame)
        return this.wake()
      }
      const parsed = JSON.parse(data.toString())
      this.frames.push(
        Array.isArray(parsed) ? (parsed as Frame) : [parsed.join_ref, parsed.ref, parsed.topic, parsed.event, parsed.payload],
      )
      this.wake()
    })
    this.ws.on('close', (code, reason) => {
      this.closeEvent = { code, reason: reason.toString() }
      this.wake()
    })
    this.ws.on('error', () => this.wake())
  }

  static async connect(url: string, dialect: Dialect = 'hornbeam', objects = false): Promise<RawClient> {
    const client = new RawClient(url, dialect, objects)
    await new Promise<void>((resolve, reject) => {
      client.ws.once('open', () => resolve())
      client.ws.once('error', reject)
      client.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    })
    return client
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  nextRef(): string {
    return String(++this.ref)
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary })
  }

  send(joinRef: string | null, ref: string | null, topic: string, event: string, payload: unknown): void {
    this.ws.send(
      JSON.stringify(this.objects ? { join_ref: joinRef, ref, topic, event, payload } : [joinRef, ref, topic, event, payload]),
    )
  }

  /** Waits until a received frame matches; returns it. */
  async waitFor(match: (f: Frame) => boolean, timeoutMs = 2000, what = 'frame'): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.frames.find(match)
      if (found) return found
      // Every message is emitted before 'close': nothing can arrive once the socket is closed.
      if (this.closeEvent && this.ws.readyState === WebSocket.CLOSED) throw new Error(`closed while waiting for ${what}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  async waitForClose(timeoutMs = 3000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs
    while (!this.closeEvent) {
      if (Date.now() > deadline) throw new Error('timed out waiting for close')
      await new Promise((r) => setTimeout(r, 10))
    }
    return this.closeEvent
  }

  /** The frame received right after `frame` (waiting for it if need be): "the very next frame". */
  async frameAfter(frame: Frame, timeoutMs = 2000): Promise<Frame> {
    const i = this.frames.indexOf(frame)
    if (i === -1) throw new Error(`not a received frame: ${JSON.stringify(frame)}`)
    await this.waitFor(() => this.frames.length > i + 1, timeoutMs, `the frame after ${JSON.stringify(frame)}`)
    return this.frames[i + 1]!
  }

  /**
   * A positive sync point: a heartbeat, answered. The server handles one socket's frames in order
   * and writes to it in order, so once the reply is here, whatever the server sent this socket in
   * answer to its earlier frames (replies, errors, a close) is here too. Its ref cannot be one
   * a test uses. Rejects if the socket closes first.
   */
  async probe(timeoutMs = 2000): Promise<void> {
    const ref = `probe:${this.nextRef()}`
    this.send(null, ref, this.names.hb, 'heartbeat', {})
    await this.waitFor((f) => f[1] === ref && f[3] === this.names.reply, timeoutMs, 'the probe heartbeat reply')
  }

  /** Sends and waits for the reply with the same ref: `{status, response}`. */
  async request(joinRef: string | null, topic: string, event: string, payload: unknown = {}): Promise<{ status: string; response: any }> {
    const ref = this.nextRef()
    this.send(joinRef, ref, topic, event, payload)
    const reply = await this.waitFor((f) => f[1] === ref && f[3] === this.names.reply, 2000, `reply to ${event} ${ref}`)
    return reply[4]
  }

  /** Sends a push whose payload is bytes as a binary message (phoenix v2), as phoenix.js does; waits for its reply. */
  async requestBinary(joinRef: string | null, topic: string, event: string, payload: Uint8Array): Promise<{ status: string; response: any }> {
    const ref = this.nextRef()
    this.ws.send(binaryPush(joinRef, ref, topic, event, payload), { binary: true })
    const reply = await this.waitFor((f) => f[1] === ref && f[3] === this.names.reply, 2000, `reply to binary ${event} ${ref}`)
    return reply[4]
  }

  /** Joins; returns the reply and the join_ref to use for later pushes. */
  async join(topic: string, payload: unknown = {}): Promise<{ status: string; response: any; joinRef: string }> {
    const ref = this.nextRef()
    this.send(ref, ref, topic, this.names.join, payload)
    const reply = await this.waitFor((f) => f[1] === ref && f[3] === this.names.reply, 2000, `join reply ${topic}`)
    return { ...reply[4], joinRef: ref }
  }

  push(joinRef: string | null, topic: string, event: string, payload: unknown = {}) {
    return this.request(joinRef, topic, event, payload)
  }

  /** Frames for `topic` with `event`, in order. */
  events(topic: string, event: string): Frame[] {
    return this.frames.filter((f) => f[2] === topic && f[3] === event)
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return
    const closed = new Promise((resolve) => this.ws.once('close', resolve))
    this.ws.close()
    await closed
  }
}

/**
 * A binary message from the server, read the way phoenix.js reads it (written here from the
 * layout, not with the server's codec): kind 0 push [join_ref, topic, event], 1 reply
 * [join_ref, ref, topic, status], 2 broadcast [topic, event]; one size byte per field, then the
 * fields, then the payload.
 */
export function readBinaryMessage(data: Buffer, replyEvent = 'phx_reply'): Frame {
  const kind = data[0]
  const count = [3, 4, 2][kind!]
  if (count === undefined) throw new Error(`unknown binary message kind ${kind}`)
  let at = 1 + count
  const fields: string[] = []
  for (let i = 0; i < count; i++) {
    fields.push(data.toString('utf8', at, at + data[1 + i]!))
    at += data[1 + i]!
  }
  const payload = data.subarray(at)
  if (kind === 0) return [fields[0] || null, null, fields[1]!, fields[2]!, payload]
  if (kind === 1) return [fields[0] || null, fields[1] || null, fields[2]!, replyEvent, { status: fields[3], response: payload }]
  return [null, null, fields[0]!, fields[1]!, payload]
}

/** A client's binary push: kind 0, the sizes of join_ref, ref, topic and event, those, then the payload. */
export function binaryPush(joinRef: string | null, ref: string | null, topic: string, event: string, payload: Uint8Array): Buffer {
  const fields = [joinRef ?? '', ref ?? '', topic, event].map((f) => Buffer.from(f))
  return Buffer.concat([Buffer.from([0, ...fields.map((f) => f.length)]), ...fields, payload])
}

/** A broadcast's position in its topic's history, as the ref slot carries it: `<epoch>:<offset>`. */
export const POSITION = /^[a-z][a-z0-9]{3,31}:\d+$/

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

let markers = 0

/**
 * A positive sync point for broadcasts: `hub` broadcasts a marker on `topic` and every client
 * waits for it. A hub delivers to each socket in order, so once the marker is here, whatever the
 * hub sent these clients before it (broadcasts, broadcastFrom, presence diffs) is here too.
 */
export async function broadcastMarker(hub: Hub, topic: string, clients: RawClient[], event = 'marker'): Promise<void> {
  const id = ++markers
  hub.broadcast(topic, event, { marker: id })
  await Promise.all(clients.map((c) => c.waitFor((f) => f[2] === topic && f[3] === event && f[4]?.marker === id, 2000, `${event} ${id}`)))
}

/**
 * "Promptly" without a clock: watches the timers of `minMs` or more set from now on, and stop()
 * returns the delays of those that fired meanwhile. Nothing fired between watch and stop means
 * the code in between waited on no such timer (a fallback, a ws close timeout).
 */
export function watchLongTimers(minMs = 1000): { stop(): number[] } {
  const real = globalThis.setTimeout
  const fired: number[] = []
  let watching = true
  globalThis.setTimeout = ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const long = Number(ms) >= minMs
    return real((...a: unknown[]) => {
      if (watching && long) fired.push(Number(ms))
      fn(...a)
    }, ms, ...args)
  }) as typeof setTimeout
  return {
    stop() {
      watching = false
      globalThis.setTimeout = real
      return fired
    },
  }
}

/** Polls `check` until it returns true. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}
