// The published types of @hornbeam/channels: what is @internal is not in them (stripInternal),
// and the root export list is the one the README documents.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import * as channels from '@hornbeam/channels'

const dist = fileURLToPath(new URL('../dist/esm/', import.meta.url))

function declarations(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? declarations(join(dir, entry.name)) : entry.name.endsWith('.d.ts') ? [join(dir, entry.name)] : [],
  )
}

t.test('no @internal member in the emitted .d.ts', async (t) => {
  const hub = readFileSync(join(dist, 'hub.d.ts'), 'utf8')
  t.match(hub, /broadcast<T extends string, E extends OutEvent<ContractOfTopic<T>>>\(topic: T, event: E/, 'the public API is there (the file is the real one)')
  t.match(hub, /readonly endpoint: Endpoint/, 'and the documented adapter entry')
  for (const member of ['counters', 'limits', 'presenceTracker', 'router', 'topics']) {
    t.notMatch(hub, new RegExp(`readonly ${member}\\b`), `Hub.${member} is internal`)
  }
  const files = declarations(dist)
  t.ok(files.length > 20, `${files.length} declaration files`)
  for (const file of files) t.notMatch(readFileSync(file, 'utf8'), /@internal/, file.slice(dist.length))
})

t.test('the root exports what applications write code against, and the deprecated aliases', async (t) => {
  t.same(Object.keys(channels).sort(), [
    'CLUSTER_PROTOCOL', 'ChannelDefinition', 'HISTORY_PARAMS', 'Hub', 'MemoryAdapter', 'MemoryBus', 'PatternError',
    'PresenceState', 'Socket', 'TopicPresence', 'consoleLogger', 'createHub', 'defaultHistoryOptions', 'defaultLimits',
    'defaultPresenceOptions', 'endpointPaths', 'error', 'formatPosition', 'memoryAdapter', 'newEpoch', 'noreply', 'ok',
    'originAllowed', 'parsePosition', 'refuseUpgrade', 'reply', 'runWorkers', 'silentLogger', 'stop', 'tokenFromProtocols', 'workerCount',
  ])
  const adapter = await import('@hornbeam/channels/adapter')
  t.same(Object.keys(adapter).sort(), [
    'Endpoint', 'PipelineUpgrades', 'clientBundle', 'clientBundlePath', 'endpointPaths', 'longPollPath', 'mountHub', 'originAllowed',
    'refusalResponse', 'refuseUpgrade', 'tokenFromProtocols',
  ])
})
