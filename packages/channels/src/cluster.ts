/**
 * What hubs on different nodes say to each other over the pub/sub adapter. Every message names
 * its protocol version (`v`), its kind and the node that sent it; a node ignores (and counts) a
 * message of a version it does not know, so two releases can run side by side in a rolling
 * deploy; a kind it does not know is ignored and counted the same way (a node of an older release
 * ignores `longpoll.*`, and the relaying node times out). Adapters may read `v`, `kind` and
 * `node` (to drop their own echoes), nothing else.
 */
import type { Delta, Partition } from './presence/state.js'

/** The cluster protocol this release speaks. */
export const CLUSTER_PROTOCOL = 1

interface Envelope<K extends string> {
  /** Protocol version: CLUSTER_PROTOCOL. */
  v: number
  kind: K
  /** The node id of the sender. */
  node: string
}

/** A broadcast on `topic:<topic>`: delivered to that topic's local subscribers. */
export interface BroadcastMessage extends Envelope<'broadcast'> {
  topic: string
  event: string
  payload: unknown
  /** A connection id not to deliver to (broadcastFrom). */
  exclude?: string
  /**
   * Its position in the topic's shared history, when the store assigned one (`@hornbeam/redis`):
   * every node, the sender's included, delivers it from the adapter, in the store's order.
   */
  position?: string
}

/** `disconnect(id)` on `control`: every node closes the sockets the id hook named so. */
export interface DisconnectMessage extends Envelope<'disconnect'> {
  id: string
  code?: number
  reason?: string
}

/** Presence replication, on `control` and `node:<id>` (see presence/replication.ts). */
export type PresenceMessage =
  | (Envelope<'presence.delta'> & { delta: Delta })
  | (Envelope<'presence.heartbeat'> & { clock: number })
  | Envelope<'presence.sync'>
  | (Envelope<'presence.state'> & { partition: Partition })
  | Envelope<'presence.bye'>

/**
 * A long-poll request for a session another node holds, relayed on `node:<holder>` (see
 * longpoll/relay.ts). `id` is unique on the sending node; the answer comes back on its
 * `node:<id>` channel. A POST carries its body as received, and whether it is a batch.
 */
export interface LongPollRequestMessage extends Envelope<'longpoll.request'> {
  id: string
  session: string
  method: 'GET' | 'POST'
  body?: string
  batch?: boolean
}

/** The holder's answer: the status for the client, and for a poll its messages. */
export interface LongPollResponseMessage extends Envelope<'longpoll.response'> {
  id: string
  status: number
  messages?: string[]
}

/** The client of a relayed poll went away: the holder stops holding the poll, so nothing is sent to no one. */
export interface LongPollCancelMessage extends Envelope<'longpoll.cancel'> {
  id: string
}

export type LongPollMessage = LongPollRequestMessage | LongPollResponseMessage | LongPollCancelMessage

export type ClusterMessage = BroadcastMessage | DisconnectMessage | PresenceMessage | LongPollMessage

/** Where each kind of message goes. */
export interface ClusterHandlers {
  broadcast(message: BroadcastMessage): void
  disconnect(message: DisconnectMessage): void
  presence(message: PresenceMessage): void
  /** Long-poll requests relayed to this node, and the answers to those it relayed. */
  longPoll(message: LongPollMessage): void
  /** A message this node cannot take (unknown version or kind): counted, ignored. */
  ignored(message: unknown): void
}

/** Sorts one incoming message by kind; drops our own echoes. */
export function dispatchCluster(nodeId: string, raw: unknown, handlers: ClusterHandlers): void {
  const message = raw as Partial<ClusterMessage> | null
  if (message === null || typeof message !== 'object' || message.v !== CLUSTER_PROTOCOL || typeof message.node !== 'string') {
    return handlers.ignored(raw)
  }
  const kind = message.kind
  // Our own, echoed back by the engine: dropped, but for broadcasts a shared history positioned,
  // which every node (this one too) delivers from the adapter, in the store's order.
  if (message.node === nodeId && !(kind === 'broadcast' && typeof message.position === 'string')) return
  if (kind === 'broadcast') handlers.broadcast(message as BroadcastMessage)
  else if (kind === 'disconnect') handlers.disconnect(message as DisconnectMessage)
  else if (typeof kind === 'string' && kind.startsWith('presence.')) handlers.presence(message as PresenceMessage)
  else if (kind === 'longpoll.request' || kind === 'longpoll.response' || kind === 'longpoll.cancel') handlers.longPoll(message as LongPollMessage)
  else handlers.ignored(raw)
}
