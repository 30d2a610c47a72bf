// The shape of the code, checked so it stays true: no import cycle among the packages' sources
// (type-only imports count: a cycle of types is still a cycle for a reader), the core's files
// small enough to read, Hub a façade.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import madge from 'madge'
import { root } from './helpers/examples.js'

const sources = ['channels', 'client', 'fastify', 'express', 'redis', 'koa', 'hono', 'nestjs'].map((p) => `packages/${p}/src`)

t.test('no import cycle in packages/*/src (madge --circular, type imports included)', async (t) => {
  const graph = await madge(sources, { baseDir: root, fileExtensions: ['ts'] })
  const edges = graph.obj()
  // The tool must have seen the code: a known value import and a known type-only import.
  t.ok(edges['packages/channels/src/hub.ts']?.includes('packages/channels/src/endpoint.ts'), 'it saw hub.ts → endpoint.ts')
  t.ok(
    edges['packages/channels/src/channel-instance.ts']?.includes('packages/channels/src/host.ts'),
    'it saw channel-instance.ts → host.ts, an `import type`',
  )
  t.ok(Object.keys(edges).length > 40, `it read every source file (${Object.keys(edges).length})`)
  t.same(graph.circular(), [], 'no cycle')
})

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') ? [path] : []
  })
}

t.test('packages/channels/src: no file over 300 lines, hub.ts under 200', async (t) => {
  const files = sourceFiles(join(root, 'packages/channels/src'))
  t.ok(files.length > 20, `${files.length} files`)
  const lines = (file: string) => readFileSync(file, 'utf8').split('\n').length
  for (const file of files) t.ok(lines(file) <= 300, `${file.slice(root.length)}: ${lines(file)} lines`)
  t.ok(lines(join(root, 'packages/channels/src/hub.ts')) < 200, `hub.ts: ${lines(join(root, 'packages/channels/src/hub.ts'))} lines`)
})
