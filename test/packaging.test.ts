// The packages as a user installs them: packed tarballs in a fresh project. Each one loads with
// require() (without Node's require(esm), as on Node 20.0–20.18; @hornbeam/nestjs with it, since
// NestJS 12 is ESM-only) and with import; a TypeScript consumer compiles under node16 and
// nodenext (CommonJS and ESM files), bundler and node10, without skipLibCheck (@hornbeam/nestjs
// under all but node16 from CommonJS); publint and @arethetypeswrong/cli (default profile) find
// nothing.
// `npm test` has built every package before this runs; packing skips prepack for that reason.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { root } from './helpers/examples.js'

t.setTimeout(600_000)
const PACKAGES = ['channels', 'client', 'fastify', 'express', 'redis', 'koa', 'hono', 'nestjs', 'testing']
const dir = mkdtempSync(join(tmpdir(), 'hornbeam-packaging-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const packs = join(dir, 'packs')
mkdirSync(packs)

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  return { status: result.status, out: `${result.stdout}${result.stderr}` }
}

const bin = (name: string) => join(root, 'node_modules', '.bin', name)

t.test('npm pack: every package, with its built files, its LICENSE and no tests', async (t) => {
  for (const name of PACKAGES) {
    const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packs, '-w', `@hornbeam/${name}`], root)
    t.equal(packed.status, 0, `npm pack @hornbeam/${name}`)
    const [info] = JSON.parse(packed.out.slice(packed.out.indexOf('[')))
    const files: string[] = info.files.map((f: { path: string }) => f.path)
    t.ok(files.includes('LICENSE'), `${name}: LICENSE`)
    t.ok(files.some((f) => f.startsWith('dist/') && f.endsWith('.d.ts')), `${name}: types`)
    t.ok(files.some((f) => f.includes('commonjs/') || f.includes('cjs/')), `${name}: a CommonJS build`)
    t.notOk(files.some((f) => f.startsWith('test/')), `${name}: no tests`)
  }
  t.equal(readdirSync(packs).length, PACKAGES.length)
})

t.test('@arethetypeswrong/cli and publint find no problem', async (t) => {
  for (const tarball of readdirSync(packs)) {
    const attw = run(bin('attw'), [join(packs, tarball), '--format', 'ascii'], dir)
    t.equal(attw.status, 0, `attw ${tarball}`)
    t.match(attw.out, /No problems found/, `attw ${tarball}: ${attw.status === 0 ? 'clean' : attw.out}`)
    const unpacked = join(dir, 'unpacked', tarball)
    mkdirSync(unpacked, { recursive: true })
    execFileSync('tar', ['-xzf', join(packs, tarball), '-C', unpacked])
    const lint = run(bin('publint'), ['--pack', 'false', join(unpacked, 'package')], dir)
    t.equal(lint.status, 0, `publint ${tarball}`)
    t.match(lint.out, /All good!/, `publint ${tarball}: ${lint.out.trim().split('\n').at(-1)}`)
  }
})

