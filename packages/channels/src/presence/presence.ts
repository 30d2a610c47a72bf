import type { Socket } from '../socket.js'
import type { PresenceMeta } from './state.js'
import type { PresenceList } from './render.js'
import type { PresenceTracker } from './tracker.js'

/**
 * Who is online on one topic, cluster-wide: `hub.presence('room:lobby')`. A socket's presences
 * leave when it leaves the topic or disconnects; two sockets under one key (two tabs) give two
 * metas under that key.
 */
export class TopicPresence {
  constructor(private readonly tracker: PresenceTracker, readonly topic: string) {}

  /** Tracks `socket` under `key` with `meta`; returns the meta's ref (undefined if the socket is gone). */
  track(socket: Socket<any>, key: string, meta: PresenceMeta = {}): string | undefined {
    if (socket.host.closed) return undefined
    return this.tracker.track(this.topic, socket.id, checkKey(key), meta)
  }

  /** Replaces the meta (or maps it with a function); one diff: old meta leaves, new one joins. */
  update(socket: Socket<any>, key: string, meta: PresenceMeta | ((previous: PresenceMeta) => PresenceMeta)): string | undefined {
    if (socket.host.closed) return undefined
    return this.tracker.update(this.topic, socket.id, checkKey(key), meta)
  }

  untrack(socket: Socket<any>, key: string): void {
    this.tracker.untrack(this.topic, socket.id, key)
  }

  /** `{ [key]: { metas: [...] } }`; each meta carries its ref as `hb_ref`. */
  list(): PresenceList {
    return this.tracker.list(this.topic)
  }

  get(key: string): { metas: PresenceMeta[] } | undefined {
    return this.tracker.get(this.topic, key)
  }
}

function checkKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0) throw new TypeError('a presence key must be a non-empty string')
  return key
}
