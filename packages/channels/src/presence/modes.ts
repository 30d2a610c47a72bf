/**
 * Presence modes for very large rooms (`hub.channel(pattern, { presence })`): what a channel's
 * members are sent of its topic's presence. The server tracks and replicates every presence
 * whatever the mode; only what goes to the sockets differs.
 *
 * - `'full'` (the default, Phoenix's): `presence_state` after the join reply, then `presence_diff`
 *   per window. Not handled here (render.ts, diff-batch.ts).
 * - `'counts'`: `presence_count` `{"keys": <distinct keys>, "metas": <presences>}` after the join
 *   reply, then once per diff window in which the count any member holds changed. One rendering
 *   per topic, shared by every member (and, in rooms of SHARE_STATE_ABOVE presences or more, by
 *   every joiner of a window, as presence_state is): a window costs each member one small frame.
 * - `'self'`: `presence_state` and `presence_diff` as in `'full'`, but holding only the presences
 *   under the keys the member's own socket tracks on the topic (its other tabs, on any node): a
 *   member learns nothing of the room. Rendered per socket, from the set's index by key.
 */
import { envelopeAround, JsonText } from '../dialect.js'
import { textFrameParts } from '../frame.js'
import { OutboundMessage } from '../message.js'
import { writePresence, type Subscriber as FanoutSubscriber } from '../presence-fanout.js'
import type { Diff } from './diff-batch.js'
import { presencesJson, SHARE_STATE_ABOVE } from './render.js'
import type { Change, PresenceEntry } from './state.js'

export type PresenceMode = 'full' | 'counts' | 'self'

export const PRESENCE_MODES: readonly PresenceMode[] = ['full', 'counts', 'self']

/** A joined channel, as the modes see it (a topics.ts Subscriber). */
export interface ModeSubscriber extends FanoutSubscriber {
  readonly topic: string
  readonly joinRef: string | null
  readonly conn: FanoutSubscriber['conn'] & { readonly id: string }
  /** Its channel pattern's presence mode. */
  readonly presence: PresenceMode
}

/** What the modes read from the tracker and the topics. */
export interface ModesHost {
  /** A topic's visible presences. */
  entries(topic: string): Iterable<PresenceEntry>
  /** A topic's visible presences under one key. */
  entriesOf(topic: string, key: string): Iterable<PresenceEntry>
  /** A topic's presences, visible or not: only compared with SHARE_STATE_ABOVE. */
  size(topic: string): number
  /** The keys a connection tracks on a topic. */
  ownKeys(owner: string, topic: string): ReadonlyMap<string, unknown> | undefined
  subscribers(topic: string): Iterable<ModeSubscriber>
  /** To every local subscriber of the topic, never dropped (presence-fanout.ts). */
  deliver(topic: string, message: OutboundMessage): void
  /** A presence_state was rendered: a sync point of the topic's window (diff-batch.ts). */
  rendered(topic: string): void
}

class CountsTopic {
  readonly mode = 'counts'
  body: Buffer | undefined
  text = ''
  /** Presence changed since `body` was rendered. */
  stale = false
  /** The renderings members may hold: a window sends nothing when they all hold its count. */
  readonly held = new Set<string>()
}

class SelfTopic {
  readonly mode = 'self'
  /** The keys each member's view holds (those its socket tracked at its last frame). */
  readonly shown = new WeakMap<object, string[]>()
  /** The window's diff, until the window closes. */
  diff: Diff | undefined
}

const NO_DIFF: Diff = { joins: [], leaves: [] }

/** The topics with local subscribers whose mode is `'counts'` or `'self'`. */
export class PresenceModes {
  private readonly topics = new Map<string, CountsTopic | SelfTopic>()
  /** presence_count bodies rendered, for stats. */
  countRenders = 0

  constructor(private readonly host: ModesHost, private readonly shareAbove = SHARE_STATE_ABOVE) {}

  /** The first presence frame of a joining socket whose mode is not `'full'`, in parts. */
  joinFrame(subscriber: ModeSubscriber): Buffer[] {
    const topic = subscriber.topic
    let state = this.topics.get(topic)
    if (state === undefined) this.topics.set(topic, (state = subscriber.presence === 'counts' ? new CountsTopic() : new SelfTopic()))
    const wire = subscriber.conn.wire
    if (state.mode === 'counts') {
      if (state.body === undefined || (state.stale && this.host.size(topic) < this.shareAbove)) this.renderCount(topic, state)
      state.held.add(state.text)
      const [head, tail] = envelopeAround(wire.encoding, subscriber.joinRef, null, topic, 'presence_count')
      return textFrameParts(head, state.body!, tail)
    }
    const keys = this.keysOf(subscriber)
    state.shown.set(subscriber, keys)
    const body = Buffer.from(presencesJson(this.underKeys(topic, keys), wire.dialect))
    this.host.rendered(topic)
    const [head, tail] = envelopeAround(wire.encoding, subscriber.joinRef, null, topic, 'presence_state')
    return textFrameParts(head, body, tail)
  }

