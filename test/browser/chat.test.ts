// The seed's chat in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core),
// against each chat example started as its README says.
import t from 'tap'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { enterRoom, launch } from '../helpers/browser.js'
import { root, startExample } from '../helpers/examples.js'

const outputDir = join(root, 'test-output', 'browser')


const users = (page: Page) => page.locator('#users .user').allTextContents()
const messages = (page: Page) => page.locator('#messages .message').allTextContents()

const examples: Array<[name: string, env: Record<string, string>]> = [
  ['chat-fastify', {}],
  ['chat-express', {}],
  ['chat-koa', {}],
  ['chat-hono', {}],
  ['chat-nest', {}],
  ['chat-nest', { PLATFORM: 'fastify' }],
]

for (const [name, env] of examples) {
  const label = env.PLATFORM ? `${name}-${env.PLATFORM}` : name
  t.test(`${label} in Chromium: two users chat`, async (t) => {
    const ex = await startExample(name, env)
    t.teardown(ex.stop)
    const browser = await launch()
    t.teardown(() => browser.close())
    const errors: string[] = []
    const context = await browser.newContext()
    const alice = await context.newPage()
    const bob = await context.newPage()
    for (const p of [alice, bob]) p.on('pageerror', (e) => errors.push(e.message))

    await enterRoom(alice, ex.url, 'alice')
    await alice.waitForSelector('#chat-area', { state: 'visible' })
    await enterRoom(bob, ex.url, 'bob')
    await bob.waitForSelector('#chat-area', { state: 'visible' })

    // Each sees the other in the online list.
    await alice.waitForFunction(() => document.querySelectorAll('#users .user').length === 2)
    await bob.waitForFunction(() => document.querySelectorAll('#users .user').length === 2)
    t.same((await users(alice)).sort(), ['alice', 'bob'], 'alice sees both')
    t.same((await users(bob)).sort(), ['alice', 'bob'], 'bob sees both')

    // Messages both ways, once on each side.
    await alice.fill('#message-input', 'hello bob')
    await alice.press('#message-input', 'Enter')
    await bob.waitForFunction(() => [...document.querySelectorAll('#messages .message')].some((m) => m.textContent === 'alice: hello bob'))
    await bob.fill('#message-input', 'hi alice')
    await bob.press('#message-input', 'Enter')
    await alice.waitForFunction(() => [...document.querySelectorAll('#messages .message')].some((m) => m.textContent === 'bob: hi alice'))
    for (const [who, page] of [['alice', alice], ['bob', bob]] as const) {
      const list = await messages(page)
      t.equal(list.filter((m) => m === 'alice: hello bob').length, 1, `${who}: alice's message once`)
      t.equal(list.filter((m) => m === 'bob: hi alice').length, 1, `${who}: bob's message once`)
    }

    // The typing indicator appears and clears.
    await alice.type('#message-input', 'typ')
    await bob.waitForFunction(() => document.getElementById('typing-indicator')!.textContent === 'alice is typing...')
    t.pass('bob sees alice typing')
    await bob.waitForFunction(() => document.getElementById('typing-indicator')!.textContent === '', null, { timeout: 5000 })
    t.pass('the indicator clears when alice stops')

    mkdirSync(outputDir, { recursive: true })
    const shot = join(outputDir, `${label}-two-users.png`)
    await alice.screenshot({ path: shot, fullPage: true })
    t.pass(`screenshot: ${shot}`)

    // Closing one page removes that user from the other's list.
    await bob.close()
    await alice.waitForFunction(() => document.querySelectorAll('#users .user').length === 1, null, { timeout: 10_000 })
    t.same(await users(alice), ['alice'], 'bob left alice’s list')
    await alice.waitForFunction(() => [...document.querySelectorAll('#messages .message')].some((m) => m.textContent === 'bob left'))
    t.pass('alice saw "bob left"')

    // A page joining without a username shows the server's refusal.
    const anon = await context.newPage()
    await enterRoom(anon, ex.url, '')
    await anon.waitForFunction(() => document.getElementById('error')!.textContent !== '')
    t.equal(await anon.textContent('#error'), 'Failed to join: username required')
    t.same(errors, [], 'no page errors')
  })
}

t.test('chat-fastify in Chromium: Enter joins, the welcome shows, leave and rejoin start afresh, a quiet console', async (t) => {
  const ex = await startExample('chat-fastify')
  t.teardown(ex.stop)
  const browser = await launch()
  t.teardown(() => browser.close())
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } })
  const alice = await context.newPage()
  const bob = await context.newPage()
  const console: string[] = []
  const missing: string[] = []
  for (const page of [alice, bob]) {
    page.on('console', (m) => console.push(`${m.type()}: ${m.text()}`))
    page.on('response', (r) => void (r.status() >= 400 && missing.push(`${r.status()} ${r.url()}`)))
  }
  mkdirSync(outputDir, { recursive: true })

  await alice.goto(ex.url)
  await alice.screenshot({ path: join(outputDir, 'chat-before-joining.png') })
  await alice.fill('#username', 'alice')
  await alice.press('#username', 'Enter')
  await alice.waitForSelector('#chat-area', { state: 'visible' })
  t.pass('Enter in the name field joins')
  await alice.waitForFunction(() => [...document.querySelectorAll('#messages .message')].some((m) => m.textContent === 'Welcome to lobby!'))
  t.pass("the server's welcome message is shown")

  await bob.goto(ex.url)
  await bob.fill('#username', 'bob')
  await bob.press('#room', 'Enter')
  await bob.waitForSelector('#chat-area', { state: 'visible' })
  await alice.waitForFunction(() => [...document.querySelectorAll('#messages .message')].some((m) => m.textContent === 'bob joined'))
  await alice.fill('#message-input', 'hello bob')
  await alice.press('#message-input', 'Enter')
  await bob.waitForFunction(() => [...document.querySelectorAll('#messages .message')].some((m) => m.textContent === 'alice: hello bob'))
  await alice.screenshot({ path: join(outputDir, 'chat-two-users.png') })

  // Leave clears the room; joining again starts from a fresh transcript, and those already there
  // are listed, not announced again.
  await bob.click('text=Leave')
  await bob.waitForSelector('#join-form', { state: 'visible' })
  t.same(await messages(bob), [], 'leave clears the transcript')
  t.same(await users(bob), [], 'and the online list')
  await bob.press('#username', 'Enter')
  await bob.waitForFunction(() => document.querySelectorAll('#users .user').length === 2)
  await bob.waitForFunction(() => document.querySelectorAll('#messages .message').length >= 2)
  const after = await messages(bob)
  t.same(after.filter((m) => m.endsWith(' joined')), [], 'nobody already there is announced as joining')
  t.same(after.slice(0, 1), ['Welcome to lobby!'], 'a fresh transcript, starting with the welcome')
  t.equal(after.filter((m) => m === 'Welcome to lobby!').length, 1)
  await bob.screenshot({ path: join(outputDir, 'chat-after-leave-and-rejoin.png') })

  t.same(console, [], 'nothing logged to the console by default')
  t.same(missing, [], 'no request failed (the favicon included)')

  // The client's frame log is one URL flag away.
  const debug = await context.newPage()
  const logged: string[] = []
  debug.on('console', (m) => logged.push(m.text()))
  await debug.goto(ex.url + '/?debug')
  await debug.fill('#username', 'carol')
  await debug.press('#username', 'Enter')
  await debug.waitForSelector('#chat-area', { state: 'visible' })
  t.ok(logged.some((line) => line.startsWith('transport: connected')), '?debug logs the client\'s frames')
})
