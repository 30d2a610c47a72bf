/**
 * An HTTP-aware proxy for tests: every request goes to the port `pick()` names for it, over a
 * new upstream connection (`agent: false`: no reuse that would pin a client to a node), so a
 * long-poll client's requests spread over the nodes as a load balancer without sticky sessions
 * spreads them. Upgrades are passed through (TCP, to the port picked) or refused with 403, as a
 * proxy that does not carry WebSockets refuses them. `routes` answers some paths itself.
 */
import { createServer, request as upstream, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'

export interface HttpProxy {
  port: number
  url: string
  /** Requests sent to each port so far (upgrades not counted). */
  readonly counts: Map<number, number>
  /** Upgrades refused so far (`upgrades: 'refuse'`). */
  readonly refused: number
  close(): Promise<void>
}

export interface HttpProxyOptions {
  pick: (req: IncomingMessage) => number
  upgrades?: 'pass' | 'refuse'
  routes?: Record<string, (req: IncomingMessage, res: ServerResponse) => void>
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']

export async function startHttpProxy({ pick, upgrades = 'pass', routes = {} }: HttpProxyOptions): Promise<HttpProxy> {
  const counts = new Map<number, number>()
  let refused = 0
  const sockets = new Set<Socket>()
  const server: Server = createServer((req, res) => {
    const route = routes[(req.url ?? '/').split('?')[0]!]
    if (route) return route(req, res)
    const port = pick(req)
    counts.set(port, (counts.get(port) ?? 0) + 1)
    const headers = { ...req.headers }
    for (const name of HOP_BY_HOP) delete headers[name]
    if (req.headers['transfer-encoding'] !== undefined) headers['transfer-encoding'] = req.headers['transfer-encoding']
    const up = upstream({ host: '127.0.0.1', port, method: req.method, path: req.url, headers, agent: false }, (answer) => {
      const back = { ...answer.headers }
      for (const name of HOP_BY_HOP) delete back[name]
      res.writeHead(answer.statusCode ?? 502, back)
      answer.pipe(res)
    })
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end('bad gateway')
      else res.destroy()
    })
    // The client gave up (an aborted poll): so does the upstream request, as a real proxy's would.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy()
    })
    req.pipe(up)
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    if (upgrades === 'refuse') {
      refused++
      const body = 'websockets are not proxied'
      return void client.end(`HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    }
    const target = connect(pick(req), '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`, ...Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`), '', '']
      target.write(lines.join('\r\n'))
      target.write(head)
      client.pipe(target).pipe(client)
    })
    sockets.add(target)
    const end = () => {
      client.destroy()
      target.destroy()
    }
    client.on('error', end).on('close', end)
    target.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    counts,
    get refused() {
      return refused
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
