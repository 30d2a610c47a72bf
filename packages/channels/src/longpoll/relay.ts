/**
 * Long-poll across nodes, without sticky sessions. A session lives on the node that opened it,
 * and its token names that node; a GET or POST that lands on another node is relayed to the
 * holder through the pub/sub adapter (a `longpoll.request` on `node:<holder>`), which serves it
 * as if it had come in itself and answers on `node:<sender>` (`longpoll.response`, correlated by
 * the request's id). Phoenix relays its long-poll requests the same way, through its PubSub.
 *
 * An answer that does not come in time: 410 when the holder is not known to be alive (gone,
 * restarted, or never heard from: its sessions are gone, and the client opens a new one), 500
 * when it is (the client retries). A holder known to be down gets 410 at once. A relayed poll
 * waits the holder's poll timeout on top of `relayTimeoutMs`. A relayed poll whose client goes
 * away is cancelled on the holder too (`longpoll.cancel`), as a local one is: otherwise the
 * holder would hand the session's next messages to a poll no one reads.
 */
import type { LongPollCancelMessage, LongPollMessage, LongPollRequestMessage, LongPollResponseMessage } from '../cluster.js'
import { CLUSTER_PROTOCOL } from '../cluster.js'
import type { Logger } from '../logger.js'

/** What a client is answered: a status (200, 204, 400, 410, 500) and, for a poll, its messages. */
export interface Answer {
  status: number
  messages?: string[]
}

/** What a request asks of the session's holder. */
export interface RelayedRequest {
  session: string
  method: 'GET' | 'POST'
  body?: string
  batch?: boolean
}

/** Is a node alive, as presence replication sees it (heartbeats every second). */
export type PeerState = 'up' | 'down' | 'unknown'

export interface RelayHost {
  readonly nodeId: string
  readonly logger: Logger
  readonly options: { pollTimeoutMs: number; relayTimeoutMs: number }
  readonly counters: { longPollRelayed: number; longPollRelayServed: number; longPollRelayFailed: number; longPollRelayCancelled: number }
  publish(channel: string, message: LongPollMessage): void
  peerState(node: string): PeerState
  /**
   * Serves a request for a session held here; `done` may be called later (a waiting poll), and
   * the function returned, if any, stops waiting.
   */
  serve(request: RelayedRequest, done: (answer: Answer) => void): (() => void) | void
}

interface Pending {
  node: string
  deadline: number
  resolve: (answer: Answer) => void
}

export class LongPollRelay {
  private seq = 0
  private readonly pending = new Map<string, Pending>()
  /** Polls relayed here that wait, by `<node> <id>`: how to stop each. */
  private readonly held = new Map<string, () => void>()
  /** Checks deadlines while requests are pending; no timer per request. */
  private ticker: NodeJS.Timeout | undefined
  private stopped = false

  constructor(private readonly host: RelayHost) {}

  /** Relays a request to the node holding its session; resolves with the holder's answer. */
  request(node: string, request: RelayedRequest): Promise<Answer> {
    return this.send(node, request).answer
  }

  /** Relays a poll; `cancel()` when its client goes away stops it here and on the holder. */
  poll(node: string, session: string): { answer: Promise<Answer>; cancel: () => void } {
    const { id, answer } = this.send(node, { session, method: 'GET' })
    return { answer, cancel: () => id !== undefined && this.cancel(id) }
  }

  private send(node: string, request: RelayedRequest): { id?: string; answer: Promise<Answer> } {
    const host = this.host
    host.counters.longPollRelayed++
    const state = host.peerState(node)
    if (state === 'down' || this.stopped) return { answer: Promise.resolve({ status: this.stopped ? 500 : 410 }) }
    const id = `${host.nodeId}.${(++this.seq).toString(36)}`
    const wait = host.options.relayTimeoutMs + (request.method === 'GET' ? host.options.pollTimeoutMs : 0)
    const answer = new Promise<Answer>((resolve) => {
      this.pending.set(id, { node, deadline: Date.now() + wait, resolve })
      this.tick()
      const message: LongPollRequestMessage = { v: CLUSTER_PROTOCOL, kind: 'longpoll.request', node: host.nodeId, id, ...request }
      host.publish(`node:${node}`, message)
    })
    return { id, answer }
  }

