// The build's outputs (ESM, CommonJS, the browser bundle), then the seed's JavaScript client
// sections, verbatim, running on the browser bundle in a page-like context against a real server.
// The artefacts are built once before the tests (npm test runs npm run build first); no test
// rebuilds dist/, which other test files read meanwhile. The build script itself is checked by
// building into a temp dir.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import vm from 'node:vm'
import WebSocket from 'ws'
import { startChat, waitFor } from './fixtures/server.js'
import { FakeClock } from './fixtures/fake-clock.js'

const here = dirname(fileURLToPath(import.meta.url))
const pkg = join(here, '..')
const require = createRequire(import.meta.url)
const API = ['Socket', 'Channel', 'Push', 'Presence']

/** Runs a browser bundle in an empty context: what it sets as window.Hornbeam. */
function browserGlobal(file: string): Record<string, any> {
  const window: Record<string, any> = {}
  window.window = window
  vm.runInContext(readFileSync(file, 'utf8'), vm.createContext(window))
  return window.Hornbeam
}

t.test('the built artefacts: ESM, CommonJS and a browser bundle that sets window.Hornbeam', async (t) => {
  const cjs = require('@hornbeam/client')
  const esm = await import('@hornbeam/client')
  for (const name of API) {
    t.type(cjs[name], 'function', `require: ${name}`)
    t.type((esm as Record<string, unknown>)[name], 'function', `import: ${name}`)
  }
  t.equal(require.resolve('@hornbeam/client'), join(pkg, 'dist/cjs/index.js'))
  t.ok(existsSync(join(pkg, 'dist/cjs/index.d.ts')), 'CommonJS types beside the CommonJS build')
  const browser = require.resolve('@hornbeam/client/browser')
  t.equal(browser, join(pkg, 'dist/browser/hornbeam.min.js'), "servers can require.resolve('@hornbeam/client/browser')")

  const Hornbeam = browserGlobal(browser)
  for (const name of API) t.type(Hornbeam?.[name], 'function', `window.Hornbeam.${name}`)
  t.type(Hornbeam.Presence.syncDiff, 'function')
})

t.test('build.mjs writes both bundles and prints the size (into a temp dir: dist/ is left alone)', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'hornbeam-client-build-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const build = spawnSync(process.execPath, ['build.mjs', '--outdir', out], { cwd: pkg, encoding: 'utf8' })
  t.equal(build.status, 0, build.stderr)
  t.match(build.stdout, /hornbeam\.min\.js [\d.]+ kB minified, [\d.]+ kB gzipped/, 'prints the bundle size')
  t.comment(build.stdout.trim().split('\n').at(-1)!)
  t.same(JSON.parse(readFileSync(join(out, 'cjs/package.json'), 'utf8')), { type: 'commonjs' })
  t.ok(existsSync(join(out, 'cjs/index.d.ts')), 'the .d.ts copied beside the CommonJS build')
  const cjs = createRequire(join(out, 'cjs/index.js'))('./index.js')
  for (const name of API) t.type(cjs[name], 'function', `CommonJS: ${name}`)
  const Hornbeam = browserGlobal(join(out, 'browser', 'hornbeam.min.js'))
  for (const name of API) t.type(Hornbeam?.[name], 'function', `browser: window.Hornbeam.${name}`)
})

/**
 * A page: the browser bundle plus DOM stand-ins, with `ws` as the page's WebSocket. `env` may give
 * the page its own timers (a fake clock) and WebSocket class.
 */
function page(port: number, fields: Record<string, string> = {}, env: Record<string, unknown> = {}) {
  const elements: Record<string, any> = {
    username: { value: fields.username ?? '' },
    room: { value: fields.room ?? '' },
    'message-input': { value: '' },
    'typing-indicator': { textContent: '' },
    users: { innerHTML: '' },
  }
  const logs: string[] = []
  const errors: string[] = []
  const messages: Array<[unknown, string, boolean?]> = []
  const alerts: string[] = []
  const statuses: string[] = []
  const text = (args: unknown[]) => args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')
  const window: Record<string, any> = {
    location: { href: `http://127.0.0.1:${port}/`, protocol: 'http:', host: `127.0.0.1:${port}` },
    WebSocket,
    URL,
    setTimeout,
    clearTimeout,
    console: { log: (...a: unknown[]) => logs.push(text(a)), error: (...a: unknown[]) => errors.push(text(a)) },
    document: { getElementById: (id: string) => elements[id] },
    alert: (message: string) => alerts.push(message),
    // The page's own functions the seed's snippet calls.
    addMessage: (user: unknown, body: string, system?: boolean) => messages.push(system ? [user, body, true] : [user, body]),
    updateStatus: (status: string) => statuses.push(status),
    showChatArea: () => statuses.push('chat area'),
    // Browsers expose elements with an id as globals; the seed's sendMessage reads `username` so.
    username: elements.username,
    ...env,
  }
  window.window = window
  const context = vm.createContext(window)
  vm.runInContext(readFileSync(join(pkg, 'dist/browser/hornbeam.min.js'), 'utf8'), context)
  const run = (code: string) => vm.runInContext(code, context)
  return { elements, logs, errors, messages, alerts, statuses, run }
}

