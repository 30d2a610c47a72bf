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

/**
 * A topic's presence_state, rendered once per dialect and shared by every socket that joins until
 * the topic's presence changes. Each joiner's frame is its own short envelope (it carries the
 * join_ref) around the shared body, which is written as it is, not copied: a room of N users
 * costs one rendering however many join it, and a joiner that never reads pins no copy of it.
 */
export class PresenceStateCache {
  private readonly bodies = new Map<string, Partial<Record<DialectName, Buffer>>>()

  constructor(private readonly entries: (topic: string) => Iterable<PresenceEntry>) {}

  /** The presence_state frame for one joiner, in parts (see textFrameParts). */
  frame(topic: string, joinRef: Ref, wire: Wire): Buffer[] {
    let bodies = this.bodies.get(topic)
    if (bodies === undefined) this.bodies.set(topic, (bodies = {}))
    const body = (bodies[wire.dialect.name] ??= Buffer.from(presencesJson(this.entries(topic), wire.dialect)))
    const [head, tail] = envelopeAround(wire.encoding, joinRef, null, topic, 'presence_state')
    return textFrameParts(head, body, tail)
  }

  /** The topic's presence changed, or it has no local subscriber left. */
  invalidate(topic: string): void {
    this.bodies.delete(topic)
  }
}
