// Every core of a machine: node:cluster workers on one port, one chat over Redis. The fixture's
// whoami channel tells each client which worker holds its socket, so the test can put two users
// on different workers, chat across them, and see the primary replace a crashed worker and stop
// them all on SIGTERM. Then the chat examples started with WORKERS, as their READMEs say.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { root, startExample } from './helpers/examples.js'
import { RawClient, eventually } from './helpers/wire.js'

// Never skipped: `npm test` starts a redis-server for the run and sets REDIS_URL.
const REDIS_URL = process.env.REDIS_URL
if (!REDIS_URL) throw new Error('REDIS_URL is not set: run the tests with `npm test`, which starts a redis-server for the run')

interface Primary {
  child: ChildProcess
  output: () => string
  /** Resolves with the first match of `pattern` in the output from `from` on. */
  waitFor: (pattern: RegExp, what: string, from?: number, timeoutMs?: number) => Promise<RegExpExecArray>
  exited: Promise<number | null>
}

/** The fixture's primary, its workers forked; killed with them (by pid) at teardown if still alive. */
function startPrimary(t: Tap.Test, workers: number): Primary {
  const { REDIS_URL: _r, ...env } = process.env
  const child = spawn(process.execPath, [join(root, 'test/fixtures/cluster-workers.mjs')], {
    cwd: root,
    env: { ...env, REDIS_URL, KEY_PREFIX: `hornbeam-workers-${randomBytes(4).toString('hex')}:`, WORKERS: String(workers) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const waiters = new Set<() => void>()
  const append = (d: Buffer) => {
    out += d
    for (const wake of waiters) wake()
  }
  child.stdout!.on('data', append)
  child.stderr!.on('data', append)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (resolve(code), waiters.forEach((w) => w()))))
  t.teardown(() => {
    // Whatever the test did, no process of it is left: the workers first, by the pids the primary logged.
    for (const [, pid] of out.matchAll(/\(pid (\d+)\) started/g)) {
      try {
        process.kill(Number(pid), 'SIGKILL')
      } catch {}
    }
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const waitFor = (pattern: RegExp, what: string, from = 0, timeoutMs = 15_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(out.slice(from))
        if (m) return done(() => resolve(m))
        if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`the primary exited before ${what}:\n${out}`)))
      }
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${what}:\n${out}`))), timeoutMs)
      const done = (settle: () => void) => (clearTimeout(timer), waiters.delete(check), settle())
      waiters.add(check)
      check()
    })
  return { child, output: () => out, waitFor, exited }
}

/** A client on a new socket, and the worker that socket landed on (the whoami join reply). */
async function connect(t: Tap.Test, url: string): Promise<{ client: RawClient; worker: number; pid: number }> {
  const client = await RawClient.connect(url)
  t.teardown(() => client.close())
  const { status, response } = await client.join('whoami')
  if (status !== 'ok') throw new Error(`whoami: ${JSON.stringify(response)}`)
  return { client, worker: response.worker, pid: response.pid }
}

/** New sockets until one lands on a worker other than `not` (round robin: the next one, but bounded). */
async function connectElsewhere(t: Tap.Test, url: string, not: number, tries = 20) {
  for (let i = 0; i < tries; i++) {
    const next = await connect(t, url)
    if (next.worker !== not) return next
    await next.client.close()
  }
  throw new Error(`${tries} sockets in a row landed on worker ${not}`)
}

t.test('two node:cluster workers on one port, one chat over Redis: users on different workers see each other', async (t) => {
  const primary = startPrimary(t, 2)
  const [, port] = await primary.waitFor(/worker \d+ listening on http:\/\/127\.0\.0\.1:(\d+)/, 'a worker listening')
  await primary.waitFor(/listening[\s\S]*listening/, 'both workers listening')
  const ports = [...primary.output().matchAll(/listening on http:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => m[1])
  t.same(ports, [port, port], 'both workers listen on the one port (listen(0) in a worker: one port for all)')
  const url = `ws://127.0.0.1:${port}/ws/websocket`

  const alice = await connect(t, url)
  const bob = await connectElsewhere(t, url, alice.worker)
  t.not(bob.worker, alice.worker, `alice is on worker ${alice.worker}, bob on worker ${bob.worker}`)
  t.not(bob.pid, alice.pid, 'two processes')

  const room = `room:w${Date.now()}`
  const a = await alice.client.join(room, { username: 'alice' })
  t.equal(a.status, 'ok')
  const b = await bob.client.join(room, { username: 'bob' })
  t.equal(b.status, 'ok')
  const sees = (key: string) => (f: any[]) =>
    f[2] === room && ((f[3] === 'presence_state' && key in f[4]) || (f[3] === 'presence_diff' && key in f[4].joins))
  await alice.client.waitFor(sees('user:bob'), 5000, "bob's presence, from the other worker")
  await bob.client.waitFor(sees('user:alice'), 5000, "alice's presence, from the other worker")

  t.same(await bob.client.push(b.joinRef, room, 'new_msg', { body: 'hello from the other core' }), { status: 'ok', response: { status: 'ok' } })
  t.same((await alice.client.waitFor((f) => f[2] === room && f[3] === 'new_msg', 5000))[4], { username: 'bob', body: 'hello from the other core' })
  await alice.client.push(a.joinRef, room, 'new_msg', { body: 'and back' })
  t.same((await bob.client.waitFor((f) => f[2] === room && f[3] === 'new_msg', 5000))[4], { username: 'alice', body: 'and back' })

  // A worker that crashes is replaced, on the same port; the other worker's users are not touched.
  const mark = primary.output().length
  process.kill(bob.pid, 'SIGKILL')
  await primary.waitFor(new RegExp(`worker ${bob.worker} exited \\(signal SIGKILL\\): starting another`), 'the crash logged', mark)
  const [, replacement] = await primary.waitFor(/worker (\d+) listening on/, 'the new worker listening', mark)
  t.equal((await bob.client.waitForClose()).code, 1006, "bob's socket died with its worker")
  const carol = await connectElsewhere(t, url, alice.worker)
  t.equal(carol.worker, Number(replacement), `a new socket lands on the new worker ${replacement}`)
  const c = await carol.client.join(room, { username: 'carol' })
  await alice.client.waitFor(sees('user:carol'), 5000, "carol's presence, from the new worker")
  await carol.client.push(c.joinRef, room, 'new_msg', { body: 'new worker here' })
  t.same((await alice.client.waitFor((f) => f[3] === 'new_msg' && f[4].username === 'carol', 5000))[4], { username: 'carol', body: 'new worker here' })

  // SIGTERM to the primary: every worker closes its sockets with 1012, then all exit.
  primary.child.kill('SIGTERM')
  t.same(await Promise.all([alice.client.waitForClose(10_000), carol.client.waitForClose(10_000)]).then((cs) => cs.map((c) => c.code)), [1012, 1012])
  t.equal(await primary.exited, 0, 'the primary exits 0 once its workers have')
  t.match(primary.output(), /SIGTERM: stopping 2 workers/)
  t.equal([...primary.output().matchAll(/worker \d+ exited \(code 0\)/g)].length, 2, 'both workers exited cleanly')
})