const fixture = (name: string) => readFileSync(join(here, 'fixtures', name), 'utf8')

t.test("channels-chat-example.md's JavaScript client, verbatim, on the browser bundle", async (t) => {
  const srv = await startChat()
  t.teardown(srv.close)
  const chat = fixture('seed-chat-client.js')
  const alice = page(srv.port, { username: 'alice', room: 'lobby' })
  const bob = page(srv.port, { username: 'bob', room: 'lobby' })
  alice.run(chat)
  bob.run(chat)

  alice.run('joinRoom()')
  await waitFor(() => alice.statuses.includes('chat area'), 'alice in the chat')
  t.same(alice.statuses, ['Connected', 'chat area'])
  t.same(alice.messages, [['System', 'alice joined', true]])
  t.equal(alice.elements.users.innerHTML, '<span class="user">alice</span>')
  t.ok(alice.logs.some((l) => /^transport: connecting to ws:\/\/127\.0\.0\.1:\d+\/ws\/websocket /.test(l)), 'the seed logger sees the transport')
  t.notOk(alice.logs.some((l) => l.includes('token=demo')), 'but not the token')

  bob.run('joinRoom()')
  await waitFor(() => alice.messages.length === 2 && bob.elements.users.innerHTML.includes('alice'), 'both see both')
  t.same(alice.messages, [['System', 'alice joined', true], ['System', 'bob joined', true]])
  t.equal(alice.elements.users.innerHTML, '<span class="user">alice</span><span class="user">bob</span>')

  alice.elements['message-input'].value = 'Hello bob!'
  alice.run('sendMessage()')
  await waitFor(() => bob.messages.some(([, body]) => body === 'Hello bob!'), 'bob gets the message')
  t.same(bob.messages.at(-1), ['alice', 'Hello bob!'])
  await waitFor(() => alice.elements['message-input'].value === '', "alice's input cleared on ok")
  t.same(alice.messages.at(-1), [alice.elements.username, 'Hello bob!'], 'the ok callback ran')

  alice.run("channel.push('typing', { typing: true })")
  await waitFor(() => bob.elements['typing-indicator'].textContent !== '', 'typing shown')
  t.equal(bob.elements['typing-indicator'].textContent, 'alice is typing...')

  // A refused join: one alert with the server's reason, and no retry storm. The page runs on a
  // fake clock, and its WebSocket records what it sends: a retry, at once or on any timer of the
  // next 29 s (the heartbeat is at 30 s), would be a second join frame sent by the end of tick().
  const clock = new FakeClock()
  const sent: string[] = []
  class RecordingWebSocket extends WebSocket {
    override send(data: any, ...rest: any[]) {
      sent.push(String(data))
      return (super.send as any)(data, ...rest)
    }
  }
  const nobody = page(srv.port, { username: '', room: 'lobby' }, { ...clock.api(), WebSocket: RecordingWebSocket })
  nobody.run(chat)
  nobody.run('joinRoom()')
  await waitFor(() => nobody.alerts.length === 1, 'the refusal alert')
  t.same(nobody.alerts, ['Failed to join: username required'])
  const joinsSent = () => sent.filter((frame) => frame.includes('"hb_join"')).length
  t.equal(joinsSent(), 1, 'one join sent')
  clock.tick(29_000)
  t.equal(joinsSent(), 1, 'not retried on that connection, at once or later')
  t.equal(nobody.alerts.length, 1)
  nobody.run('socket.disconnect()')

  bob.run('leaveRoom()')
  await waitFor(() => bob.logs.includes('Left room'), 'bob left')
  await waitFor(() => alice.messages.some(([, body]) => body === 'bob left'), 'alice sees bob leave')
  t.equal(alice.elements.users.innerHTML, '<span class="user">alice</span>')
  t.same(bob.statuses.at(-1), 'Disconnected')
  alice.run('leaveRoom()')
  await waitFor(() => alice.logs.includes('Left room'), 'alice left')
  t.same(alice.errors, [])
  t.same(bob.errors, [])
})

t.test("channels-guide.md's JavaScript client snippets, verbatim, on the browser bundle", async (t) => {
  const srv = await startChat()
  t.teardown(srv.close)
  const [setup, leaving] = fixture('seed-guide-client.js').split('// --- Leaving Channels\n')
  const browser = page(srv.port)
  browser.run(setup!)
  // The push made before the join was answered is buffered, sent after the join, and answered.
  await waitFor(() => browser.logs.includes('Sent'), 'the push was answered')
  t.ok(browser.logs.includes('Connected'))
  t.ok(browser.logs.includes('Joined! {"room_id":"lobby","message":"Welcome to lobby!"}'))
  t.ok(browser.logs.includes('Alice joined'))
  t.ok(browser.logs.includes('Online: ["Alice"]'))
  browser.run(leaving!)
  await waitFor(() => browser.logs.includes('Left channel') && browser.logs.includes('Disconnected'), 'left and disconnected')
  t.same(browser.errors, [])
})