  /** The client of a poll relayed from here went away: nothing waits for the answer any more. */
  private cancel(id: string): void {
    const pending = this.pending.get(id)
    if (pending === undefined) return
    this.pending.delete(id)
    const message: LongPollCancelMessage = { v: CLUSTER_PROTOCOL, kind: 'longpoll.cancel', node: this.host.nodeId, id }
    this.host.publish(`node:${pending.node}`, message)
  }

  /** A relayed request for a session held here, or the answer to one this node relayed. */
  receive(message: LongPollMessage): void {
    if (message.kind === 'longpoll.response') return this.answered(message)
    if (message.kind === 'longpoll.cancel') return this.cancelled(message)
    const { node: from, id } = message
    if (typeof id !== 'string' || typeof message.session !== 'string' || (message.method !== 'GET' && message.method !== 'POST')) {
      this.host.logger.warn({ from }, 'long-poll relay: malformed request ignored')
      return
    }
    this.host.counters.longPollRelayServed++
    const key = `${from} ${id}`
    let answered = false
    const stop = this.host.serve(message, (answer) => {
      answered = true
      this.held.delete(key)
      const response: LongPollResponseMessage = { v: CLUSTER_PROTOCOL, kind: 'longpoll.response', node: this.host.nodeId, id, status: answer.status }
      if (answer.messages !== undefined && answer.messages.length > 0) response.messages = answer.messages
      this.host.publish(`node:${from}`, response)
    })
    if (stop !== undefined && !answered) this.held.set(key, stop)
  }

  /** The relaying node's client went away: its poll waits here no more (if it still does). */
  private cancelled(message: LongPollCancelMessage): void {
    const key = `${message.node} ${message.id}`
    const stop = this.held.get(key)
    if (stop === undefined) return
    this.held.delete(key)
    this.host.counters.longPollRelayCancelled++
    stop()
  }

  private answered(message: LongPollResponseMessage): void {
    const pending = this.pending.get(message.id)
    // Late (timed out here already) or not ours: nothing waits for it.
    if (pending === undefined || pending.node !== message.node) return
    this.pending.delete(message.id)
    const messages = Array.isArray(message.messages) ? message.messages.filter((m): m is string => typeof m === 'string') : undefined
    pending.resolve(typeof message.status === 'number' ? { status: message.status, ...(messages ? { messages } : {}) } : { status: 500 })
  }

  /** Times out what waited too long; runs every quarter of relayTimeoutMs while anything waits. */
  private tick(): void {
    if (this.ticker !== undefined || this.pending.size === 0) return
    const every = Math.max(25, Math.min(1000, Math.floor(this.host.options.relayTimeoutMs / 4)))
    this.ticker = setInterval(() => {
      const now = Date.now()
      for (const [id, pending] of this.pending) {
        if (pending.deadline > now) continue
        this.pending.delete(id)
        this.host.counters.longPollRelayFailed++
        const status = this.host.peerState(pending.node) === 'up' ? 500 : 410
        this.host.logger.debug({ node: pending.node, status }, 'long-poll relay: no answer in time')
        pending.resolve({ status })
      }
      if (this.pending.size === 0) {
        clearInterval(this.ticker)
        this.ticker = undefined
      }
    }, every)
    this.ticker.unref()
  }

  /** On shutdown: what still waits is answered 500 (the client retries, elsewhere). */
  stop(): void {
    this.stopped = true
    clearInterval(this.ticker)
    this.ticker = undefined
    for (const pending of this.pending.values()) pending.resolve({ status: 500 })
    this.pending.clear()
  }
}
