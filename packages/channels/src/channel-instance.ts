import type { Backpressure } from './backpressure.js'
import type { ChannelDefinition, EventHandler, LeaveReason } from './channel.js'
import type { AnyContract, Payload } from './contract.js'
import type { ChannelConnection } from './host.js'
import type { InboundFrame, Ref } from './dialect.js'
import { takeHistoryRequest, type HistoryRequest } from './history/types.js'
import type { OutboundMessage } from './message.js'
import { Mailbox, settle, type MailboxOwner } from './mailbox.js'
import { normalizeEvent, normalizeJoin, reasonPayload } from './results.js'
import type { TopicParams } from './router.js'
import { Socket, type SocketHost } from './socket.js'
import { check, type Checked } from './validation.js'
import type { Subscriber } from './topics.js'

/**
 * One joined (or joining) topic on one connection: the server half of a client's Channel.
 *
 *   joining ──ok──▶ joined ──leave / stop / crash / rejoin / socket closed──▶ closed
 *      └──error / crash──────────────────────────────────────────────────────▶ closed
 *
 * Its join, events and teardown run through one mailbox, in order. `detach()` takes it off the
 * topic at once (no broadcast reaches it after); the teardown (leave hook, presence untrack)
 * runs in the mailbox after whatever handler is in flight.
 */
export class ChannelInstance implements SocketHost, MailboxOwner, Subscriber {
  status: 'joining' | 'joined' | 'closed' = 'joining'
  /** What the join asked of the topic's history (`hb_position`, `hb_recent`). */
  historyRequest: HistoryRequest | undefined
  /** Set once the channel is on its way out; no handler starts after it. */
  closing = false
  subscribed = false
  /** While the join reads a shared history, the live messages that wait for it. */
  pending: OutboundMessage[] | undefined
  readonly mailbox: Mailbox = new Mailbox(this)
  // Made only when someone waits for the teardown (a rejoin, a shutdown): most channels never are.
  private terminatedPromise: Promise<void> | undefined
  private resolveTerminated: (() => void) | undefined

  constructor(
    readonly conn: ChannelConnection,
    readonly topic: string,
    readonly joinRef: Ref,
    readonly definition: ChannelDefinition<any>,
    readonly topicParams: TopicParams,
  ) {}

  /** Resolves once the teardown has run: a rejoin of the same topic waits for it. */
  get terminated(): Promise<void> {
    if (this.status === 'closed') return Promise.resolve()
    return (this.terminatedPromise ??= new Promise((resolve) => (this.resolveTerminated = resolve)))
  }

  taskFailed(err: unknown): void {
    this.conn.host.logger.error({ err, topic: this.topic }, 'channel task failed')
  }

  // -- SocketHost

  get connectionId(): string {
    return this.conn.id
  }

  get dialect() {
    return this.conn.wire.dialect.name
  }

  get backpressure(): Backpressure {
    return this.definition.backpressure
  }

  get presence(): ChannelDefinition['presence'] { return this.definition.presence }

  get closed(): boolean {
    return this.status === 'closed' || this.closing
  }

  push(event: string, payload: unknown): void {
    if (!this.closed) this.conn.send(this.joinRef, null, this.topic, event, payload)
  }

  broadcast(event: string, payload: unknown, excludeSelf: boolean): void {
    this.conn.host.broadcast(this.topic, event, payload, excludeSelf ? this.conn.id : undefined)
  }

  // -- lifecycle

  socket(): Socket<any> {
    return new Socket(this, this.conn.assigns)
  }

  /** Queues the join; `after` is the teardown of the channel this one replaces. */
  join(frame: InboundFrame, after: Promise<void> | undefined): void {
    this.mailbox.enqueue(() => (after ? after.then(() => this.runJoin(frame)) : this.runJoin(frame)))
  }

