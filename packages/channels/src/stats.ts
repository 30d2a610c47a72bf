/** What `hub.stats()` returns. */
export interface HubStats {
  connections: number
  channels: number
  topics: Record<string, number>
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
  malformed: number
  /** Binary messages from sockets whose wire is JSON text (hornbeam, phoenix vsn 1): ignored, the socket lives on. */
  binaryIgnored: number
  joins: number
  joinsRefused: number
  crashes: number
  /** Joins and pushes refused by the channel's schemas (or whose schema failed to run). */
  invalidPayloads: number
  refusedUpgrades: number
  rateLimited: number
  slowConsumers: number
  /** Broadcasts (and pushes) not written to sockets over their bound: `drop` policies, and frames too large for the bound. */
  droppedFrames: number
  /** Broadcasts on `latest` topics replaced, for a lagging socket, by a newer one on the same topic before it could be written. */
  conflatedFrames: number
  /** Cluster messages of a protocol version this node does not know (a rolling deploy), ignored. */
  clusterMessagesIgnored: number
  /** Broadcasts on topics with a shared history that the store could not take: never delivered. */
  broadcastsFailed: number
  /** Messages sent to joining sockets from the history (resumes and `hb_recent`). */
  replayed: number
  /** Resumes that replayed everything the client missed, and those that could not. */
  resumesRecovered: number
  resumesNotRecovered: number
  /** Long-poll sessions held by this node (a gauge; each is counted in `connections` too). */
  longPollSessions: number
  /** Long-poll HTTP requests this node received (GET, POST, OPTIONS), whichever node holds the session. */
  longPollRequests: number
  /** Of those, the ones relayed to the node holding their session. */
  longPollRelayed: number
  /** Requests other nodes relayed here, for sessions held here. */
  longPollRelayServed: number
  /** Relayed requests whose answer did not come in time (the client got 410 or 500). */
  longPollRelayFailed: number
  /** Polls relayed here whose client went away on the relaying node: stopped here, so no answer goes to no one. */
  longPollRelayCancelled: number
  /**
   * `stateRenders`: presence_state bodies rendered (one per topic and dialect per change at most, shared by the joiners);
   * `countRenders`: presence_count bodies rendered for `presence: 'counts'` channels (one per topic per diff window in big rooms).
   */
  presence: { entries: number; topics: number; peers: number; downPeers: number; stateRenders: number; countRenders: number }
  /** Topic histories kept on this node, their messages and bytes (in all and per topic). */
  history: { topics: number; entries: number; bytes: number; allocated: number; topicBytes: Record<string, number> }
}

/** The hub's counters: one object, incremented in place by whoever counts. */
export type Counters = Omit<HubStats, 'connections' | 'channels' | 'topics' | 'presence' | 'history'>

export function newCounters(): Counters {
  return {
    framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, malformed: 0, binaryIgnored: 0, joins: 0, joinsRefused: 0,
    crashes: 0, invalidPayloads: 0, refusedUpgrades: 0, rateLimited: 0, slowConsumers: 0, droppedFrames: 0, conflatedFrames: 0, clusterMessagesIgnored: 0,
    broadcastsFailed: 0, replayed: 0, resumesRecovered: 0, resumesNotRecovered: 0,
    longPollSessions: 0, longPollRequests: 0, longPollRelayed: 0, longPollRelayServed: 0, longPollRelayFailed: 0, longPollRelayCancelled: 0,
  }
}
