/**
 * One topic on a test connection: join, push and await the reply, wait for what the server
 * sends, and read it back: pushes to this socket, broadcasts, and presence as a client sees it.
 */
import { Presence, type PresenceState } from '@hornbeam/client'
import type { AnyContract, InEvent, InPayload, InReply, JoinParams, JoinReply, OutEvent, OutPayload } from '@hornbeam/channels'
import type { Frame, TestSocket } from './test-socket.js'

/** What an event's frames carry: typed for the contract's `out` events, any for the rest (presence, ...). */
type Out<C, E> = E extends OutEvent<C> ? OutPayload<C, E> : any

/** A reply: `{ status: 'ok', response }` typed by the contract, or an error's. */
export type Reply<R = any> = { status: 'ok'; response: R } | { status: 'error'; response: any }

export interface WaitOptions {
  /** How long to wait (real time, whatever the test's clock), in ms. Default 1000. */
  timeoutMs?: number
}

const SYSTEM = new Set(['hb_reply', 'hb_close', 'hb_error', 'presence_state', 'presence_diff', 'hb_history'])

/** `C` is the channel's contract (`socket.channel<RoomContract>(topic)`): joins, pushes and events are typed by it. */
export class TestChannel<C = AnyContract> {
  /** The join_ref of the current join (null before one). */
  joinRef: string | null = null
  /** Per event, how many of its frames `receive` already returned. */
  private readonly seen = new Map<string, number>()

  /** @internal */
  constructor(
    readonly socket: TestSocket,
    readonly topic: string,
  ) {}

  /** Joins with `params` (the join handler's third argument); resolves with the join's reply. */
  async join(params: JoinParams<C> | Record<string, unknown> = {}, options: WaitOptions = {}): Promise<Reply<JoinReply<C>>> {
    const ref = this.socket.nextRef()
    this.joinRef = ref
    this.socket.send(ref, ref, this.topic, 'hb_join', params)
    return this.reply(ref, `the join of ${this.topic}`, options)
  }

  /** Pushes `event`; resolves with the reply (a handler that answers `noreply` never does: use `cast`). */
  push<E extends InEvent<C>>(event: E, payload: InPayload<C, E> | Record<string, unknown> = {}, options: WaitOptions = {}): Promise<Reply<InReply<C, E>>> {
    const ref = this.socket.nextRef()
    this.socket.send(this.joinRef, ref, this.topic, event, payload)
    return this.reply(ref, `the reply to ${event} on ${this.topic}`, options)
  }

  /** Pushes `event` without waiting for a reply (for handlers that return noreply). */
  cast<E extends InEvent<C>>(event: E, payload: InPayload<C, E> | Record<string, unknown> = {}): void {
    this.socket.send(this.joinRef, this.socket.nextRef(), this.topic, event, payload)
  }

  /** Leaves; resolves with the server's reply once the leave hook has run. */
  leave(options: WaitOptions = {}): Promise<Reply> {
    const ref = this.socket.nextRef()
    this.socket.send(this.joinRef, ref, this.topic, 'hb_leave', {})
    return this.reply(ref, `the leave of ${this.topic}`, options)
  }

  private reply<R>(ref: string, what: string, options: WaitOptions): Promise<Reply<R>> {
    return this.socket.until(
      () => this.socket.frames.find((f) => f.topic === this.topic && f.ref === ref && f.event === 'hb_reply')?.payload as Reply<R> | undefined,
      what,
      options.timeoutMs ?? 1000,
    )
  }

  /** Every frame of this topic, in order. */
  get frames(): Frame[] {
    return this.socket.frames.filter((f) => f.topic === this.topic)
  }

  /** Payloads of `event` this socket received on the topic (pushes and broadcasts). */
  received<E extends OutEvent<C> | (string & {})>(event: E): Array<Out<C, E>> {
    return this.frames.filter((f) => f.event === event).map((f) => f.payload)
  }

  /** Payloads of `event` pushed to this socket alone (`socket.push` in a handler). */
  pushed<E extends OutEvent<C> | (string & {})>(event: E): Array<Out<C, E>> {
    return this.frames.filter((f) => f.event === event && f.joinRef !== null && !SYSTEM.has(f.event)).map((f) => f.payload)
  }

  /** Payloads of `event` broadcast on the topic, as this socket received them. */
  broadcasts<E extends OutEvent<C> | (string & {})>(event: E): Array<Out<C, E>> {
    return this.frames.filter((f) => f.event === event && f.joinRef === null).map((f) => f.payload)
  }

  /**
   * Waits for the next frame of `event` on this topic that an earlier `receive` did not return
   * (frames that came before the call count too); resolves with its payload.
   */
  receive<E extends OutEvent<C> | (string & {})>(event: E, options: WaitOptions = {}): Promise<Out<C, E>> {
    return this.socket.until(
      () => {
        const matching = this.frames.filter((f) => f.event === event)
        const taken = this.seen.get(event) ?? 0
        if (matching.length <= taken) return undefined
        this.seen.set(event, taken + 1)
        return { payload: matching[taken]!.payload }
      },
      `${event} on ${this.topic}`,
      options.timeoutMs ?? 1000,
    ).then((found) => found.payload)
  }

  /** Who is online on the topic, as a client following presence_state and presence_diff sees it. */
  presence(): PresenceState {
    let state: PresenceState = {}
    for (const frame of this.frames) {
      if (frame.event === 'presence_state') state = Presence.syncState(state, frame.payload)
      else if (frame.event === 'presence_diff') state = Presence.syncDiff(state, frame.payload)
    }
    return state
  }

  /** The server closed the channel (`hb_close`) or made it fail (`hb_error`): which, if it did. */
  get ended(): 'closed' | 'errored' | undefined {
    const last = this.frames.filter((f) => f.joinRef === this.joinRef && (f.event === 'hb_close' || f.event === 'hb_error')).at(-1)
    return last === undefined ? undefined : last.event === 'hb_close' ? 'closed' : 'errored'
  }
}
