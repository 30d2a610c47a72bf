/**
 * Presence on the wire: entries rendered as `{ key: { metas: [...] } }`, each meta carrying its
 * ref under the dialect's key (`hb_ref`, `phx_ref`).
 */
import { envelopeAround, type Dialect, type DialectName, type Ref, type Wire } from '../dialect.js'
import { textFrameParts } from '../frame.js'
import { refOf, type PresenceMeta, type PresenceEntry } from './state.js'

export type PresenceList = Record<string, { metas: PresenceMeta[] }>

/**
 * Each entry's meta serialized once per dialect: entries never change, and a join into a room of
 * N pushes a presence_state of N metas, so re-serializing them would make a filling room O(N²)
 * in JSON work. Weak, so an entry that leaves takes its text with it.
 */
const metaTexts = new WeakMap<PresenceEntry, { hornbeam?: string; phoenix?: string }>()

function metaText(entry: PresenceEntry, dialect: Dialect): string {
  let texts = metaTexts.get(entry)
  if (texts === undefined) metaTexts.set(entry, (texts = {}))
  return (texts[dialect.name] ??= JSON.stringify(renderMeta(entry, dialect)))
}

export function renderMeta(entry: PresenceEntry, dialect: Dialect): PresenceMeta {
  // Object.assign is ~8× faster than a spread here, but would run the __proto__ setter for a
  // meta that has that key (from JSON): such metas take the spread.
  const meta: PresenceMeta = Object.hasOwn(entry.meta, '__proto__') ? { ...entry.meta } : Object.assign({}, entry.meta)
  meta[dialect.refKey] = refOf(entry)
  if (entry.prevRef !== undefined && dialect.prevRefKey !== undefined) meta[dialect.prevRefKey] = entry.prevRef
  return meta
}

/** The same as JSON.stringify(renderPresences(entries, dialect)), from the cached meta texts. */
export function presencesJson(entries: Iterable<PresenceEntry>, dialect: Dialect): string {
  const byKey = new Map<string, string[]>()
  for (const entry of entries) {
    const metas = byKey.get(entry.key)
    if (metas === undefined) byKey.set(entry.key, [metaText(entry, dialect)])
    else metas.push(metaText(entry, dialect))
  }
  let out = ''
  for (const [key, metas] of byKey) out += `${out === '' ? '' : ','}${JSON.stringify(key)}:{"metas":[${metas.join(',')}]}`
  return `{${out}}`
}

/** Renders entries as `{ key: { metas: [...] } }` with the dialect's ref keys. */
export function renderPresences(entries: Iterable<PresenceEntry>, dialect: Dialect): PresenceList {
  const out: PresenceList = {}
  for (const entry of entries) {
    const meta = renderMeta(entry, dialect)
    let slot = Object.hasOwn(out, entry.key) ? out[entry.key] : undefined
    if (slot === undefined) {
      slot = { metas: [] }
      // A key named "__proto__" must stay a plain key: `out[key] =` would set the prototype.
      if (entry.key === '__proto__') Object.defineProperty(out, entry.key, { value: slot, enumerable: true, writable: true, configurable: true })
      else out[entry.key] = slot
    }
    slot.metas.push(meta)
  }
  return out
}

/** What the presence_state cache reads from the tracker. */
export interface StateSource {
  entries(topic: string): Iterable<PresenceEntry>
  /** The topic's presences, visible or not: only compared with `shareAbove`. */
  size(topic: string): number
  /** A rendering is a new sync point of the topic's pending diff window (see diff-batch.ts). */
  rendered(topic: string): void
}

/**
 * Rooms with at least this many presences share one presence_state rendering across changes (see
 * PresenceStateCache): under it a rendering costs a few microseconds, and a joiner's state holds
 * every change up to its join, its own presence included.
 */
export const SHARE_STATE_ABOVE = 100

interface TopicState {
  bodies: Partial<Record<DialectName, Buffer>>
  /** Presence changed since these bodies were rendered; the pending diff holds the changes. */
  stale: boolean
}

/**
 * A topic's presence_state, rendered once per dialect and shared by every socket that joins until
 * presence changes; in a room of SHARE_STATE_ABOVE presences or more, until the pending
 * presence_diff window closes. A joiner that gets an older rendering learns the window's later
 * changes from the window's diff, as every member does: a room filling with N joins per window
 * costs one rendering per window instead of one per join (O(N²) bytes of JSON). Each joiner's
 * frame is its own short envelope (it carries the join_ref) around the shared body, which is
 * written as it is, not copied: a joiner that never reads pins no copy of it.
 */
export class PresenceStateCache {
  private readonly topics = new Map<string, TopicState>()
  /** Bodies rendered, for stats. */
  renders = 0

  constructor(private readonly source: StateSource, private readonly shareAbove = SHARE_STATE_ABOVE) {}

  /** The presence_state frame for one joiner, in parts (see textFrameParts). */
  frame(topic: string, joinRef: Ref, wire: Wire): Buffer[] {
    let state = this.topics.get(topic)
    if (state === undefined || (state.stale && this.source.size(topic) < this.shareAbove)) {
      this.topics.set(topic, (state = { bodies: {}, stale: false }))
    }
    let body = state.bodies[wire.dialect.name]
    if (body === undefined) {
      body = state.bodies[wire.dialect.name] = Buffer.from(presencesJson(this.source.entries(topic), wire.dialect))
      this.renders++
      this.source.rendered(topic)
    }
    const [head, tail] = envelopeAround(wire.encoding, joinRef, null, topic, 'presence_state')
    return textFrameParts(head, body, tail)
  }

  /** The topic's presence changed and its subscribers will hear it in the pending diff. */
  changed(topic: string): void {
    const state = this.topics.get(topic)
    if (state !== undefined) state.stale = true
  }

  /** The topic's diff window closed, its presence changed with no window, or it has no local subscriber left. */
  invalidate(topic: string): void {
    this.topics.delete(topic)
  }
}
