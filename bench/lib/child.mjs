// Forked child processes (servers and load generators) driven by request/response over IPC.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const benchDir = fileURLToPath(new URL('../', import.meta.url))

export class Child {
  /**
   * @param {string} script file name under bench/
   * @param {string[]} args
   * @param {{ execArgv?: string[], name?: string, env?: object }} options
   */
  constructor(script, args = [], options = {}) {
    this.name = options.name ?? script
    this.seq = 0
    this.waiting = new Map()
    this.listeners = new Set()
    this.stderr = ''
    this.proc = fork(`${benchDir}${script}`, args, {
      execArgv: options.execArgv ?? [],
      env: { ...process.env, ...(options.env ?? {}) },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      serialization: 'advanced',
    })
    this.pid = this.proc.pid
    this.proc.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-8000)
      if (process.env.BENCH_DEBUG) process.stderr.write(`[${this.name}] ${d}`)
    })
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })))
    this.exited.then(({ code, signal }) => {
      this.gone = true
      for (const [, w] of this.waiting) {
        clearTimeout(w.timer)
        w.reject(new Error(`${this.name} exited (${code ?? signal}) ${this.stderr.slice(-2000)}`))
      }
      this.waiting.clear()
    })
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (m) => {
        if (m?.type === 'ready') resolve(m)
        else if (m?.type === 'error') reject(Object.assign(new Error(m.message), { missing: m.missing }))
      }
      this.proc.on('message', onMessage)
      this.exited.then(({ code, signal }) => reject(new Error(`${this.name} exited before it was ready (${code ?? signal}): ${this.stderr.slice(-2000)}`)))
    })
    this.ready.catch(() => {})
    this.proc.on('message', (m) => {
      if (m?.id !== undefined) {
        const w = this.waiting.get(m.id)
        if (!w) return
        this.waiting.delete(m.id)
        clearTimeout(w.timer)
        if (m.error) w.reject(new Error(`${this.name}: ${m.error}`))
        else w.resolve(m.result)
      } else {
        for (const l of this.listeners) l(m)
      }
    })
  }

  onReport(fn) {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /** Sends a request and waits for its answer (rejects after `timeoutMs`). */
  request(op, args = {}, timeoutMs = 120_000) {
    if (this.gone) return Promise.reject(new Error(`${this.name} is gone`))
    const id = ++this.seq
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new Error(`${this.name}: ${op} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiting.set(id, { resolve, reject, timer })
      this.proc.send({ id, op, ...args })
    })
  }

  /** Sends a message without waiting for an answer. */
  post(op, args = {}) {
    if (!this.gone) this.proc.send({ op, ...args })
  }

  /** Asks the child to exit, then kills it if it has not within `graceMs`. */
  async stop(graceMs = 5000) {
    if (this.gone) return this.exited
    this.request('exit', {}, graceMs).catch(() => {})
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs)
    const r = await this.exited
    clearTimeout(t)
    return r
  }

  kill(signal = 'SIGKILL') {
    if (!this.gone) this.proc.kill(signal)
    return this.exited
  }
}

/**
 * The child's side of `Child.request`: for each `{ id, op, ... }` it runs `ops[op](msg)` and
 * answers `{ id, result }` or `{ id, error }` (nothing for a message without an id).
 */
export function serveRequests(ops) {
  const send = (m) => process.connected && process.send(m)
  process.on('message', async (msg) => {
    const op = ops[msg?.op]
    if (!op) return send({ id: msg?.id, error: `unknown op ${msg?.op}` })
    try {
      const result = await op(msg)
      if (msg.id !== undefined) send({ id: msg.id, result })
    } catch (err) {
      if (msg.id !== undefined) send({ id: msg.id, error: err?.stack ?? String(err) })
    }
  })
}