  /** Every presence change passes here (before its window). */
  changed(changes: readonly Change[]): void {
    if (this.topics.size === 0) return
    for (const { entry } of changes) {
      const state = this.topics.get(entry.topic)
      if (state?.mode === 'counts') state.stale = true
    }
  }

  /** A window's diff: kept for the window's close when the topic is not `'full'` (true), else false. */
  diff(topic: string, diff: Diff): boolean {
    const state = this.topics.get(topic)
    if (state === undefined) return false
    if (state.mode === 'self') state.diff = diff
    return true
  }

  /** A topic's window closed (with or without a diff). */
  closed(topic: string): void {
    const state = this.topics.get(topic)
    if (state === undefined) return
    if (state.mode === 'counts') return this.sendCount(topic, state)
    const diff = state.diff ?? NO_DIFF
    state.diff = undefined
    this.sendSelf(topic, state, diff)
  }

  /** The topic's last local subscriber left. */
  unsubscribed(topic: string): void {
    this.topics.delete(topic)
  }

  // -- counts

  private renderCount(topic: string, state: CountsTopic): void {
    const keys = new Set<string>()
    let metas = 0
    for (const entry of this.host.entries(topic)) {
      keys.add(entry.key)
      metas++
    }
    state.text = `{"keys":${keys.size},"metas":${metas}}`
    state.body = Buffer.from(state.text)
    state.stale = false
    this.countRenders++
  }

  private sendCount(topic: string, state: CountsTopic): void {
    this.renderCount(topic, state)
    const text = state.text
    if (state.held.size === 1 && state.held.has(text)) return
    state.held.clear()
    state.held.add(text)
    this.host.deliver(topic, OutboundMessage.perDialect(topic, 'presence_count', () => new JsonText(text)))
  }

  // -- self

  private *underKeys(topic: string, keys: readonly string[]): Iterable<PresenceEntry> {
    for (const key of keys) yield* this.host.entriesOf(topic, key)
  }

  private keysOf(subscriber: ModeSubscriber): string[] {
    return [...(this.host.ownKeys(subscriber.conn.id, subscriber.topic)?.keys() ?? [])]
  }

  /**
   * Each member gets the window's changes under the keys of its view. A key its socket started
   * tracking since its last frame brings every presence under it (as joins); one it stopped
   * tracking takes them all away (as leaves). Members with the same keys share one message.
   */
  private sendSelf(topic: string, state: SelfTopic, diff: Diff): void {
    const joins = byKey(diff.joins)
    const leaves = byKey(diff.leaves)
    const shared = new Map<string, OutboundMessage | undefined>()
    for (const subscriber of this.host.subscribers(topic)) {
      const shown = state.shown.get(subscriber) ?? []
      const now = this.host.ownKeys(subscriber.conn.id, topic)
      let message: OutboundMessage | undefined
      if ((now?.size ?? 0) === shown.length && shown.every((key) => now!.has(key))) {
        if (!shown.some((key) => joins.has(key) || leaves.has(key))) continue
        const signature = JSON.stringify(shown)
        message = shared.has(signature) ? shared.get(signature) : diffMessage(topic, shown.flatMap((key) => joins.get(key) ?? []), shown.flatMap((key) => leaves.get(key) ?? []))
        shared.set(signature, message)
      } else {
        const keys = [...(now?.keys() ?? [])]
        state.shown.set(subscriber, keys)
        const j: PresenceEntry[] = []
        const l: PresenceEntry[] = []
        for (const key of keys) {
          if (!shown.includes(key)) {
            j.push(...this.host.entriesOf(topic, key))
          } else {
            j.push(...(joins.get(key) ?? []))
            l.push(...(leaves.get(key) ?? []))
          }
        }
        for (const key of shown) if (!keys.includes(key)) l.push(...(leaves.get(key) ?? []), ...this.host.entriesOf(topic, key))
        message = diffMessage(topic, j, l)
      }
      if (message !== undefined) writePresence(subscriber, message)
    }
  }
}

function byKey(entries: readonly PresenceEntry[]): Map<string, PresenceEntry[]> {
  const out = new Map<string, PresenceEntry[]>()
  for (const entry of entries) {
    const list = out.get(entry.key)
    if (list === undefined) out.set(entry.key, [entry])
    else list.push(entry)
  }
  return out
}

/** A presence_diff of these entries (undefined when it would be empty). */
function diffMessage(topic: string, joins: PresenceEntry[], leaves: PresenceEntry[]): OutboundMessage | undefined {
  if (joins.length === 0 && leaves.length === 0) return undefined
  return OutboundMessage.perDialect(
    topic,
    'presence_diff',
    (dialect) => new JsonText(`{"joins":${presencesJson(joins, dialect)},"leaves":${presencesJson(leaves, dialect)}}`),
  )
}
