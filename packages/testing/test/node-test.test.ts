// The test kit's own tests under node:test, not only tap: it has no runner-specific code.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

t.test('the kit runs under node:test', async (t) => {
  const file = fileURLToPath(new URL('./fixtures/kit.node-test.mjs', import.meta.url))
  const child = spawn(process.execPath, ['--test', '--test-reporter=tap', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  const code = await new Promise((resolve) => child.on('exit', resolve))
  t.equal(code, 0, 'node --test passed')
  t.match(out, /# pass 2/, 'both node:test tests passed')
  t.match(out, /# fail 0/)
})
