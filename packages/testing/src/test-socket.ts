/**
 * One client connection in a test: it joins channels, pushes, and keeps every frame the server
 * sent it, in order. It speaks the hornbeam dialect, as `@hornbeam/client` does.
 */
import type { AnyContract, Hub } from '@hornbeam/channels'
import { FakeServerSocket, type CloseInfo } from './fake-socket.js'
import { TestChannel } from './test-channel.js'
import { waitFor } from './wait.js'

/** A frame as the client received it. */
export interface Frame {
  joinRef: string | null
  ref: string | null
  topic: string
  event: string
  payload: any
}

export class TestSocket {
  /** Every frame the server sent, in order. */
  readonly frames: Frame[] = []
  /** How the server closed the connection, once it did. */
  closed: CloseInfo | undefined
  private ref = 0
  private readonly wakers = new Set<() => void>()
  /** @internal */ readonly server: FakeServerSocket

  /** @internal */
  constructor(
    readonly hub: Hub,
    /** The connection's id on the server (`socket.id` in handlers). */
    readonly id: string,
    server: (socket: TestSocket) => FakeServerSocket,
  ) {
    this.server = server(this)
  }

  /** @internal A frame from the server. */
  deliver(text: string): void {
    const [joinRef, ref, topic, event, payload] = JSON.parse(text) as [string | null, string | null, string, string, unknown]
    this.frames.push({ joinRef, ref, topic, event, payload })
    this.wake()
  }

  /** @internal The server closed the connection. */
  ended(info: CloseInfo): void {
    this.closed = info
    this.wake()
  }

  private wake(): void {
    for (const wake of [...this.wakers]) wake()
  }

  /** @internal Resolves once `check` returns a value (checked now and after every frame). */
  until<T>(check: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return waitFor(check, what, timeoutMs, this.wakers, () => this.closed)
  }

  nextRef(): string {
    return String(++this.ref)
  }

  /** Sends one frame, as a client would. */
  send(joinRef: string | null, ref: string | null, topic: string, event: string, payload: unknown = {}): void {
    this.server.receive(JSON.stringify([joinRef, ref, topic, event, payload]))
  }

  /** A channel on `topic`; `join()` it. `channel<RoomContract>(topic)` types it by a contract. */
  channel<C = AnyContract>(topic: string): TestChannel<C> {
    return new TestChannel<C>(this, topic)
  }

  /** Closes the connection from the client's side (the server's leave hooks run, presence goes). */
  close(code = 1000, reason = 'client closed'): void {
    this.server.close(code, reason)
  }
}