  private runJoin(frame: InboundFrame): unknown {
    if (this.closing) return undefined
    // The reserved params are the history's, never the handler's. (Join params are never bytes:
    // inbound.ts refuses a binary join and leaves `{hb_binary}` join params an object.)
    this.historyRequest = takeHistoryRequest(frame.payload as Record<string, unknown>)
    const schema = this.definition.joinSchema
    if (schema === undefined) return this.callJoin(frame, frame.payload)
    return settle(
      () => check(schema, frame.payload, 'the join params', this.conn.host.options.validationTimeoutMs),
      (checked) => (checked.ok ? this.callJoin(frame, checked.value) : this.joinInvalid(frame, checked)),
      (err) => this.joinFailed(frame, err),
    )
  }

  private callJoin(frame: InboundFrame, params: unknown): unknown {
    if (this.closing) return undefined
    const handler = this.definition.joinHandler
    if (!handler) return this.finishJoin(frame, undefined)
    return settle(
      () => handler(this.topic, this.topicParams, params as Payload, this.socket()),
      (result) => this.finishJoin(frame, result),
      (err) => this.joinFailed(frame, err),
    )
  }

  /** The params failed the join schema (or it could not run): refused, the handler never called. */
  private joinInvalid(frame: InboundFrame, checked: Extract<Checked, { ok: false }>): void {
    this.invalid(checked, 'join')
    if (this.closing) return
    this.reply(frame, 'error', checked.response)
    this.conn.host.counters.joinsRefused++
    this.end('leave')
  }

  private invalid(checked: Extract<Checked, { ok: false }>, event: string): void {
    this.conn.host.counters.invalidPayloads++
    if (checked.err !== undefined) this.conn.host.logger.error({ err: checked.err, topic: this.topic, event }, 'schema failed to run')
  }

  private finishJoin(frame: InboundFrame, result: unknown): void {
    if (this.closing) return // replaced or disconnected meanwhile: the queued teardown cleans up
    let outcome
    try {
      outcome = normalizeJoin(result)
    } catch (err) {
      return this.joinFailed(frame, err)
    }
    if (outcome.kind === 'error') {
      this.reply(frame, 'error', outcome.response)
      this.conn.host.counters.joinsRefused++
      this.end('leave')
      return
    }
    if (outcome.socket) this.conn.adopt(outcome.socket)
    this.status = 'joined'
    this.conn.host.counters.joins++
    this.reply(frame, 'ok', outcome.response)
    // Subscribe and push presence_state in one step, so no diff falls between them.
    this.conn.host.subscribe(this)
  }

  private joinFailed(frame: InboundFrame, err: unknown): void {
    this.conn.host.logger.error({ err, topic: this.topic }, 'join handler crashed')
    if (this.closing) return
    this.reply(frame, 'error', { reason: 'join crashed' })
    this.conn.host.counters.joinsRefused++
    this.end('crash')
  }

  handleEvent(frame: InboundFrame): void {
    this.mailbox.enqueue(() => {
      if (this.status !== 'joined' || this.closing) {
        return this.reply(frame, 'error', { reason: 'unmatched topic' })
      }
      const handler = this.definition.eventHandlers.get(frame.event)
      if (!handler) {
        return this.reply(frame, 'error', { reason: `no handler for event "${frame.event}"` })
      }
      const schema = this.definition.eventSchemas.get(frame.event)
      if (schema === undefined) return this.callEvent(frame, handler, frame.payload)
      return settle(
        () => check(schema, frame.payload, `the payload of "${frame.event}"`, this.conn.host.options.validationTimeoutMs),
        (checked) => (checked.ok ? this.callEvent(frame, handler, checked.value as Payload) : this.eventInvalid(frame, checked)),
        (err) => this.crash(err, frame.event),
      )
    })
  }

  private callEvent(frame: InboundFrame, handler: EventHandler<any, AnyContract, string>, payload: Payload): unknown {
    if (this.status !== 'joined' || this.closing) return undefined
    return settle(
      () => handler(payload, this.socket()),
      (result) => this.finishEvent(frame, result),
      (err) => this.crash(err, frame.event),
    )
  }

