/**
 * Long-poll on a plain node:http(s) server (`hub.attach`): the server's `request` listeners are
 * taken into one dispatcher that hands `<path>/longpoll` to the hub and every other request to
 * them, as before (engine.io attaches the same way). A server has one answer per request, so a
 * second listener beside the app's would answer twice. Listeners added after `attach` are not
 * taken in: attach once the server has its handler (`createServer(handler)` has it at once).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

type RequestListener = (this: Server, req: IncomingMessage, res: ServerResponse) => void

export function serveLongPollOn(server: Server, path: string, handle: (req: IncomingMessage, res: ServerResponse) => void): () => void {
  const theirs = server.listeners('request') as RequestListener[]
  const dispatch: RequestListener = function (req, res) {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    if ((q < 0 ? url : url.slice(0, q)) === path) return handle(req, res)
    for (const listener of theirs) listener.call(this, req, res)
  }
  for (const listener of theirs) server.off('request', listener)
  server.on('request', dispatch)
  return () => {
    if (!server.listeners('request').includes(dispatch)) return
    server.off('request', dispatch)
    for (const listener of theirs) server.on('request', listener)
  }
}
