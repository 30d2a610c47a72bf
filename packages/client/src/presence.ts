import type { Channel } from './channel.js'
import { DEFAULT_REJOIN_GRACE_MS, PRESENCE_EVENTS, PRESENCE_REF_KEY } from './constants.js'
import type { Ref } from './serializer.js'
import { unref } from './timer.js'

/** One tracked presence's metadata, with the `hb_ref` (phoenix dialect: `phx_ref`) the server gave it. */
export interface Meta {
  hb_ref?: string
  phx_ref?: string
  [key: string]: any
}

/** Everything tracked under one key (a user): one meta per tracking socket (two tabs, two metas). */
export interface PresenceEntry {
  metas: Meta[]
  [key: string]: any
}

/** `{ [key]: { metas: [...] } }`, as in `presence_state`. */
export type PresenceState = Record<string, PresenceEntry>

/** A `presence_diff`: what joined and what left since the last state or diff. */
export interface PresenceDiff {
  joins?: PresenceState
  leaves?: PresenceState
}

/**
 * A `presence_count`, what a channel gets instead of presence_state and presence_diff when its
 * server pattern sets `presence: 'counts'` (very large rooms): `keys` distinct keys (users),
 * `metas` presences (one per tracking socket: tabs). Read it with
 * `channel.on('presence_count', (count: PresenceCount) => ...)`; a Presence stays empty there.
 */
export interface PresenceCount {
  keys: number
  metas: number
}

/** `onJoin(key, current, joined)`: `current` is the key's entry before (undefined: the key is new). */
export type JoinCallback = (key: string, current: PresenceEntry | undefined, joined: PresenceEntry) => void
/** `onLeave(key, current, left)`: `current` is the key's entry after (no metas left: the key is gone). */
export type LeaveCallback = (key: string, current: PresenceEntry, left: PresenceEntry) => void

export interface PresenceSyncOptions {
  /** The event names of the state and diff. Default `presence_state` and `presence_diff`. */
  events?: { state: string; diff: string }

  /**
   * After a rejoin, a presence absent from the new state is kept this long (in ms) before it
   * counts as gone, since its owner may be reconnecting too (after a server restart everyone
   * is). If it comes back meanwhile, nothing fires. Default 5000; 0 reports leaves at once.
   */
  rejoinGraceMs?: number
}

/** @deprecated Renamed `PresenceSyncOptions` (`@hornbeam/channels`' `PresenceOptions` are the server's). */
export type PresenceOptions = PresenceSyncOptions

const noop = () => {}

/**
 * Who is on a channel: `new Presence(channel)`, then onJoin, onLeave, onSync and list().
 * Create it before the channel joins: it follows the channel's presence_state and
 * presence_diff from the first join on.
 *
 * A rejoin (after a reconnect, a server restart, a channel error) brings a new presence_state
 * in which every presence has a new hb_ref, since the server tracked everyone anew. That state
 * is compared with the one held by content (metas minus hb_ref) and by key, not by ref, so
 * onJoin and onLeave fire only for presences that really came or went, not for everyone
 * who was there all along; see `rejoinGraceMs` for those still on their way back.
 */
export class Presence {
  private state: PresenceState = {}
  /** The join whose presence_state `state` follows; undefined until the first one. */
  private syncedJoinRef: Ref | undefined
  private readonly caller = { onJoin: noop as JoinCallback, onLeave: noop as LeaveCallback, onSync: noop as () => void }
  private readonly graceMs: number
  /** Metas a rejoin's state did not have, kept (and listed) while their owners may come back. */
  private missing = new Map<string, Meta[]>()
  private graceTimer: ReturnType<typeof setTimeout> | undefined

  constructor(readonly channel: Channel<any>, options: PresenceSyncOptions = {}) {
    const events = options.events ?? PRESENCE_EVENTS
    this.graceMs = options.rejoinGraceMs ?? DEFAULT_REJOIN_GRACE_MS
    // Any contract's channel: the presence events are the server's own, named in `events`.
    const untyped = channel as Channel
    untyped.on(events.state, (state: PresenceState) => this.receiveState(state))
    untyped.on(events.diff, (diff: PresenceDiff) => this.receiveDiff(diff))
    channel.onClose(() => this.stopGrace())
  }

  /** Sets the callback for presences that join. */
  onJoin(callback: JoinCallback): void {
    this.caller.onJoin = callback
  }

  /** Sets the callback for presences that leave. */
  onLeave(callback: LeaveCallback): void {
    this.caller.onLeave = callback
  }

  /** Sets the callback run after every state or diff has been applied. */
  onSync(callback: () => void): void {
    this.caller.onSync = callback
  }

  /** The presences, one item per key: `chooser(key, entry)`, or the entry itself. */
  list<T = PresenceEntry>(chooser?: (key: string, presence: PresenceEntry) => T): T[] {
    return Presence.list(this.state, chooser)
  }

