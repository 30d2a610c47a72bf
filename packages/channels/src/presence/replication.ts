/**
 * Presence replication between nodes, over the pub/sub adapter (as Phoenix.Tracker's shards do):
 *
 * - local operations go out as one delta at the end of the event-loop turn, on `control`;
 * - every `heartbeatMs` a node says it is alive, with its clock;
 * - a delta that starts past what we have, or a heartbeat with a newer clock, or a peer seen for
 *   the first time, makes us ask that peer for its state (`presence.sync` on `node:<id>`, answered
 *   with `presence.state`);
 * - a peer silent for `downPeriodMs` is down (its entries are hidden), for `permdownPeriodMs`
 *   forgotten; a hub that closes says goodbye, so its presences leave at once.
 */
import { CLUSTER_PROTOCOL, type ClusterMessage, type PresenceMessage } from '../cluster.js'
import type { Logger } from '../logger.js'
import type { Change, PresenceSet } from './state.js'

export interface ReplicationOptions {
  heartbeatMs: number
  downPeriodMs: number
  permdownPeriodMs: number
}

export interface ReplicationHost {
  readonly nodeId: string
  readonly logger: Logger
  publish(channel: string, message: ClusterMessage): void
  /** Visible entries that joined or left because of a peer. */
  changed(changes: Change[]): void
}

interface Peer {
  lastSeen: number
  syncRequestedAt: number
}

export class Replication {
  private readonly peers = new Map<string, Peer>()
  private heartbeat: NodeJS.Timeout | undefined
  private deltaScheduled = false
  private stopped = false

  constructor(
    private readonly host: ReplicationHost,
    private readonly state: PresenceSet,
    private readonly options: ReplicationOptions,
  ) {}

  start(): void {
    this.heartbeat = setInterval(() => this.tick(), this.options.heartbeatMs)
    this.heartbeat.unref()
    this.sendHeartbeat()
  }

  /** A local operation happened: its delta leaves at the end of this turn, with any others. */
  localChanged(): void {
    if (this.deltaScheduled || this.stopped) return
    this.deltaScheduled = true
    setImmediate(() => this.sendDelta())
  }

  private sendDelta(): void {
    this.deltaScheduled = false
    const delta = this.state.takeDelta()
    if (delta !== undefined) this.publish('control', { kind: 'presence.delta', delta })
  }

  /** A presence message from a peer. */
  receive(message: PresenceMessage): void {
    const from = message.node
    if (from === this.host.nodeId || this.stopped) return
    const changes: Change[] = []
    if (message.kind === 'presence.bye') {
      this.peers.delete(from)
      this.state.purge(from, changes)
      return this.host.changed(changes)
    }
    this.touch(from, changes)
    switch (message.kind) {
      case 'presence.delta':
        if (this.state.applyDelta(message.delta, changes) === 'gap') this.requestSync(from, true)
        break
      case 'presence.heartbeat':
        if (typeof message.clock === 'number' && message.clock > this.state.contextOf(from)) this.requestSync(from, false)
        break
      case 'presence.sync':
        this.publish(`node:${from}`, { kind: 'presence.state', partition: this.state.partition() })
        break
      case 'presence.state':
        this.state.joinPartition(message.partition, changes)
        break
    }
    this.host.changed(changes)
  }

  /** Notes that `replica` is alive: a new peer is asked for its state, a down one comes back. */
  private touch(replica: string, changes: Change[]): void {
    const now = Date.now()
    const peer = this.peers.get(replica)
    if (peer === undefined) {
      this.peers.set(replica, { lastSeen: now, syncRequestedAt: 0 })
      this.requestSync(replica, true)
      return
    }
    peer.lastSeen = now
    if (this.state.isDown(replica)) {
      this.host.logger.info({ replica }, 'presence peer is back')
      this.state.setDown(replica, false, changes)
      this.requestSync(replica, true)
    }
  }

  private requestSync(replica: string, force: boolean): void {
    const peer = this.peers.get(replica)
    const now = Date.now()
    // One outstanding request per heartbeat period is enough; a heartbeat will tell if it got lost.
    if (peer !== undefined && !force && now - peer.syncRequestedAt < this.options.heartbeatMs) return
    if (peer !== undefined) peer.syncRequestedAt = now
    this.publish(`node:${replica}`, { kind: 'presence.sync' })
  }

  /** Asks every known peer for its state (after the adapter reconnects). */
  resync(): void {
    this.sendHeartbeat()
    for (const replica of this.peers.keys()) this.requestSync(replica, true)
  }

  private sendHeartbeat(): void {
    this.publish('control', { kind: 'presence.heartbeat', clock: this.state.clock })
  }

  private tick(): void {
    this.sendHeartbeat()
    const now = Date.now()
    const changes: Change[] = []
    for (const [replica, peer] of this.peers) {
      const silent = now - peer.lastSeen
      if (silent > this.options.permdownPeriodMs) {
        this.peers.delete(replica)
        this.state.purge(replica, changes)
      } else if (silent > this.options.downPeriodMs && !this.state.isDown(replica)) {
        this.host.logger.warn({ replica, silentMs: silent }, 'presence peer is down')
        this.state.setDown(replica, true, changes)
      }
    }
    this.host.changed(changes)
  }

  /** Flushes the last delta and says goodbye, so peers drop our presences at once. */
  stop(): void {
    if (this.stopped) return
    this.sendDelta()
    this.publish('control', { kind: 'presence.bye' })
    this.stopped = true
    if (this.heartbeat) clearInterval(this.heartbeat)
  }

  /** `up`: heard from within downPeriodMs; `down`: silent longer; `unknown`: never heard (or said goodbye). */
  peerState(replica: string): 'up' | 'down' | 'unknown' {
    const peer = this.peers.get(replica)
    if (peer === undefined) return 'unknown'
    return Date.now() - peer.lastSeen > this.options.downPeriodMs ? 'down' : 'up'
  }

  stats(): { peers: number; downPeers: number } {
    let down = 0
    for (const replica of this.peers.keys()) if (this.state.isDown(replica)) down++
    return { peers: this.peers.size, downPeers: down }
  }

  private publish(channel: string, message: DistributiveOmit<PresenceMessage, 'v' | 'node'>): void {
    this.host.publish(channel, { ...message, v: CLUSTER_PROTOCOL, node: this.host.nodeId } as PresenceMessage)
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
