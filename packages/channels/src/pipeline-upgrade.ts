/**
 * Upgrades that run through a framework's request pipeline (Express, Koa): the upgrade request
 * gets a ServerResponse on its own socket, so the app's middleware before the adapter's can
 * answer it as any request (a 401, a redirect; the socket closes after that answer). When the
 * adapter's middleware is reached, `handOff` gives the socket to the hub.
 */
import { ServerResponse, type IncomingMessage } from 'node:http'
import type { Socket as NetSocket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Endpoint } from './endpoint.js'

interface Pending {
  socket: Duplex
  head: Buffer
  res: ServerResponse
  /** The socket's 'close' and 'error' listeners from before the app saw it. */
  own: Function[]
}

export class PipelineUpgrades {
  private readonly pending = new WeakMap<IncomingMessage, Pending>()

  constructor(
    private readonly endpoint: Endpoint,
    /** The adapter's mark for the sockets it accepts (`mountHub().owner`). */
    private readonly owner: object,
  ) {}

  /** Starts an upgrade: `run(res)` passes `req` through the app, answering with `res`. */
  start(req: IncomingMessage, socket: Duplex, head: Buffer, run: (res: ServerResponse) => void): void {
    const own = [...socket.listeners('close'), ...socket.listeners('error')]
    const res = new ServerResponse(req)
    res.shouldKeepAlive = false
    res.assignSocket(socket as NetSocket)
    res.on('finish', () => (socket as NetSocket).destroySoon())
    this.pending.set(req, { socket, head, res, own })
    run(res)
  }

  /**
   * In the adapter's middleware: when `req` is an upgrade the app let through, the socket becomes
   * the hub's (the connect hook gets `request`) and this returns true.
   */
  handOff(req: IncomingMessage, request: unknown): boolean {
    const upgrade = this.pending.get(req)
    if (upgrade === undefined) return false
    this.pending.delete(req)
    const { socket, res, own } = upgrade
    res.detachSocket(socket as NetSocket)
    // What the app added to the socket for its response (on-finished, in Koa and in Express's
    // logging middleware) would report the WebSocket's later reset as the response's error and
    // hold the request's context for the connection's life.
    for (const event of ['close', 'error']) for (const fn of socket.listeners(event)) if (!own.includes(fn)) socket.off(event, fn as () => void)
    this.endpoint.handleUpgrade(req, socket, upgrade.head, request, this.owner)
    return true
  }

  /** The app finished the request without reaching the adapter. */
  forget(req: IncomingMessage): void {
    this.pending.delete(req)
  }
}
