import type { AnyContract, OutEvent, OutPayload, PayloadArg } from './contract.js'
import type { DialectName, Ref } from './dialect.js'

/** What a Socket needs from the channel it belongs to. */
export interface SocketHost {
  readonly connectionId: string
  readonly topic: string
  readonly joinRef: Ref
  readonly dialect: DialectName
  readonly closed: boolean
  push(event: string, payload: unknown): void
  broadcast(event: string, payload: unknown, excludeSelf: boolean): void
}

/**
 * A client's view inside a channel handler: which connection, which topic, and the
 * connection's assigns. Immutable: `assign` and `mergeAssigns` return a new Socket; return it
 * from the handler (`['ok', response, socket]`) and later handlers on this connection see it.
 * On a channel declared with a contract `C`, `push` and `broadcast` take the events of `C.out`.
 */
export class Socket<A extends object = Record<string, unknown>, C = AnyContract> {
  /** @internal */
  readonly host: SocketHost
  readonly assigns: Readonly<A>

  /** @internal */
  constructor(host: SocketHost, assigns: A) {
    this.host = host
    this.assigns = assigns
  }

  /** The connection's id: unique across the cluster, the same for all of its channels. */
  get id(): string {
    return this.host.connectionId
  }

  get topic(): string {
    return this.host.topic
  }

  get joinRef(): Ref {
    return this.host.joinRef
  }

  /** 'hornbeam' or 'phoenix': the wire dialect this client speaks. */
  get dialect(): DialectName {
    return this.host.dialect
  }

  assign<K extends string, V>(key: K, value: V): Socket<Omit<A, K> & { [P in K]: V }, C> {
    return new Socket(this.host, { ...this.assigns, [key]: value } as unknown as Omit<A, K> & { [P in K]: V })
  }

  mergeAssigns<M extends object>(assigns: M): Socket<Omit<A, keyof M> & M, C> {
    // Spread, not Object.assign: a `__proto__` key in `assigns` stays an own property.
    return new Socket(this.host, { ...this.assigns, ...assigns } as Omit<A, keyof M> & M)
  }

  /**
   * Sends an event to this client alone, on this topic. A payload of bytes (Buffer, Uint8Array,
   * ArrayBuffer) is a binary frame on the phoenix v2 wire, `{hb_binary: <base64>}` on JSON wires;
   * so it is for broadcast and broadcastFrom.
   */
  push<E extends OutEvent<C>>(event: E, ...payload: PayloadArg<OutPayload<C, E>>): void
  push(event: string, payload: unknown = {}): void {
    this.host.push(event, payload)
  }

  /** Sends an event to every subscriber of this topic, on every node, this client included. */
  broadcast<E extends OutEvent<C>>(event: E, ...payload: PayloadArg<OutPayload<C, E>>): void
  broadcast(event: string, payload: unknown = {}): void {
    this.host.broadcast(event, payload, false)
  }

  /** Sends an event to every subscriber of this topic, on every node, but this client. */
  broadcastFrom<E extends OutEvent<C>>(event: E, ...payload: PayloadArg<OutPayload<C, E>>): void
  broadcastFrom(event: string, payload: unknown = {}): void {
    this.host.broadcast(event, payload, true)
  }
}
