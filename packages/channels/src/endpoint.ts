/**
 * Where sockets come in, and the one owner of the upgrade: checks an upgrade request (host,
 * origin, protocol version, connection limit, connect hook), upgrades it with its own ws server,
 * accepts the WebSocket as a Connection, keeps the table of connections, sweeps idle ones, and
 * closes them all on shutdown. Framework adapters use it through `hub.endpoint`:
 *
 *   const result = await hub.endpoint.prepare(req, frameworkRequest)   // Prepared or Refusal
 *   hub.endpoint.accept(ws, result)                                    // a ws upgraded by the framework
 *   hub.endpoint.handleUpgrade(req, socket, head, frameworkRequest)    // or: prepare + upgrade + accept
 *   hub.endpoint.longPoll?.handle(req, res, frameworkRequest, owner)   // `<path>/longpoll` (longpoll/)
 */
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import type { LongPollMessage } from './cluster.js'
import { Connection } from './connection.js'
import type { ConnectionHost, TransportSocket } from './host.js'
import type { Logger } from './logger.js'
import type { PeerState } from './longpoll/relay.js'
import { LongPollTransport } from './longpoll/transport.js'
import type { IdHook, ResolvedOptions } from './options.js'
import { Socket, type SocketHost } from './socket.js'
import type { Counters } from './stats.js'
import { attachToServer, prepareConnection, refuseUpgrade, type AttachOptions, type Prepared, type Refusal, type UpgradePolicy } from './upgrade.js'

export interface EndpointHost extends UpgradePolicy {
  readonly nodeId: string
  readonly options: ResolvedOptions
  readonly logger: Logger
  readonly counters: Counters
  readonly id: IdHook | undefined
  /** What every accepted connection is given. */
  readonly connectionHost: ConnectionHost
  /** The other nodes, for long-poll requests relayed to the node holding their session. */
  readonly adapter: { publish(channel: string, message: LongPollMessage): void }
  readonly peers: { peerState(node: string): PeerState }
  /** Whether the hub was given a pub/sub adapter (it may be one node of several). */
  readonly clustered: boolean
}

export class Endpoint {
  /** Upgrades for node:http and Express; adapters whose framework upgrades itself do not use it. */
  readonly wss: WebSocketServer
  /** The long-poll transport at `<path>/longpoll`; undefined with `longPoll: false`. */
  readonly longPoll: LongPollTransport | undefined
  private readonly connections = new Set<Connection>()
  /** Upgrades under way (see guard), and since when. */
  private readonly handshakes = new Map<Duplex, number>()
  private readonly sweeper: NodeJS.Timeout
  private seq = 0
  private closing = false
  /** A listener made once per endpoint: a closure per upgrade would keep its request alive. */
  readonly onSocketError = (err: Error): void => this.host.logger.debug({ err }, 'socket error')