for (const name of ['chat-fastify', 'chat-express']) {
  t.test(`${name} with WORKERS=2 and REDIS_URL: two workers on one port, one chat; SIGTERM stops them`, async (t) => {
    const ex = await startExample(name, { WORKERS: '2', REDIS_URL: REDIS_URL! })
    t.teardown(ex.stop)
    await eventually(() => (ex.output().match(/chat listening on/g) ?? []).length === 2, 15_000, 'both workers listening')
    t.equal((ex.output().match(/worker \d \(pid \d+\) started/g) ?? []).length, 2, 'the primary forked two workers')
    const ws = ex.url.replace('http', 'ws') + '/ws/websocket'
    const room = `room:x${Date.now()}`
    const alice = await RawClient.connect(ws)
    const bob = await RawClient.connect(ws)
    t.teardown(() => Promise.all([alice.close(), bob.close()]))
    await alice.join(room, { username: 'alice' })
    const b = await bob.join(room, { username: 'bob' })
    await alice.waitFor((f) => f[3] === 'presence_diff' && 'user:bob' in f[4].joins, 5000)
    await bob.push(b.joinRef, room, 'new_msg', { body: 'hi' })
    t.same((await alice.waitFor((f) => f[3] === 'new_msg', 5000))[4], { username: 'bob', body: 'hi' })
    const exited = new Promise<number | null>((resolve) => ex.child.once('exit', resolve))
    ex.child.kill('SIGTERM')
    t.same([(await alice.waitForClose(10_000)).code, (await bob.waitForClose(10_000)).code], [1012, 1012])
    t.equal(await exited, 0)
  })

  t.test(`${name} with WORKERS=2 and no REDIS_URL: one line, exit 1`, async (t) => {
    await t.rejects(startExample(name, { WORKERS: '2' }), /exited with 1: WORKERS=2 needs REDIS_URL: workers share channels and presence through Redis/)
  })
}
