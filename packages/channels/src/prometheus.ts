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
  /**
   * Also export the history bytes of each topic (`hornbeam_history_topic_bytes{topic}`): one
   * series per topic, so only where topics are few. Default false.
   */
  perTopicHistory?: boolean
}

type CounterKey =
  | 'framesIn' | 'framesOut' | 'bytesIn' | 'bytesOut' | 'malformed' | 'binaryIgnored' | 'joins' | 'joinsRefused' | 'crashes' | 'invalidPayloads' | 'refusedUpgrades'
  | 'rateLimited' | 'slowConsumers' | 'droppedFrames' | 'conflatedFrames' | 'clusterMessagesIgnored' | 'broadcastsFailed' | 'replayed'
  | 'resumesRecovered' | 'resumesNotRecovered' | 'longPollRequests' | 'longPollRelayed' | 'longPollRelayServed' | 'longPollRelayFailed' | 'longPollRelayCancelled'

const counters: Array<[CounterKey, string, string]> = [
  ['framesIn', 'frames_in_total', 'Frames received from clients'],
  ['framesOut', 'frames_out_total', 'Frames written to clients'],
  ['bytesIn', 'bytes_in_total', 'Bytes received from clients'],
  ['bytesOut', 'bytes_out_total', 'Bytes written to clients'],
  ['malformed', 'malformed_frames_total', 'Malformed frames received'],
  ['binaryIgnored', 'binary_frames_ignored_total', 'Binary frames from sockets that speak JSON text only (hornbeam, phoenix vsn 1), ignored'],
  ['joins', 'joins_total', 'Accepted channel joins'],
  ['joinsRefused', 'joins_refused_total', 'Refused channel joins'],
  ['crashes', 'channel_crashes_total', 'Channel handlers that threw'],
  ['invalidPayloads', 'invalid_payloads_total', 'Joins and pushes refused by their schemas'],
  ['refusedUpgrades', 'refused_upgrades_total', 'Refused WebSocket upgrades'],
  ['rateLimited', 'rate_limited_total', 'Messages and joins refused by rate limits'],
  ['slowConsumers', 'slow_consumers_total', 'Sockets closed as slow consumers'],
  ['droppedFrames', 'dropped_frames_total', 'Frames dropped for slow consumers'],
  ['conflatedFrames', 'conflated_frames_total', 'Broadcasts on latest topics replaced by a newer one for a lagging socket'],
  ['clusterMessagesIgnored', 'cluster_messages_ignored_total', 'Cluster messages of an unknown protocol version, ignored'],
  ['broadcastsFailed', 'broadcasts_failed_total', 'Broadcasts the shared history could not take (never delivered)'],
  ['replayed', 'history_replayed_total', 'Messages sent to joining sockets from the history'],
  ['resumesRecovered', 'resumes_recovered_total', 'Resumes that replayed everything the client missed'],
  ['resumesNotRecovered', 'resumes_not_recovered_total', 'Resumes that could not (the client was told recovered: false)'],
  ['longPollRequests', 'longpoll_requests_total', 'Long-poll HTTP requests received'],
  ['longPollRelayed', 'longpoll_relayed_total', 'Long-poll requests relayed to the node holding their session'],
  ['longPollRelayServed', 'longpoll_relay_served_total', 'Long-poll requests relayed here by other nodes'],
  ['longPollRelayFailed', 'longpoll_relay_failed_total', 'Relayed long-poll requests that got no answer in time'],
  ['longPollRelayCancelled', 'longpoll_relay_cancelled_total', 'Polls relayed here whose client went away, stopped here'],
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
  new client.Counter({
    name: prefix + 'presence_state_renders_total',
    help: 'presence_state bodies rendered (each shared by the joiners until presence changes)',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(stats().presence.stateRenders)
    },
  })
  new client.Counter({
    name: prefix + 'presence_count_renders_total',
    help: "presence_count bodies rendered for channels with presence: 'counts' (one per topic per diff window in big rooms)",
    registers: [registry],
    collect() {
      this.reset()
      this.inc(stats().presence.countRenders)
    },
  })
  const gauge = (name: string, help: string, read: (s: HubStats) => number) =>
    new client.Gauge({ name: prefix + name, help, registers: [registry], collect() { this.set(read(stats())) } })
  gauge('connections', 'Open connections (WebSockets and long-poll sessions)', (s) => s.connections)
  gauge('longpoll_sessions', 'Long-poll sessions held by this node', (s) => s.longPollSessions)
  gauge('channels', 'Joined channels', (s) => s.channels)
  gauge('topics', 'Topics with at least one local subscriber', (s) => Object.keys(s.topics).length)
  gauge('presence_entries', 'Presence entries known to this node', (s) => s.presence.entries)
  gauge('presence_peers_down', 'Cluster peers currently marked down', (s) => s.presence.downPeers)
  gauge('history_entries', 'Messages kept by the in-memory history', (s) => s.history.entries)
  gauge('history_bytes', 'Bytes kept by the in-memory history', (s) => s.history.bytes)
  gauge('history_allocated_bytes', 'Bytes the in-memory history holds for frames (what its maxBytes bounds)', (s) => s.history.allocated)
  if (options.perTopicHistory) {
    new client.Gauge({
      name: prefix + 'history_topic_bytes',
      help: 'Bytes kept by the in-memory history, per topic',
      labelNames: ['topic'],
      registers: [registry],
      collect() {
        this.reset()
        for (const [topic, bytes] of Object.entries(stats().history.topicBytes)) this.set({ topic }, bytes)
      },
    })
  }
  return registry
}
