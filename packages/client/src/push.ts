import type { Message, Ref } from './serializer.js'
import { unref } from './timer.js'

/** How a push ends: the server's reply status (`ok`, `error`), or `timeout`. */
export type PushStatus = 'ok' | 'error' | 'timeout'

/** A payload, or a function that makes it each time the push is sent (join params: a fresh token). */
export type PayloadSource = object | (() => object)

/** @internal What a Push needs of its channel. */
export interface PushHost {
  readonly topic: string
  joinRef(): Ref
  makeRef(): string
  /** Writes a frame now; false when the socket is not open. */
  sendFrame(message: Message): boolean
  /** Routes the reply that carries `ref` to `push`. */
  awaitReply(ref: string, push: Push): void
  /** Forgets `push`: its pending reply and its place in the channel's buffer. */
  forget(push: Push): void
}

/**
 * One event pushed to a channel, and its outcome.
 *
 *   new ──send()──▶ sent ──reply──▶ ok | error
 *    │               └──deadline──▶ timeout
 *    └──(buffered)──────deadline──▶ timeout, and it is never sent
 *
 * The deadline starts when the push is first sent or buffered, and a later send does not move
 * it: `timeout` bounds the whole wait the caller sees, buffered time included. Callbacks given
 * to receive() after the outcome is known run at once.
 */
export class Push<Response = any> {
  /** The ref of the frame sent last; null until sent. */
  ref: string | null = null
  private received: { status: string; response: unknown } | undefined
  private readonly hooks: Array<{ status: string; callback: (response: any) => void }> = []
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly host: PushHost,
    /** The event name sent to the server. */
    readonly event: string,
    private readonly payload: PayloadSource,
    /** Milliseconds to wait for the reply. */
    public timeout: number,
  ) {}

  /**
   * Calls `callback` with the response when the push ends with `status`: `ok` and `error` carry
   * the server's response, `timeout` an empty object. Chainable.
   */
  receive(status: 'ok', callback: (response: Response) => void): this
  receive(status: PushStatus | (string & {}), callback: (response: any) => void): this
  receive(status: string, callback: (response: any) => void): this {
    if (this.received !== undefined && this.received.status === status) callback(this.received.response)
    this.hooks.push({ status, callback })
    return this
  }

  /** True once the push ended with `status`. */
  hasReceived(status: string): boolean {
    return this.received?.status === status
  }

  /** @internal Sends the frame with a new ref; starts the deadline if it does not run yet. */
  send(): void {
    if (this.received !== undefined) return // answered or timed out: nothing left to send
    this.ref = this.host.makeRef()
    this.host.awaitReply(this.ref, this)
    this.startTimeout()
    this.host.sendFrame({
      join_ref: this.host.joinRef(),
      ref: this.ref,
      topic: this.host.topic,
      event: this.event,
      payload: typeof this.payload === 'function' ? this.payload() : this.payload,
    })
  }

  /** @internal Forgets the last attempt (ref, outcome, deadline); a rejoin does this before resending. */
  reset(): void {
    this.cancelTimeout()
    this.host.forget(this)
    this.ref = null
    this.received = undefined
  }

  /** @internal Starts the deadline unless it runs already or the push has ended. */
  startTimeout(): void {
    if (this.timer !== undefined || this.received !== undefined) return
    // unref: a push's timeout alone keeps no Node process alive (an open socket does).
    this.timer = unref(
      setTimeout(() => {
        this.timer = undefined
        this.trigger('timeout', {})
      }, this.timeout),
    )
  }

  /** @internal */
  cancelTimeout(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** @internal Ends the push with `status` and runs the callbacks registered for it. */
  trigger(status: string, response: unknown): void {
    this.cancelTimeout()
    this.host.forget(this)
    this.received = { status, response }
    for (const hook of this.hooks.slice()) {
      if (hook.status === status) hook.callback(response)
    }
  }
}
