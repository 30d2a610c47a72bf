// Summarizes V8 .cpuprofile files (from `node --cpu-prof`): self and total time per function,
// and time per origin (our packages, ws, socket.io, node internals, GC, idle).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

function originOf(url, name) {
  if (!url) {
    if (name === '(garbage collector)') return 'gc'
    if (name === '(idle)') return 'idle'
    if (name === '(program)') return 'program (native, unattributed)'
    return 'native'
  }
  const m = /packages\/([^/]+)\/dist\//.exec(url)
  if (m) return `@hornbeam/${m[1]}`
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (nm) return nm[1]
  if (url.startsWith('node:')) return 'node internals'
  if (url.includes('/bench/')) return 'bench harness'
  return 'other'
}

function shortUrl(url) {
  return url
    .replace(/^file:\/\/.*?\/packages\//, 'packages/')
    .replace(/^file:\/\/.*?\/node_modules\//, 'node_modules/')
    .replace(/^file:\/\/.*?\/bench\//, 'bench/')
}

/**
 * Reads every .cpuprofile in `dir` (one per process that exited) and summarizes them together.
 * `groups`: named parts of the code to measure whole, `{ name, inside(callFrame), outside?(callFrame) }`:
 * a sample counts for a group when a frame of its stack is `inside` and no frame between that
 * one and the sample's own is `outside` (work the group calls but does not own).
 */
export function summarizeProfiles(dir, top = 25, groups = []) {
  let files = []
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
  } catch {}
  if (files.length === 0) return { status: 'no profile written', dir }
  const self = new Map()
  const total = new Map()
  const origins = new Map()
  let all = 0
  let idle = 0
  const grouped = new Map(groups.map((g) => [g.name, 0]))
  for (const f of files) {
    const profile = JSON.parse(readFileSync(join(dir, f), 'utf8'))
    const byId = new Map(profile.nodes.map((n) => [n.id, n]))
    const parent = new Map()
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
    const keyOf = (n) => {
      const cf = n.callFrame
      return `${cf.functionName || '(anonymous)'} ${cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : ''}`.trim()
    }
    for (let i = 0; i < profile.samples.length; i++) {
      const dt = profile.timeDeltas[i] ?? 0
      const node = byId.get(profile.samples[i])
      if (!node) continue
      const name = node.callFrame.functionName
      if (name === '(idle)') {
        idle += dt
        continue
      }
      all += dt
      const key = keyOf(node)
      self.set(key, (self.get(key) ?? 0) + dt)
      const origin = originOf(node.callFrame.url, name)
      origins.set(origin, (origins.get(origin) ?? 0) + dt)
      for (const g of groups) {
        for (let id = node.id; id !== undefined; id = parent.get(id)) {
          const frame = byId.get(id).callFrame
          if (g.outside?.(frame)) break
          if (g.inside(frame)) {
            grouped.set(g.name, grouped.get(g.name) + dt)
            break
          }
        }
      }
      const seen = new Set()
      for (let id = node.id; id !== undefined; id = parent.get(id)) {
        const k = keyOf(byId.get(id))
        if (seen.has(k)) continue
        seen.add(k)
        total.set(k, (total.get(k) ?? 0) + dt)
      }
    }
  }
  const pct = (v) => +((v / all) * 100).toFixed(1)
  const rows = (m, n) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([fn, us]) => ({ function: fn, ms: +(us / 1000).toFixed(1), percent: pct(us) }))
  const ours = (m) => new Map([...m].filter(([k]) => /packages\/[^/]+\/dist\//.test(k)))
  return {
    status: 'ok',
    dir,
    files,
    busyMs: +(all / 1000).toFixed(1),
    idleMs: +(idle / 1000).toFixed(1),
    byOrigin: rows(origins, 20).map(({ function: origin, ...r }) => ({ origin, ...r })),
    topSelf: rows(self, top),
    topSelfOurs: rows(ours(self), 15),
    topTotalOurs: rows(ours(total), 15),
    groups: [...grouped].map(([name, us]) => ({ name, ms: +(us / 1000).toFixed(1), percent: all > 0 ? pct(us) : 0 })),
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(summarizeProfiles(process.argv[2] ?? '.'), null, 2))
}
