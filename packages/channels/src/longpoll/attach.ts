/**
 * Long-poll on a plain node:http(s) server (`hub.attach`): a request for `<path>/longpoll` goes to
 * the hub instead of the server's `request` listeners, whichever there are and whenever they were
 * added (`createServer(handler)`, or `server.on('request', app)` after attach). A server has one
 * answer per request, so a listener of our own beside the app's would answer twice: the server's
 * `emit` is wrapped, once per server, for every hub mounted on it, and restored when the last one
 * unmounts.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

type Handler = (req: IncomingMessage, res: ServerResponse) => void

interface Wrapped {
  routes: Map<string, Handler>
  emit: Server['emit']
  wrapper: Server['emit']
}

const wrapped = new WeakMap<Server, Wrapped>()

export function serveLongPollOn(server: Server, path: string, handle: Handler): () => void {
  let entry = wrapped.get(server)
  if (entry === undefined) {
    const routes = new Map<string, Handler>()
    const emit = server.emit
    const wrapper = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'request') {
        const req = args[0] as IncomingMessage
        const url = req.url ?? '/'
        const q = url.indexOf('?')
        const route = routes.get(q < 0 ? url : url.slice(0, q))
        if (route !== undefined) {
          route(req, args[1] as ServerResponse)
          return true
        }
      }
      return (emit as (event: string | symbol, ...args: unknown[]) => boolean).apply(this, [event, ...args])
    } as Server['emit']
    entry = { routes, emit, wrapper }
    wrapped.set(server, entry)
    server.emit = wrapper
  }
  const current = entry
  current.routes.set(path, handle)
  return () => {
    if (current.routes.get(path) !== handle) return
    current.routes.delete(path)
    if (current.routes.size > 0) return
    wrapped.delete(server)
    // Someone wrapped emit after us: leave the chain alone (the empty route table passes everything on).
    if (server.emit === current.wrapper) server.emit = current.emit
  }
}
