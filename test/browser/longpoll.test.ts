// Long-poll fallback in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core),
// against the Fastify and Express chat examples started as their READMEs say. The long-poll user's
// page is served through a proxy that carries HTTP but refuses WebSocket upgrades (403), as some
// corporate proxies do: the page keeps `WebSocket`, the client really tries it first, the upgrade
// fails at once, and its `longPollFallbackMs` fallback takes over. The WebSocket user opens the
// example's own page directly. Together they run the seed's chat: join, push and reply,
// broadcastFrom both ways, presence both ways, leave. First the official `phoenix` client, then
// `@hornbeam/client` (the bundle the example serves).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Page } from 'playwright-core'
import { enterRoom, launch } from '../helpers/browser.js'
import { startExample } from '../helpers/examples.js'
import { startHttpProxy } from '../helpers/http-proxy.js'

const require = createRequire(import.meta.url)
// The IIFE build (`window.Phoenix`), beside the package's main file: not among its exports.
const phoenixJs = readFileSync(join(dirname(require.resolve('phoenix')), 'phoenix.js'), 'utf8')

/**
 * The long-poll user's page: the chat as the seed writes it, driven by the test through
 * `window.chat`. `client` picks the library: the official phoenix client (phoenix.js served by the
 * proxy) or @hornbeam/client (the example's own /ws/hornbeam.js).
 */
function page(client: 'phoenix' | 'hornbeam'): string {
  const lib = client === 'phoenix' ? '<script src="/phoenix.js"></script>' : '<script src="/ws/hornbeam.js"></script>'
  const make =
    client === 'phoenix'
      ? `new Phoenix.Socket('/ws', { longPollFallbackMs: 2500, logger: (kind, msg) => log.push(kind + ': ' + msg) })`
      : `new Hornbeam.Socket('/ws', { longPollFallbackMs: 2500, logger: (kind, msg) => log.push(kind + ': ' + msg) })`
  const Presence = client === 'phoenix' ? 'Phoenix.Presence' : 'Hornbeam.Presence'
  return `<!doctype html><meta charset="utf-8"><title>long-poll chat</title>${lib}
<script>
  const log = []
  const state = { joined: null, users: [], messages: [], replies: [], left: null }
  let socket, channel, presence
  window.chat = {
    log, state,
    start(username) {
      socket = ${make}
      socket.connect()
      channel = socket.channel('room:lobby', { username })
      presence = new ${Presence}(channel)
      presence.onSync(() => { state.users = presence.list((id, { metas }) => metas[0].username).sort() })
      channel.on('new_msg', (p) => state.messages.push(p.username + ': ' + p.body))
      channel.join().receive('ok', (r) => { state.joined = r }).receive('error', (r) => { state.joined = { error: r } })
    },
    say(body) {
      channel.push('new_msg', { body }).receive('ok', (r) => state.replies.push(['ok', r])).receive('error', (r) => state.replies.push(['error', r]))
    },
    leave() { channel.leave().receive('ok', () => { state.left = true }) },
    transport() { return ${client === 'phoenix' ? `socket.transport === Phoenix.LongPoll ? 'LongPoll' : socket.transport.name` : `socket.isLongPolling() ? 'LongPoll' : 'WebSocket'`} },
  }
</script>`
}

function serve(body: string, type: string) {
  return (_req: IncomingMessage, res: ServerResponse) => void res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body)
}


const messagesOf = (p: Page) => p.locator('#messages .message').allTextContents()

for (const example of ['chat-fastify', 'chat-express']) {
  for (const client of ['phoenix', 'hornbeam'] as const) {
    t.test(`${example}: the ${client === 'phoenix' ? 'official phoenix' : '@hornbeam/client'} client falls back to long-poll in Chromium and chats with a WebSocket user`, async (t) => {
      const ex = await startExample(example)
      t.teardown(ex.stop)
      const port = Number(new URL(ex.url).port)
      const proxy = await startHttpProxy({
        pick: () => port,
        upgrades: 'refuse',
        routes: { '/longpoll-chat.html': serve(page(client), 'text/html; charset=utf-8'), '/phoenix.js': serve(phoenixJs, 'application/javascript') },
      })
      t.teardown(() => proxy.close())
      const browser = await launch()
      t.teardown(() => browser.close())
      const errors: string[] = []
      const context = await browser.newContext()
      const alice = await context.newPage()
      const bob = await context.newPage()
      for (const p of [alice, bob]) p.on('pageerror', (e) => errors.push(e.message))

      // Alice, behind the proxy: a WebSocket first, refused, then long-poll.
      await alice.goto(`${proxy.url}/longpoll-chat.html`)
      t.equal(await alice.evaluate(() => typeof WebSocket), 'function', 'the page keeps WebSocket')
      await alice.evaluate(() => (window as any).chat.start('alice'))
      await alice.waitForFunction(() => (window as any).chat.state.joined !== null, null, { timeout: 15_000 })
      t.same(await alice.evaluate(() => (window as any).chat.state.joined), { room_id: 'lobby', message: 'Welcome to lobby!' }, 'alice joined')
      t.equal(await alice.evaluate(() => (window as any).chat.transport()), 'LongPoll', 'over long-poll')
      t.ok(proxy.refused >= 1, `the client tried a WebSocket first (${proxy.refused} upgrade refused)`)
      const log: string[] = await alice.evaluate(() => (window as any).chat.log)
      t.ok(log.some((line) => /falling back/.test(line)), 'its fallback ran: ' + log.filter((line) => /falling back/.test(line)).join(' | '))

      // Bob, on the example's own page: a WebSocket.
      await enterRoom(bob, ex.url, 'bob')
      await bob.waitForSelector('#chat-area', { state: 'visible' })
      await bob.waitForFunction(() => document.querySelectorAll('#users .user').length === 2)
      t.same((await bob.locator('#users .user').allTextContents()).sort(), ['alice', 'bob'], 'bob (WebSocket) sees alice')
      await alice.waitForFunction(() => (window as any).chat.state.users.length === 2)
      t.same(await alice.evaluate(() => (window as any).chat.state.users), ['alice', 'bob'], 'alice (long-poll) sees bob')

      await alice.evaluate(() => (window as any).chat.say('hello from long-poll'))
      await alice.waitForFunction(() => (window as any).chat.state.replies.length === 1)
      t.same(await alice.evaluate(() => (window as any).chat.state.replies), [['ok', { status: 'ok' }]], 'push and reply over long-poll')
      await bob.waitForFunction(() => [...document.querySelectorAll('#messages .message')].some((m) => m.textContent === 'alice: hello from long-poll'))
      await bob.fill('#message-input', 'hello from a WebSocket')
      await bob.press('#message-input', 'Enter')
      await alice.waitForFunction(() => (window as any).chat.state.messages.includes('bob: hello from a WebSocket'))
      t.same(await alice.evaluate(() => (window as any).chat.state.messages), ['bob: hello from a WebSocket'], 'broadcastFrom both ways, none echoed')
      t.equal((await messagesOf(bob)).filter((m) => m === 'alice: hello from long-poll').length, 1, 'bob got alice’s message once')

      await alice.evaluate(() => (window as any).chat.leave())
      await alice.waitForFunction(() => (window as any).chat.state.left === true)
      await bob.waitForFunction(() => document.querySelectorAll('#users .user').length === 1)
      t.same(await bob.locator('#users .user').allTextContents(), ['bob'], 'alice left bob’s list')
      await bob.waitForFunction(() => [...document.querySelectorAll('#messages .message')].some((m) => m.textContent === 'alice left'))
      t.same(errors, [], 'no page errors')
    })
  }
}