  /** True until the presence_state of the channel's current join has arrived. */
  inPendingSyncState(): boolean {
    return this.syncedJoinRef === undefined || this.syncedJoinRef !== this.channel.joinRef()
  }

  // -- following the channel

  private receiveState(newState: PresenceState): void {
    const resync = this.syncedJoinRef !== undefined
    this.syncedJoinRef = this.channel.joinRef()
    if (resync) {
      this.reconcile(newState)
      if (this.graceMs <= 0) this.expireMissing()
    } else {
      this.state = Presence.syncState(this.state, newState, this.caller.onJoin, this.caller.onLeave)
    }
    this.caller.onSync()
  }

  private receiveDiff(diff: PresenceDiff): void {
    // The server sends a join's presence_state after every diff it covers, so a diff that
    // comes before it is already in it: applying it after the state could undo a later leave.
    if (this.inPendingSyncState()) {
      this.channel.socket.log('presence', `dropped a presence_diff older than the state of ${this.channel.topic}`, diff)
      return
    }
    const rest = this.missing.size > 0 ? this.adoptReturning(diff) : diff
    this.state = Presence.syncDiff(this.state, rest, this.caller.onJoin, this.caller.onLeave)
    this.caller.onSync()
  }

  /**
   * A rejoin's state. Per key, new metas are paired with the metas held: same content first,
   * then any (a meta the server rebuilt, say with a new timestamp). Paired metas replace the
   * old silently; new metas left over are joins; held metas left over are kept as missing.
   */
  private reconcile(newState: PresenceState): void {
    const before = this.state
    const next: PresenceState = {}
    const missing = new Map<string, Meta[]>()
    const joins: Array<[string, PresenceEntry | undefined, PresenceEntry]> = []
    for (const key of new Set([...Object.keys(before), ...Object.keys(newState)])) {
      const held = own(before, key)
      const fresh = own(newState, key)
      const { joined, unmatched } = pairMetas(held?.metas ?? [], fresh?.metas ?? [])
      const metas = [...(fresh?.metas ?? []), ...unmatched]
      if (metas.length > 0) put(next, key, { ...held, ...fresh, metas })
      if (unmatched.length > 0) missing.set(key, unmatched)
      if (joined.length > 0) joins.push([key, held, { ...fresh!, metas: joined }])
    }
    this.state = next
    this.missing = missing
    this.stopGrace()
    if (missing.size > 0 && this.graceMs > 0) {
      this.graceTimer = unref(
        setTimeout(() => {
          this.graceTimer = undefined
          this.expireMissing()
          this.caller.onSync()
        }, this.graceMs),
      )
    }
    for (const [key, current, joined] of joins) this.caller.onJoin(key, current, joined)
  }

  /** Joins in a diff that bring back missing presences replace them silently; the rest is returned. */
  private adoptReturning(diff: PresenceDiff): PresenceDiff {
    const joins: PresenceState = {}
    const state = { ...this.state }
    for (const key of Object.keys(diff.joins ?? {})) {
      const entry = diff.joins![key]!
      const waiting = this.missing.get(key)
      const current = own(state, key)
      if (waiting === undefined || current === undefined) {
        put(joins, key, entry)
        continue
      }
      const { pairs, joined, unmatched } = pairMetas(waiting, entry.metas)
      const replacement = new Map(pairs)
      put(state, key, { ...current, ...entry, metas: current.metas.map((m) => replacement.get(m) ?? m) })
      if (unmatched.length > 0) this.missing.set(key, unmatched)
      else this.missing.delete(key)
      if (joined.length > 0) put(joins, key, { ...entry, metas: joined })
    }
    this.state = state
    if (this.missing.size === 0) this.stopGrace()
    return { joins, leaves: diff.leaves ?? {} }
  }

  /** The grace period is over: presences still missing have left. */
  private expireMissing(): void {
    const missing = this.missing
    this.missing = new Map()
    this.stopGrace()
    const state = { ...this.state }
    const leaves: Array<[string, PresenceEntry, PresenceEntry]> = []
    for (const [key, metas] of missing) {
      const current = own(state, key)
      if (current === undefined) continue
      const gone = new Set(metas)
      const removed = current.metas.filter((m) => gone.has(m))
      if (removed.length === 0) continue
      const after = { ...current, metas: current.metas.filter((m) => !gone.has(m)) }
      if (after.metas.length > 0) put(state, key, after)
      else delete state[key]
      leaves.push([key, after, { ...current, metas: removed }])
    }
    this.state = state
    for (const [key, current, left] of leaves) this.caller.onLeave(key, current, left)
  }

