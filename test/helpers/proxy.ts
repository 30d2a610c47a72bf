/**
 * A TCP proxy for tests: each connection goes to the port `pick()` names at that moment (a node
 * chosen at random, the next one, the one still alive), so a client with one URL reconnects to
 * whichever node the test wants. `cutAll()` destroys every proxied connection: a network drop.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export interface Proxy {
  port: number
  /** Connections made through it so far, per target port. */
  readonly counts: Map<number, number>
  cutAll(): void
  close(): Promise<void>
}

export async function startProxy(pick: () => number): Promise<Proxy> {
  const live = new Set<Socket>()
  const counts = new Map<number, number>()
  const server: Server = createServer((client) => {
    const port = pick()
    counts.set(port, (counts.get(port) ?? 0) + 1)
    const upstream = connect(port, '127.0.0.1')
    live.add(client).add(upstream)
    const end = () => {
      client.destroy()
      upstream.destroy()
      live.delete(client)
      live.delete(upstream)
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    cutAll: () => {
      for (const socket of live) socket.destroy()
      live.clear()
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of live) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
