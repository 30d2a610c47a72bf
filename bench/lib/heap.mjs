// Aggregates a V8 heap snapshot by constructor: count and self size, to see what one connection
// holds. `node bench/lib/heap.mjs <file.heapsnapshot> [connections]` prints the biggest groups,
// and with a connection count, the bytes per connection of each.
import { readFileSync } from 'node:fs'

export function aggregate(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'))
  const meta = snap.snapshot.meta
  const fields = meta.node_fields
  const types = meta.node_types[0]
  const nf = fields.length
  const iType = fields.indexOf('type')
  const iName = fields.indexOf('name')
  const iSize = fields.indexOf('self_size')
  const nodes = snap.nodes
  const strings = snap.strings
  const groups = new Map()
  let total = 0
  for (let i = 0; i < nodes.length; i += nf) {
    const type = types[nodes[i + iType]]
    const size = nodes[i + iSize]
    total += size
    let name = type === 'object' || type === 'closure' || type === 'native' ? strings[nodes[i + iName]] : `(${type})`
    if (type === 'closure') name = `closure ${name}`
    if (name.length > 60) name = name.slice(0, 60)
    const g = groups.get(name) ?? { name, count: 0, bytes: 0 }
    g.count++
    g.bytes += size
    groups.set(name, g)
  }
  return { total, groups: [...groups.values()].sort((a, b) => b.bytes - a.bytes) }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, n] = process.argv.slice(2)
  const { total, groups } = aggregate(file)
  console.log(`total ${total} bytes`)
  const per = Number(n) || 0
  console.table(groups.slice(0, 40).map((g) => ({ ...g, ...(per ? { perConnCount: +(g.count / per).toFixed(2), perConnBytes: Math.round(g.bytes / per) } : {}) })))
}
