/** What `adapter.stats()` reports. */
export interface RedisAdapterStats {
  /** Both connections are up and the subscriptions are in place. */
  connected: boolean
  /** Messages handed to Redis. */
  published: number
  /** Messages from other nodes handed to the hub. */
  received: number
  /** Messages not published: Redis unreachable, too many unacknowledged, or a failed PUBLISH. */
  dropped: number
  /**
   * Broadcasts from other nodes this node knows it missed: each node numbers its broadcasts per
   * topic, and a jump in the numbers (a message published while this node's subscription was not
   * in place, or one its sender dropped) is counted here, when the sender's next message arrives.
   */
  lost: number
  /** This node's own messages, echoed back by Redis and discarded. */
  ownEchoes: number
  /** Received messages that were not a JSON object. */
  decodeErrors: number
  /** PUBLISH commands awaiting Redis's reply. */
  pendingPublishes: number
  /** Redis channels the node wants to be subscribed to. */
  subscriptions: number
  /** Times the adapter came back after losing Redis. */
  reconnects: number
  /**
   * Cluster mode: masters this node has a live topic subscriber connection to, and topic channels
   * SSUBSCRIBEd again on a new owner (a failover, a slot migration).
   */
  shards?: { connected: number; moves: number }
}
