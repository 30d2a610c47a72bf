// Runs bench/presence.mjs's measurements in a process of their own and answers over IPC.
import { runPresenceBench } from '../presence.mjs'

process.on('message', async (msg) => {
  if (msg.op === 'run') {
    try {
      const result = await runPresenceBench({ quick: !!msg.quick })
      process.send({ id: msg.id, result: { status: 'ok', ...result } })
    } catch (err) {
      process.send({ id: msg.id, error: String(err?.stack ?? err) })
    }
  } else if (msg.op === 'exit') {
    process.send({ id: msg.id, result: {} })
    setImmediate(() => process.exit(0))
  }
})
process.on('disconnect', () => process.exit(0))
process.send({ type: 'ready', pid: process.pid })