t.test('a fresh project installs the tarballs: require(), import and TypeScript', async (t) => {
  const app = join(dir, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true }))
  const tarballs = readdirSync(packs).map((f) => join(packs, f))
  // content-disposition@1 at the top, as in a Koa app: @types/koa 3 names its `Options`, which
  // the 2.x that express 5.3 depends on (its own types) does not export (TS2694 in @types/koa).
  const peers = [
    'fastify@5', 'express@5', '@types/express@5', '@types/node@20', 'typescript@5.9', 'prom-client@15',
    'koa@3', '@types/koa@3', 'content-disposition@1', 'hono@4', '@hono/node-server@2',
    '@nestjs/common@12', '@nestjs/core@12', 'reflect-metadata', 'rxjs',
  ]
  const installed = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', ...tarballs, ...peers], app)
  t.equal(installed.status, 0, installed.status === 0 ? 'npm install' : installed.out)

  const cjs = `
    const assert = require('node:assert')
    const channels = require('@hornbeam/channels')
    assert.equal(typeof channels.createHub, 'function')
    assert.equal(typeof require('@hornbeam/channels/adapter').mountHub, 'function')
    assert.equal(typeof require('@hornbeam/channels/prometheus').registerMetrics, 'function')
    assert.equal(typeof require('@hornbeam/client').Socket, 'function')
    const channelsMiddleware = require('@hornbeam/express')
    assert.equal(typeof channelsMiddleware, 'function', 'require() is the middleware factory')
    assert.equal(require('@hornbeam/express').channelsMiddleware, channelsMiddleware)
    assert.equal(channelsMiddleware.default, channelsMiddleware)
    const plugin = require('@hornbeam/fastify')
    assert.equal(typeof plugin, 'function', 'require() is the plugin')
    assert.equal(plugin.channels, plugin)
    assert.equal(typeof require('@hornbeam/redis').redisAdapter, 'function')
    const koaChannels = require('@hornbeam/koa')
    assert.equal(typeof koaChannels, 'function', 'require() is the Koa middleware factory')
    assert.equal(koaChannels.channels, koaChannels)
    assert.equal(koaChannels.default, koaChannels)
    const createChannels = require('@hornbeam/hono')
    assert.equal(typeof createChannels, 'function', 'require() is createChannels')
    assert.equal(createChannels.createChannels, createChannels)
    assert.equal(createChannels.default, createChannels)
    assert.ok(require.resolve('@hornbeam/client/browser').endsWith('hornbeam.min.js'))
    assert.equal(typeof require('@hornbeam/testing').channelTest, 'function')
    const mw = channelsMiddleware()
    mw.close().then(() => console.log('cjs ok'))
  `
  const required = run(process.execPath, ['--no-experimental-require-module', '-e', cjs], app)
  t.equal(required.out.trim(), 'cjs ok', 'require() of every package and subpath (no require(esm))')

  // NestJS 12 is ESM-only: @hornbeam/nestjs's CommonJS build loads it through require(esm).
  const nestCjs = `
    const assert = require('node:assert')
    const { ChannelsModule, ChannelsService, Channel } = require('@hornbeam/nestjs')
    assert.equal(typeof ChannelsModule.forRoot, 'function')
    for (const f of [ChannelsService, Channel]) assert.equal(typeof f, 'function')
    console.log('cjs nestjs ok')
  `
  const requiredNest = run(process.execPath, ['--disable-warning=ExperimentalWarning', '-e', nestCjs], app)
  t.equal(requiredNest.out.trim(), 'cjs nestjs ok', 'require() of @hornbeam/nestjs (with require(esm), for NestJS 12)')

  const esm = `
    import assert from 'node:assert'
    import { createHub } from '@hornbeam/channels'
    import { mountHub } from '@hornbeam/channels/adapter'
    import { Socket } from '@hornbeam/client'
    import channelsMiddleware, { channelsMiddleware as named } from '@hornbeam/express'
    import channels, { channels as plugin } from '@hornbeam/fastify'
    import { redisAdapter } from '@hornbeam/redis'
    import koaChannels, { channels as koaNamed } from '@hornbeam/koa'
    import createChannels, { createChannels as honoNamed } from '@hornbeam/hono'
    import { ChannelsModule, ChannelsService, Channel } from '@hornbeam/nestjs'
    import { channelTest } from '@hornbeam/testing'
    assert.equal(typeof channelTest, 'function')
    assert.equal(channelsMiddleware, named)
    assert.equal(channels, plugin)
    assert.equal(koaChannels, koaNamed)
    assert.equal(createChannels, honoNamed)
    assert.equal(typeof ChannelsModule.forRoot, 'function')
    for (const f of [ChannelsService, Channel]) assert.equal(typeof f, 'function')
    for (const f of [createHub, mountHub, Socket, redisAdapter]) assert.equal(typeof f, 'function')
    console.log('esm ok')
  `
  const imported = run(process.execPath, ['--input-type=module', '-e', esm], app)
  t.equal(imported.out.trim(), 'esm ok', 'import of every package')

  // TypeScript consumers, under each module setting, with the packages' types checked too.
  const usage = (importLines: string) => `${importLines}
const hub = createHub({ maxPayload: 65536 })
hub.channel('room:*').onJoin((_topic, params, _payload, socket) => ['ok', { room: params.room_id }, socket])
const app = Fastify()
void app.register(channels, { path: '/ws' })
const ex = express()
ex.use(channelsMiddleware({ path: '/ws' }))
const socket: Socket = new Socket('ws://127.0.0.1:3000/ws')
new Koa().use(koaChannels({ path: '/ws' }))
const hono = createChannels({ path: '/ws' })
const honoApp = new Hono<ChannelsEnv>()
honoApp.use(hono.middleware)
hono.routes(honoApp)
honoApp.post('/x', (c) => (void c.var.channels.broadcast('room:1', 'hi'), c.body(null, 204)))
void serve({ fetch: honoApp.fetch, port: 0, websocket: hono.websocket })
void [redisAdapter, mountHub, socket]
void channelTest(() => createHub()).close()
`
  const imports = `import { createHub } from '@hornbeam/channels'
import { mountHub } from '@hornbeam/channels/adapter'
import { Socket } from '@hornbeam/client'
import channelsMiddleware from '@hornbeam/express'
import channels from '@hornbeam/fastify'
import { redisAdapter } from '@hornbeam/redis'
import { channelTest } from '@hornbeam/testing'
import koaChannels from '@hornbeam/koa'
import createChannels, { type ChannelsEnv } from '@hornbeam/hono'
import Fastify from 'fastify'
import express from 'express'
import Koa from 'koa'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'`
  // NestJS 12 is ESM-only: a CommonJS file reaches it (and @hornbeam/nestjs's CommonJS build)
  // through require(esm), which TypeScript's node16 does not model (TS1479), nodenext does.
  const nest = (file: string) => `import { ChannelsModule } from '@hornbeam/nestjs'\n${file}void ChannelsModule.forRoot({ path: '/ws' })\n`
  writeFileSync(join(app, 'consumer-node16.cts'), usage(imports))
  writeFileSync(join(app, 'consumer.cts'), nest(usage(imports)))
  writeFileSync(join(app, 'consumer.mts'), nest(usage(imports)))
  writeFileSync(join(app, 'consumer.ts'), nest(usage(imports)))
  const base = { strict: true, noEmit: true, skipLibCheck: false, esModuleInterop: true, types: ['node'] }
  const configs: Record<string, object> = {
    // One program per module format: a program that loads a package both as CommonJS and as ESM
    // sees two copies of its types (the dual-package hazard), as it would two copies of its code.
    'node16 from CommonJS': { compilerOptions: { ...base, module: 'node16', moduleResolution: 'node16' }, files: ['consumer-node16.cts'] },
    'node16 from ESM': { compilerOptions: { ...base, module: 'node16', moduleResolution: 'node16' }, files: ['consumer.mts'] },
    'nodenext from CommonJS': { compilerOptions: { ...base, module: 'nodenext', moduleResolution: 'nodenext' }, files: ['consumer.cts'] },
    'nodenext from ESM': { compilerOptions: { ...base, module: 'nodenext', moduleResolution: 'nodenext' }, files: ['consumer.mts'] },
    bundler: { compilerOptions: { ...base, module: 'esnext', moduleResolution: 'bundler' }, files: ['consumer.ts'] },
    node10: { compilerOptions: { ...base, module: 'commonjs', moduleResolution: 'node10' }, files: ['consumer.ts'] },
  }
  for (const [name, config] of Object.entries(configs)) {
    const file = `tsconfig.${name.replaceAll(' ', '-')}.json`
    writeFileSync(join(app, file), JSON.stringify(config))
    const compiled = run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', file], app)
    t.equal(compiled.status, 0, `tsc, module resolution ${name}, skipLibCheck off${compiled.status === 0 ? '' : `:\n${compiled.out}`}`)
  }
})
