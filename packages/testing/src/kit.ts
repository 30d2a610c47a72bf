/**
 * `channelTest(hub)`: drive a hub in process, as Phoenix.ChannelTest does. Connections are
 * in-process stand-ins for WebSockets: the connect hook, joins, handlers, replies, broadcasts,
 * presence and leave hooks all run as they do over the wire, but nothing listens or connects.
 *
 *   const kit = channelTest(() => { const hub = createHub(); defineChat(hub); return hub }, { clock: true })
 *   const alice = await kit.connect({ token: 't' })
 *   const room = alice.channel('room:lobby')
 *   await room.join({ username: 'alice' })          // { status: 'ok', response }
 *   await room.push('new_msg', { body: 'hi' })      // the reply
 *   kit.clock!.tick(50)                              // the presence batching window, say
 *   await kit.close()
 */
import type { IncomingMessage } from 'node:http'
import { install, type Clock } from '@sinonjs/fake-timers'
import type { Hub } from '@hornbeam/channels'
import { FakeServerSocket } from './fake-socket.js'
import { TestSocket } from './test-socket.js'

export interface ChannelTestOptions {
  /**
   * Fake `setTimeout`, `setInterval` and `Date` (not microtasks or `setImmediate`, which the hub
   * needs to run) from before the hub is made, so the test moves time with `kit.clock.tick(ms)`:
   * batching windows, idle and join timeouts, presence heartbeats. Default false.
   */
  clock?: boolean
  /** The connection's request as the connect hook sees it: headers, url. */
  request?: { headers?: Record<string, string>; url?: string }
}

/** The connect hook refused: the status an HTTP client would have got. */
export class ConnectRefused extends Error {
  override name = 'ConnectRefused'
  constructor(readonly status: number, message: string) {
    super(`connect refused with ${status}: ${message}`)
  }
}

export interface ChannelTest {
  readonly hub: Hub
  /** The fake clock, with `clock: true`. */
  readonly clock: Clock | undefined
  /** Connects as a client would, with `params` in the query (the connect hook sees them). */
  connect(params?: Record<string, string>, request?: ChannelTestOptions['request']): Promise<TestSocket>
  /** Closes the hub (1012 to every socket, leave hooks) and uninstalls the clock. */
  close(): Promise<void>
}

export function channelTest(hub: Hub | (() => Hub), options: ChannelTestOptions = {}): ChannelTest {
  const clock = options.clock ? install({ now: Date.now(), toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] }) : undefined
  let made: Hub
  try {
    made = typeof hub === 'function' ? hub() : hub
  } catch (err) {
    clock?.uninstall()
    throw err
  }
  return {
    hub: made,
    clock,
    async connect(params = {}, request = options.request) {
      const query = new URLSearchParams(params).toString()
      const raw = {
        url: request?.url ?? `/ws/websocket${query ? `?${query}` : ''}`,
        headers: { host: 'localhost', ...request?.headers },
        socket: {},
        method: 'GET',
      } as unknown as IncomingMessage
      const prepared = await made.endpoint.prepare(raw, raw)
      if ('status' in prepared) throw new ConnectRefused(prepared.status, prepared.message)
      let socket!: TestSocket
      const server = new FakeServerSocket((text) => socket.deliver(text), (info) => socket.ended(info))
      const conn = made.endpoint.accept(server as never, prepared)
      socket = new TestSocket(made, conn.id, () => server)
      return socket
    },
    async close() {
      try {
        await made.close()
      } finally {
        clock?.uninstall()
      }
    },
  }
}
