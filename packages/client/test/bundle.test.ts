// The build's outputs (ESM, CommonJS, the browser bundle), then the seed's JavaScript client
// sections, verbatim, running on the browser bundle in a page-like context against a real server.
// This file is the only one that runs the build, so no other test reads a bundle being written.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import vm from 'node:vm'
import WebSocket from 'ws'
import { startChat, waitFor, sleep } from './fixtures/server.js'

const here = dirname(fileURLToPath(import.meta.url))
const pkg = join(here, '..')
const require = createRequire(import.meta.url)
const API = ['Socket', 'Channel', 'Push', 'Presence']

const build = spawnSync(process.execPath, ['build.mjs'], { cwd: pkg, encoding: 'utf8' })

t.test('build: ESM, CommonJS and a browser bundle that sets window.Hornbeam', async (t) => {
  t.equal(build.status, 0, build.stderr)
  t.match(build.stdout, /dist\/hornbeam\.min\.js [\d.]+ kB minified, [\d.]+ kB gzipped/, 'prints the bundle size')
  t.comment(build.stdout.trim().split('\n').at(-1)!)

  const cjs = require('@hornbeam/client')
  const esm = await import('@hornbeam/client')
  for (const name of API) {
    t.type(cjs[name], 'function', `require: ${name}`)
    t.type((esm as Record<string, unknown>)[name], 'function', `import: ${name}`)
  }
  t.equal(require.resolve('@hornbeam/client'), join(pkg, 'dist/cjs/index.js'))
  const browser = require.resolve('@hornbeam/client/browser')
  t.equal(browser, join(pkg, 'dist/hornbeam.min.js'), "servers can require.resolve('@hornbeam/client/browser')")

  const window: Record<string, any> = {}
  window.window = window
  vm.runInContext(readFileSync(browser, 'utf8'), vm.createContext(window))
  for (const name of API) t.type(window.Hornbeam?.[name], 'function', `window.Hornbeam.${name}`)
  t.type(window.Hornbeam.Presence.syncDiff, 'function')
})

/** A page: the browser bundle plus DOM stand-ins, with `ws` as the page's WebSocket. */
function page(port: number, fields: Record<string, string> = {}) {
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
  }
  window.window = window
  const context = vm.createContext(window)
  vm.runInContext(readFileSync(join(pkg, 'dist/hornbeam.min.js'), 'utf8'), context)
  const run = (code: string) => vm.runInContext(code, context)
  return { elements, logs, errors, messages, alerts, statuses, run }
}

const fixture = (name: string) => readFileSync(join(here, 'fixtures', name), 'utf8')

t.test("channels-chat-example.md's JavaScript client, verbatim, on the browser bundle", async (t) => {
  t.equal(build.status, 0)
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

  // A refused join: one alert with the server's reason, and no retry storm.
  const nobody = page(srv.port, { username: '', room: 'lobby' })
  nobody.run(chat)
  nobody.run('joinRoom()')
  await waitFor(() => nobody.alerts.length === 1, 'the refusal alert')
  t.same(nobody.alerts, ['Failed to join: username required'])
  await sleep(300)
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
  t.equal(build.status, 0)
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