  constructor(private readonly host: EndpointHost) {
    const options = host.options
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
      // The phoenix client may offer "phoenix" plus a token protocol; answer with "phoenix".
      handleProtocols: (protocols) => (protocols.has('phoenix') ? 'phoenix' : false),
    })
    const longPoll = options.longPoll
    this.longPoll = longPoll === false ? undefined : new LongPollTransport({
      nodeId: host.nodeId, logger: host.logger, counters: host.counters, policy: host, settings: longPoll, clustered: host.clustered,
      prepare: (raw, request, authToken) => this.prepare(raw, request, authToken),
      accept: (session, prepared, owner) => this.accept(session, prepared, owner),
      publish: (channel, message) => host.adapter.publish(channel, message),
      peerState: (node) => host.peers.peerState(node),
    })
    const shortest = Math.min(options.idleTimeoutMs, options.unjoinedTimeoutMs, options.frameTimeoutMs, options.handshakeTimeoutMs, longPoll ? longPoll.sessionTimeoutMs : Infinity)
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(5000, Math.floor(shortest / 4))))
    this.sweeper.unref()
  }

  /**
   * Starts an upgrade's handshake clock, as the upgrade arrives: if the app's middleware or the
   * connect hook hold it past handshakeTimeoutMs, the sweep refuses it with 503. A map entry,
   * not a timer: a timer left on the socket would live as long as the connection.
   */
  guard(socket: Duplex): void {
    if (this.host.options.handshakeTimeoutMs > 0) this.handshakes.set(socket, Date.now())
  }

  /** Connections accepted and not yet closed. */
  get size(): number {
    return this.connections.size
  }

  /**
   * Checks an upgrade request before upgrading, so a refusal is an HTTP status. `request` is what
   * the connect hook sees (the framework's own request object). Every refusal is counted here,
   * whichever adapter answers it. `authToken`: the phoenix client's, when it did not come in
   * `Sec-WebSocket-Protocol` (long-poll sends it in a header).
   */
  async prepare(rawRequest: IncomingMessage, request: unknown = rawRequest, authToken?: string): Promise<Prepared | Refusal> {
    let result: Prepared | Refusal
    const max = this.host.options.maxConnections
    if (this.closing) result = { status: 503, message: 'server is shutting down' }
    else if (max > 0 && this.connections.size >= max) result = { status: 503, message: 'too many connections' }
    else result = await prepareConnection(this.host, rawRequest, request, authToken)
    if ('status' in result) this.host.counters.refusedUpgrades++
    return result
  }

  /** Takes an upgraded WebSocket (or a long-poll session) in; `owner` marks it as one adapter's (see closeOwned). */
  accept(ws: TransportSocket, prepared: Prepared, owner?: object): Connection {
    const id = `${this.host.nodeId}.${(++this.seq).toString(36)}`
    this.handshakes.delete((ws as unknown as { _socket: Duplex })._socket)
    const conn = new Connection(this.host.connectionHost, ws, prepared.wire, id, prepared.assigns)
    conn.owner = owner
    if (this.closing) {
      void conn.close(1012, 'server is shutting down')
      return conn
    }
    this.connections.add(conn)
    const idHook = this.host.id
    if (idHook) {
      try {
        conn.socketId = idHook(new Socket(connectionLevelHost(conn), conn.assigns)) ?? undefined
      } catch (err) {
        this.host.logger.error({ err }, 'id hook failed')
      }
    }
    return conn
  }

  /** Prepare, upgrade and accept, for a raw `upgrade` event. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, request?: unknown, owner?: object): void {
    if (!socket.listeners('error').includes(this.onSocketError)) socket.on('error', this.onSocketError)
    this.prepare(req, request ?? req).then(
      (result) => {
        if ('status' in result) {
          this.handshakes.delete(socket)
          return refuseUpgrade(socket, result)
        }
        this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, result, owner))
      },
      (err) => {
        this.host.logger.error({ err }, 'upgrade failed')
        refuseUpgrade(socket, { status: 500, message: 'internal error' })
      },
    )
  }

  /** Mounts on a node:http(s) server's upgrade path; returns a function that unmounts. */
  attach(server: Server, options: AttachOptions = {}): () => void {
    return attachToServer(this, server, options)
  }

  /** A connection closed: it leaves the table. */
  remove(conn: Connection): void {
    this.connections.delete(conn)
  }

  /** Closes every local socket the id hook named `id`. */
  disconnect(id: string, code: number, reason: string): void {
    for (const conn of this.connections) if (conn.socketId === id) void conn.close(code, reason)
  }

  /** Stops accepting and closes every socket with `code`, in batches (leave hooks, untrack). */
  async close(code: number, batchSize: number): Promise<void> {
    this.closing = true
    const conns = [...this.connections]
    for (let i = 0; i < conns.length; i += batchSize) {
      await Promise.all(conns.slice(i, i + batchSize).map((c) => c.close(code, 'server shutting down', 'shutdown')))
      if (i + batchSize < conns.length) await new Promise((resolve) => setImmediate(resolve))
    }
    clearInterval(this.sweeper)
    this.longPoll?.stop()
    this.handshakes.clear()
    this.wss.close()
  }

  /** Closes, as a shutdown would, the sockets one adapter accepted (it was given a shared hub). */
  async closeOwned(owner: object, code = 1012): Promise<void> {
    const conns = [...this.connections].filter((conn) => conn.owner === owner)
    await Promise.all(conns.map((conn) => conn.close(code, 'server shutting down', 'shutdown')))
  }

  /** The per-socket deadlines, checked in one pass: no timer per socket. */
  private sweep(): void {
    const now = Date.now()
    const options = this.host.options
    const idle = now - options.idleTimeoutMs
    const unjoined = now - options.unjoinedTimeoutMs
    const frame = now - options.frameTimeoutMs
    for (const conn of this.connections) {
      if (conn.lastSeen < idle) void conn.close(1001, 'idle timeout')
      else if (conn.unjoinedSince < unjoined) void conn.close(1008, 'no channel joined')
      else if (conn.partialFrameSince(now) < frame) void conn.close(1008, 'frame timeout')
    }
    this.longPoll?.sweep(now)
    const handshake = now - options.handshakeTimeoutMs
    for (const [socket, since] of this.handshakes) {
      if (socket.destroyed) this.handshakes.delete(socket)
      else if (since < handshake) {
        this.handshakes.delete(socket)
        refuseUpgrade(socket, { status: 503, message: 'handshake timeout' })
        // The peer may never close its side: do not leave the socket half-open.
        ;(socket as Duplex & { destroySoon?: () => void }).destroySoon?.()
      }
    }
  }
}

/** A host for the connection-level Socket the `id` hook sees: no topic, nothing to push. */
function connectionLevelHost(conn: Connection): SocketHost {
  return {
    connectionId: conn.id,
    topic: '',
    joinRef: null,
    dialect: conn.wire.dialect.name,
    get closed() {
      return conn.closed
    },
    push: () => {},
    broadcast: () => {},
  }
}
