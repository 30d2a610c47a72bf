/**
 * Optional Prometheus metrics through prom-client (an optional peer dependency):
 *
 *   import { registerMetrics } from '@hornbeam/channels/prometheus'
 *   const registry = registerMetrics(hub)            // or registerMetrics(hub, { registry })
 *   app.get('/metrics', async (req, res) => res.type(registry.contentType).send(await registry.metrics()))
 *
 * Every metric is read from `hub.stats()` at scrape time: nothing is counted twice.
 */
import client from 'prom-client'
import type { Hub, HubStats } from './hub.js'

export interface MetricsOptions {
  registry?: client.Registry
  /** Metric name prefix, default 'hornbeam_'. */
  prefix?: string
}

type CounterKey = 'framesIn' | 'framesOut' | 'bytesIn' | 'bytesOut' | 'malformed' | 'joins' | 'joinsRefused' | 'crashes' | 'refusedUpgrades' | 'rateLimited' | 'slowConsumers' | 'droppedFrames' | 'clusterMessagesIgnored'

const counters: Array<[CounterKey, string, string]> = [
  ['framesIn', 'frames_in_total', 'Frames received from clients'],
  ['framesOut', 'frames_out_total', 'Frames written to clients'],
  ['bytesIn', 'bytes_in_total', 'Bytes received from clients'],
  ['bytesOut', 'bytes_out_total', 'Bytes written to clients'],
  ['malformed', 'malformed_frames_total', 'Malformed frames received'],
  ['joins', 'joins_total', 'Accepted channel joins'],
  ['joinsRefused', 'joins_refused_total', 'Refused channel joins'],
  ['crashes', 'channel_crashes_total', 'Channel handlers that threw'],
  ['refusedUpgrades', 'refused_upgrades_total', 'Refused WebSocket upgrades'],
  ['rateLimited', 'rate_limited_total', 'Messages and joins refused by rate limits'],
  ['slowConsumers', 'slow_consumers_total', 'Sockets closed as slow consumers'],
  ['droppedFrames', 'dropped_frames_total', 'Frames dropped for slow consumers'],
  ['clusterMessagesIgnored', 'cluster_messages_ignored_total', 'Cluster messages of an unknown protocol version, ignored'],
]

export function registerMetrics(hub: Hub, options: MetricsOptions = {}): client.Registry {
  const registry = options.registry ?? new client.Registry()
  const prefix = options.prefix ?? 'hornbeam_'
  // One stats() read per scrape, shared by every metric's collect().
  let snapshot: { at: number; stats: HubStats } | undefined
  const stats = () => {
    const now = Date.now()
    if (!snapshot || now - snapshot.at > 100) snapshot = { at: now, stats: hub.stats() }
    return snapshot.stats
  }
  for (const [key, name, help] of counters) {
    new client.Counter({
      name: prefix + name,
      help,
      registers: [registry],
      collect() {
        this.reset()
        this.inc(stats()[key])
      },
    })
  }
  const gauge = (name: string, help: string, read: (s: HubStats) => number) =>
    new client.Gauge({ name: prefix + name, help, registers: [registry], collect() { this.set(read(stats())) } })
  gauge('connections', 'Open WebSocket connections', (s) => s.connections)
  gauge('channels', 'Joined channels', (s) => s.channels)
  gauge('topics', 'Topics with at least one local subscriber', (s) => Object.keys(s.topics).length)
  gauge('presence_entries', 'Presence entries known to this node', (s) => s.presence.entries)
  gauge('presence_peers_down', 'Cluster peers currently marked down', (s) => s.presence.downPeers)
  return registry
}
