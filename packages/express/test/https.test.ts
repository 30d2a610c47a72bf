// mw.attach on an https server made by hand: the upgrade still runs through the app's middleware.
// The certificate is made with the openssl CLI at test time (CI installs it if missing).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express from 'express'
import WebSocket from 'ws'
import { channelsMiddleware } from '@hornbeam/express'
import { quietLogger } from '../../../test/helpers/wire.js'

function selfSigned(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'hb-express-tls-'))
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const tls = selfSigned()

t.test('https.createServer(options, app) + mw.attach(server)', async (t) => {
  const app = express()
  app.use((req, res, next) => (req.query.token === 'good' ? next() : res.status(401).end('no')))
  const mw = channelsMiddleware({ logger: quietLogger(), connect: (_params, req) => ({ secure: req.secure }) })
  app.use(mw)
  mw.channel('x').onJoin((_topic, _tp, _params, socket) => ['ok', socket.assigns])
  const server = createServer(tls, app)
  mw.attach(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  t.teardown(async () => {
    await mw.close()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })
  const open = (query: string) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws${query}`, { rejectUnauthorized: false })
    return new Promise<WebSocket>((resolve, reject) => {
      ws.once('open', () => resolve(ws))
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
      ws.once('error', reject)
    })
  }
  await t.rejects(open('?token=bad'), /HTTP 401/, 'the middleware before ours refused over TLS')
  const ws = await open('?token=good')
  ws.send(JSON.stringify(['1', '1', 'x', 'hb_join', {}]))
  const [reply] = await new Promise<any[]>((resolve) => ws.once('message', (d) => resolve([JSON.parse(d.toString())])))
  t.same(reply, ['1', '1', 'x', 'hb_reply', { status: 'ok', response: { secure: true } }], "joined; the hook saw Express's req.secure")
  const closed = new Promise((r) => ws.once('close', r))
  ws.close()
  await closed
})