  /** The payload failed its schema (or it could not run): an error reply; the channel lives on. */
  private eventInvalid(frame: InboundFrame, checked: Extract<Checked, { ok: false }>): void {
    this.invalid(checked, frame.event)
    if (!this.closing) this.reply(frame, 'error', checked.response)
  }

  private finishEvent(frame: InboundFrame, result: unknown): void {
    if (this.closing) return
    let outcome
    try {
      outcome = normalizeEvent(result)
    } catch (err) {
      return this.crash(err, frame.event)
    }
    if (outcome.socket) this.conn.adopt(outcome.socket)
    if (outcome.kind === 'reply') this.reply(frame, outcome.status, outcome.response)
    else if (outcome.kind === 'stop') {
      // The push is answered first: a client waiting for its reply would otherwise time out.
      const reason = reasonPayload(outcome.reason)
      this.reply(frame, 'error', reason)
      this.sendLifecycle(this.conn.wire.dialect.close, reason)
      this.end('stop')
    }
  }

  /** A handler threw: only this channel ends; the client gets `*_error` and rejoins. */
  private crash(err: unknown, event: string): void {
    this.conn.host.logger.error({ err, topic: this.topic, event }, 'channel handler crashed')
    this.conn.host.counters.crashes++
    if (this.closing) return
    this.sendLifecycle(this.conn.wire.dialect.error, {})
    this.end('crash')
  }

  /** The client left: leave hook, untrack, then the ok reply and `*_close`. */
  leave(frame: InboundFrame): void {
    this.mailbox.enqueue(() => {
      if (this.closing) return this.reply(frame, 'ok', {})
      this.detach()
      return settle(
        () => this.teardown('leave'),
        () => {
          this.reply(frame, 'ok', {})
          this.sendLifecycle(this.conn.wire.dialect.close, {})
        },
        () => {},
      )
    })
  }

  /**
   * Ends the channel from outside its handlers: a rejoin replaced it (`*_close` with the old
   * join_ref, which the client ignores as stale), the socket closed, or the hub shuts down.
   * Queued events are dropped; a handler in flight finishes first.
   */
  shutdown(reason: LeaveReason, notify: boolean): Promise<void> {
    if (!this.closing) {
      if (notify) this.sendLifecycle(this.conn.wire.dialect.close, {})
      this.end(reason)
    }
    return this.terminated
  }

  /** Detaches now and runs the teardown next in the mailbox, ahead of queued events. */
  private end(reason: LeaveReason): void {
    this.detach()
    this.mailbox.interrupt(() => this.teardown(reason))
  }

  /** Off the topic and out of the connection's table, at once. Idempotent. */
  private detach(): void {
    if (this.closing) return
    this.closing = true
    if (this.subscribed) this.conn.host.unsubscribe(this)
    this.conn.channelRemoved(this)
  }

  private teardown(reason: LeaveReason): unknown {
    if (this.status === 'closed') return undefined
    const wasJoined = this.status === 'joined'
    const finish = () => {
      this.status = 'closed'
      this.conn.host.untrackChannel(this.conn.id, this.topic)
      this.resolveTerminated?.()
    }
    const hook = this.definition.leaveHandler
    if (!wasJoined || !hook) return finish()
    return settle(
      () => hook(this.topic, this.socket(), reason),
      finish,
      (err) => {
        this.conn.host.logger.error({ err, topic: this.topic }, 'leave handler crashed')
        finish()
      },
    )
  }

  /** Answers `frame` (a join, push or leave) in the form it came in (bytes: see Connection.reply). */
  private reply(frame: InboundFrame, status: string, response: unknown): void {
    if (frame.ref === null) return
    this.conn.reply(this.joinRef, frame.ref, this.topic, status, response, frame.encoding)
  }

  private sendLifecycle(event: string, payload: unknown): void {
    this.conn.send(this.joinRef, this.joinRef, this.topic, event, payload)
  }
}
