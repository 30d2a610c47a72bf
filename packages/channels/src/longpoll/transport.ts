/**
 * The long-poll transport of one hub: opens sessions (the same checks and connect hook as an
 * upgrade, then a Connection like any other), serves the polls and sends of the sessions held
 * here, and relays those of sessions held by another node (relay.ts). The HTTP side is http.ts;
 * adapters reach it through `hub.endpoint.longPoll.handle(req, res, request, owner)`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { LongPollMessage } from '../cluster.js'
import { WIRES } from '../dialect.js'
import type { Logger } from '../logger.js'
import type { ResolvedLongPoll } from '../options.js'
import type { Counters } from '../stats.js'
import type { Prepared, Refusal, UpgradePolicy } from '../upgrade.js'
import { BadRequest, parseBatch } from './body.js'
import { handleLongPoll } from './http.js'
import { LongPollRelay, type Answer, type PeerState, type RelayedRequest } from './relay.js'
import { LongPollSession, type PollAnswer } from './session.js'
import { SessionRegistry } from './sessions.js'
import { TokenSigner, newSessionId, type SessionRef } from './token.js'

export interface LongPollHost {
  readonly nodeId: string
  readonly logger: Logger
  readonly counters: Counters
  /** The hub's checks (host, origin) and its options, for the HTTP side. */
  readonly policy: UpgradePolicy
  readonly settings: ResolvedLongPoll
  /** Whether the hub was given a pub/sub adapter (it may be one node of several). */
  readonly clustered: boolean
  /** The endpoint's checks and connect hook, with the phoenix client's `X-Phoenix-AuthToken`. */
  prepare(raw: IncomingMessage, request: unknown, authToken: string | undefined): Promise<Prepared | Refusal>
  /** The endpoint takes the session in as a connection; returns it (its clock of activity). */
  accept(session: LongPollSession, prepared: Prepared, owner: object | undefined): { lastSeen: number }
  publish(channel: string, message: LongPollMessage): void
  peerState(node: string): PeerState
}

/** What opening a session came to: its token (status 410, as Phoenix answers), or a refusal. */
export type Opened = { status: 410; token: string } | Refusal

export class LongPollTransport {
  readonly signer: TokenSigner
  readonly registry: SessionRegistry
  readonly relay: LongPollRelay

  constructor(readonly host: LongPollHost) {
    const settings = host.settings
    this.signer = new TokenSigner(settings.secret)
    this.registry = new SessionRegistry(settings, host.counters)
    this.relay = new LongPollRelay({
      nodeId: host.nodeId,
      logger: host.logger,
      options: settings,
      counters: host.counters,
      publish: (channel, message) => host.publish(channel, message),
      peerState: (node) => host.peerState(node),
      serve: (request, done) => this.serve(request, done),
    })
    if (settings.secret === undefined && host.clustered) {
      host.logger.warn(
        {},
        'long-poll: no longPoll.secret configured, so session tokens are signed with a random per-process secret; ' +
          'set the same longPoll.secret on every node, or long-poll requests that reach another node are refused (410)',
      )
    }
  }

  /** Serves one request to `<path>/longpoll` (GET, POST, OPTIONS) on node:http's req and res. */
  handle(req: IncomingMessage, res: ServerResponse, request: unknown = req, owner?: object): Promise<void> {
    return handleLongPoll(this, req, res, request, owner)
  }

  /** A GET without a session token: a new session, if the checks and the connect hook accept it. */
  async open(req: IncomingMessage, request: unknown, owner: object | undefined): Promise<Opened> {
    const header = req.headers['x-phoenix-authtoken']
    const prepared = await this.host.prepare(req, request, Array.isArray(header) ? header[0] : header)
    if ('status' in prepared) return prepared
    const id = newSessionId()
    const token = this.signer.sign({ node: this.host.nodeId, session: id })
    const session = new LongPollSession(id, token, this.registry)
    this.registry.add(session)
    // Polled messages are text: a long-poll session takes bytes in their JSON form (see WIRES).
    const wire = prepared.wire === WIRES.phoenixV2 ? WIRES.phoenixV2Text : prepared.wire
    session.conn = this.host.accept(session, { ...prepared, wire }, owner)
    // Accepted while the endpoint was closing: it was closed at once.
    if (session.closed) return { status: 500, message: 'server is shutting down' }
    return { status: 410, token }
  }

  /**
   * A poll for `ref`'s session: answered here if it is held here, else relayed. Returns a
   * function to call if the client goes away first (a local poll then stops waiting).
   */
  poll(ref: SessionRef, done: (answer: Answer) => void): () => void {
    if (ref.node !== this.host.nodeId) {
      const relayed = this.relay.poll(ref.node, ref.session)
      void relayed.answer.then(done)
      return relayed.cancel
    }
    return this.pollLocal(ref.session, done)
  }

  /** A batch POSTed for `ref`'s session (already read and checked: see body.ts). */
  async send(ref: SessionRef, body: Buffer, batch: boolean): Promise<Answer> {
    if (ref.node !== this.host.nodeId) return this.relay.request(ref.node, { session: ref.session, method: 'POST', body: body.toString('utf8'), batch })
    return this.sendLocal(ref.session, parseBatch(body, batch))
  }

  private pollLocal(id: string, done: (answer: Answer) => void): () => void {
    const session = this.registry.get(id)
    if (session === undefined) {
      done({ status: 410 })
      return () => {}
    }
    const answer: PollAnswer = (status, messages) => done({ status, messages })
    session.poll(answer)
    return () => session.cancelPoll(answer)
  }

  private sendLocal(id: string, entries: ReturnType<typeof parseBatch>): Answer {
    const session = this.registry.get(id)
    if (session === undefined || session.closed) return { status: 410 }
    return { status: session.receiveBatch(entries) ? 200 : 410 }
  }

  /** A request relayed here by another node, for a session held here. */
  private serve(request: RelayedRequest, done: (answer: Answer) => void): (() => void) | void {
    if (request.method === 'GET') return this.pollLocal(request.session, done)
    try {
      done(this.sendLocal(request.session, parseBatch(Buffer.from(request.body ?? '', 'utf8'), request.batch === true)))
    } catch (err) {
      done({ status: err instanceof BadRequest ? err.status : 500 })
    }
  }

  /** A cluster message for the long-poll relay. */
  receive(message: LongPollMessage): void {
    this.relay.receive(message)
  }

  /** From the endpoint's sweep: sessions whose client stopped polling are closed. */
  sweep(now: number): void {
    this.registry.sweep(now)
  }

  /** On shutdown, after the connections were closed. */
  stop(): void {
    this.relay.stop()
    this.registry.stop()
  }
}
