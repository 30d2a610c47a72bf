/**
 * The HTTP side of long-poll, on node:http's request and response (every adapter hands them
 * over): `<path>/longpoll` answers GET (open a session, or poll), POST (send a batch) and OPTIONS
 * (CORS preflight). Phoenix's protocol: the answer the phoenix client reads is the JSON body
 * `{status, token, messages}`, sent with HTTP 200, and its status is one the client handles
 * (200, 204, 403, 410, 500; it throws on any other). Requests no phoenix client sends (a body
 * that is not a batch, too large, another method) get a real HTTP status (400, 413, 405) and a
 * text body saying why.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { hostAllowed, originAllowed } from '../auth.js'
import type { ResolvedLongPoll } from '../options.js'
import type { Counters } from '../stats.js'
import type { Refusal, UpgradePolicy } from '../upgrade.js'
import { BadRequest, isBatch, readBody } from './body.js'
import type { Answer } from './relay.js'
import { isSessionToken, type SessionRef } from './token.js'

/** What the HTTP side needs of the transport (transport.ts). */
export interface LongPollService {
  readonly host: { readonly policy: UpgradePolicy; readonly settings: ResolvedLongPoll; readonly counters: Counters }
  readonly signer: { verify(token: string): SessionRef | undefined }
  open(req: IncomingMessage, request: unknown, owner: object | undefined): Promise<{ status: 410; token: string } | Refusal>
  poll(ref: SessionRef, done: (answer: Answer) => void): () => void
  send(ref: SessionRef, body: Buffer, batch: boolean): Promise<Answer>
}

/** Newer phoenix.js sends the session token in this header; older ones in the `token` query parameter. */
const TOKEN_HEADER = 'x-phoenix-longpoll-token'

export async function handleLongPoll(service: LongPollService, req: IncomingMessage, res: ServerResponse, request: unknown, owner: object | undefined): Promise<void> {
  const { policy, settings, counters } = service.host
  counters.longPollRequests++
  try {
    const url = new URL((req as { originalUrl?: string }).originalUrl ?? req.url ?? '/', 'http://localhost')
    const token = sessionToken(req, url)
    // Opening a session checks the host and origin with the rest (hub.endpoint.prepare).
    const opening = req.method === 'GET' && token === undefined
    if (!opening && !hostAllowed(policy.options.allowedHosts, req, policy.logger)) return json(res, { status: 403 }, true)
    if (!opening && !originAllowed(policy.options.checkOrigin, req, policy.logger)) return json(res, { status: 403 }, true)
    switch (req.method) {
      case 'OPTIONS':
        allowOrigin(req, res)
        return preflight(req, res)
      case 'GET': {
        if (opening) return opened(req, res, await service.open(req, request, owner))
        allowOrigin(req, res)
        const ref = service.signer.verify(token!)
        if (ref === undefined) return json(res, { status: 410 }, true)
        const cancel = service.poll(ref, (answer) => json(res, { status: answer.status, token: token!, messages: answer.messages ?? [] }, answer.status >= 410))
        // The client gave up (or closed the page) while the poll waited: it waits no more.
        if (!res.writableEnded) res.once('close', cancel)
        return
      }
      case 'POST': {
        allowOrigin(req, res)
        const ref = token === undefined ? undefined : service.signer.verify(token)
        if (ref === undefined) return json(res, { status: 410 }, true)
        const body = await readBody(req, settings.maxBodyBytes)
        const answer = await service.send(ref, body, isBatch(req.headers['content-type']))
        if (answer.status === 400 || answer.status === 413) return plain(res, answer.status, 'long-poll batch refused by the node holding the session')
        return json(res, { status: answer.status }, answer.status >= 410)
      }
      default:
        res.setHeader('allow', 'GET, POST, OPTIONS')
        return plain(res, 405, `${req.method} is not a long-poll method (GET polls, POST sends)`)
    }
  } catch (err) {
    if (err instanceof BadRequest) return plain(res, err.status, err.message)
    policy.logger.error({ err }, 'long-poll request failed')
    return json(res, { status: 500 }, true)
  }
}

/** The session token: the header, else the last `token` parameter shaped like one (an app's own `token` parameter is a connect param). */
function sessionToken(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers[TOKEN_HEADER]
  if (typeof header === 'string' && header !== '') return header
  const tokens = url.searchParams.getAll('token').filter(isSessionToken)
  return tokens[tokens.length - 1]
}

/** A new session is answered as Phoenix answers it: status 410 with its token. */
function opened(req: IncomingMessage, res: ServerResponse, result: { status: 410; token: string } | Refusal): void {
  if ('token' in result) {
    allowOrigin(req, res)
    return json(res, { status: 410, token: result.token, messages: [] })
  }
  // A version no phoenix client sends: a real 400. Refused (host, origin, connect hook): 403,
  // which the phoenix client takes as final. Busy or shutting down: 500, which it retries.
  if (result.status === 400) return plain(res, 400, result.message)
  return json(res, { status: result.status === 403 ? 403 : 500 }, true)
}

/** The Origin passed the hub's check: the browser may read the answer (and send our headers). */
function allowOrigin(req: IncomingMessage, res: ServerResponse): void {
  const origin = req.headers.origin
  if (origin !== undefined) res.setHeader('access-control-allow-origin', origin).setHeader('vary', 'Origin')
}

/** CORS preflight: the Origin passed the hub's check (else the answer was a 403 without CORS headers). */
function preflight(req: IncomingMessage, res: ServerResponse): void {
  const requested = req.headers['access-control-request-headers']
  if (requested) res.setHeader('access-control-allow-headers', requested)
  res.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS')
  res.setHeader('access-control-max-age', '3600')
  res.writeHead(204).end()
}

/**
 * The answer the phoenix client reads. `close`: the session is gone or refused, or the server
 * failed (a shutdown answers every waiting poll so): the client starts over on a new connection,
 * and a closing server is not held up by this one kept alive.
 */
function json(res: ServerResponse, body: { status: number; token?: string; messages?: string[] }, close = false): void {
  if (res.writableEnded || res.destroyed) return
  if (close) res.shouldKeepAlive = false
  const payload = JSON.stringify(body)
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    // One URL serves every poll of a session: nothing may be cached or shared.
    'cache-control': 'no-store',
  })
  res.end(payload)
}

function plain(res: ServerResponse, status: number, message: string): void {
  if (res.writableEnded || res.destroyed) return
  // A body too large to read is not read: the connection cannot be reused after it.
  if (status === 413) res.shouldKeepAlive = false
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(message), 'cache-control': 'no-store' })
  res.end(message)
}