  private stopGrace(): void {
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer)
    this.graceTimer = undefined
  }

  // -- pure state functions (as in phoenix.js: usable on their own)

  /**
   * Applies a full state: metas whose hb_ref is new join, metas whose hb_ref is gone leave.
   * Returns the new state; `currentState` is not modified.
   */
  static syncState(currentState: PresenceState, newState: PresenceState, onJoin?: JoinCallback, onLeave?: LeaveCallback): PresenceState {
    const joins: PresenceState = {}
    const leaves: PresenceState = {}
    for (const key of Object.keys(currentState)) {
      if (own(newState, key) === undefined) put(leaves, key, currentState[key]!)
    }
    for (const key of Object.keys(newState)) {
      const next = newState[key]!
      const current = own(currentState, key)
      if (current === undefined) {
        put(joins, key, next)
        continue
      }
      const currentRefs = new Set(current.metas.map(refOf))
      const nextRefs = new Set(next.metas.map(refOf))
      const joined = next.metas.filter((m) => !currentRefs.has(refOf(m)))
      const left = current.metas.filter((m) => !nextRefs.has(refOf(m)))
      if (joined.length > 0) put(joins, key, { ...next, metas: joined })
      if (left.length > 0) put(leaves, key, { ...current, metas: left })
    }
    return Presence.syncDiff(currentState, { joins, leaves }, onJoin, onLeave)
  }

  /**
   * Applies a diff: joins first, then leaves. Callbacks fire only for metas that really came
   * (a ref not held yet) or went (a ref that was held). Returns the new state; `state` is not
   * modified.
   */
  static syncDiff(state: PresenceState, diff: PresenceDiff, onJoin?: JoinCallback, onLeave?: LeaveCallback): PresenceState {
    const out: PresenceState = { ...state }
    const joins = diff.joins ?? {}
    const leaves = diff.leaves ?? {}
    for (const key of Object.keys(joins)) {
      const joining = joins[key]!
      const current = own(out, key)
      const held = new Set((current?.metas ?? []).map(refOf))
      const added = joining.metas.filter((m) => !held.has(refOf(m)))
      if (added.length === 0) continue
      put(out, key, { ...current, ...joining, metas: [...(current?.metas ?? []), ...added] })
      onJoin?.(key, current, { ...joining, metas: added })
    }
    for (const key of Object.keys(leaves)) {
      const current = own(out, key)
      if (current === undefined) continue
      const leaving = new Set(leaves[key]!.metas.map(refOf))
      const removed = current.metas.filter((m) => leaving.has(refOf(m)))
      if (removed.length === 0) continue
      const after = { ...current, metas: current.metas.filter((m) => !leaving.has(refOf(m))) }
      if (after.metas.length > 0) put(out, key, after)
      else delete out[key]
      onLeave?.(key, after, { ...leaves[key]!, metas: removed })
    }
    return out
  }

  /** The presences as an array: `chooser(key, entry)` for each key, or the entries. */
  static list<T = PresenceEntry>(presences: PresenceState, chooser?: (key: string, presence: PresenceEntry) => T): T[] {
    const choose = chooser ?? ((_key: string, presence: PresenceEntry) => presence as unknown as T)
    return Object.keys(presences).map((key) => choose(key, presences[key]!))
  }
}

/** The meta's ref: `hb_ref` on the hornbeam dialect, `phx_ref` on the phoenix one. */
function refOf(meta: Meta): unknown {
  return meta[PRESENCE_REF_KEY] ?? meta.phx_ref
}

/** The keys the server adds to a meta (its refs), left out when metas are compared by content. */
const REF_KEYS = new Set([PRESENCE_REF_KEY, 'phx_ref', 'phx_ref_prev'])

/** The key's own entry; keys are user data, and "__proto__" must stay a plain key. */
function own(state: PresenceState, key: string): PresenceEntry | undefined {
  return Object.prototype.hasOwnProperty.call(state, key) ? state[key] : undefined
}

function put(state: PresenceState, key: string, entry: PresenceEntry): void {
  Object.defineProperty(state, key, { value: entry, enumerable: true, writable: true, configurable: true })
}

/**
 * Pairs held metas with new ones of the same key: equal content (hb_ref aside) first, then in
 * order. Returns the pairs [held, new], the new metas with no partner and the held ones left.
 */
function pairMetas(held: Meta[], fresh: Meta[]): { pairs: Array<[Meta, Meta]>; joined: Meta[]; unmatched: Meta[] } {
  const left = held.slice()
  const pairs: Array<[Meta, Meta]> = []
  const unpaired: Meta[] = []
  for (const meta of fresh) {
    const i = left.findIndex((h) => sameContent(h, meta))
    if (i >= 0) pairs.push([left.splice(i, 1)[0]!, meta])
    else unpaired.push(meta)
  }
  const joined: Meta[] = []
  for (const meta of unpaired) {
    const partner = left.shift()
    if (partner !== undefined) pairs.push([partner, meta])
    else joined.push(meta)
  }
  return { pairs, joined, unmatched: left }
}

function sameContent(a: Meta, b: Meta): boolean {
  const keys = Object.keys(a).filter((k) => !REF_KEYS.has(k))
  const otherKeys = Object.keys(b).filter((k) => !REF_KEYS.has(k))
  return keys.length === otherKeys.length && keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]))
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return (
    ka.length === kb.length &&
    ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual((a as any)[k], (b as any)[k]))
  )
}
