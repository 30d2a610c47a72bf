/**
 * The body of a long-poll POST: read with a size limit, then split into the frames of a batch.
 * phoenix.js (1.7.x and later) sends up to 100 frames joined by newlines, as
 * `application/x-ndjson`; a text frame is a JSON array (or object, vsn 1), and a binary push is
 * its bytes in base64. Any other content type carries one frame, as older clients send it.
 */
import type { IncomingMessage } from 'node:http'
import { isUtf8 } from 'node:buffer'
import type { BatchEntry } from './session.js'

/** The most frames one POST may carry (phoenix.js sends at most 100; Phoenix reads 100). */
export const MAX_BATCH = 100

/** A request the client should never have sent: answered with a real HTTP status. */
export class BadRequest extends Error {
  constructor(
    readonly status: 400 | 413,
    message: string,
  ) {
    super(message)
  }
}

/**
 * Reads the body, at most `limit` bytes (413 past it, checked against Content-Length first).
 * A framework that read the body already (a body parser before ours) left it on `req.body`: a
 * string or Buffer is taken as it is, parsed JSON (a one-frame `application/json` body, as
 * older clients send) is serialized again.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const parsed = (req as { body?: unknown }).body
  if (typeof parsed === 'string' || Buffer.isBuffer(parsed)) return checked(Buffer.from(parsed), limit)
  if (req.readableEnded) {
    if (parsed !== null && typeof parsed === 'object') return checked(Buffer.from(JSON.stringify(parsed)), limit)
    return Promise.reject(new BadRequest(400, 'the request body was consumed before the long-poll handler could read it'))
  }
  const declared = Number(req.headers['content-length'])
  if (declared > limit) return Promise.reject(tooLarge(limit))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        cleanup()
        req.resume() // discard the rest; the response says why
        return reject(tooLarge(limit))
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resolve(Buffer.concat(chunks, size))
    }
    const onError = (err: Error) => {
      cleanup()
      reject(err)
    }
    const cleanup = () => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
  })
}

function checked(body: Buffer, limit: number): Promise<Buffer> {
  return body.length > limit ? Promise.reject(tooLarge(limit)) : Promise.resolve(body)
}

function tooLarge(limit: number): BadRequest {
  return new BadRequest(413, `long-poll body too large (longPoll.maxBodyBytes is ${limit} bytes)`)
}

/** Whether the body is a newline-delimited batch (phoenix.js's `application/x-ndjson`). */
export function isBatch(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'application/x-ndjson'
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * The frames of a body: each line of a batch (`\n` or `\r\n`), or the whole body (one text
 * frame). A line of a batch that
 * starts with `[` or `{` is a text frame (the connection decodes it and answers a bad one as it
 * answers a bad WebSocket frame); any other line must be base64, the bytes of a binary frame.
 * A body that is not UTF-8, empty, longer than MAX_BATCH frames or with a line that is neither is
 * refused whole (400), before any of it is handled.
 */
export function parseBatch(body: Buffer, batch: boolean): BatchEntry[] {
  if (!isUtf8(body)) throw new BadRequest(400, 'long-poll body is not UTF-8 text')
  const text = body.toString('utf8')
  const lines = batch ? text.split(/\r?\n/) : [text]
  // A trailing newline ends the last line; it does not start another.
  if (batch && lines.length > 1 && lines[lines.length - 1] === '') lines.pop()
  if (lines.length > MAX_BATCH) throw new BadRequest(400, `long-poll batch of ${lines.length} frames (at most ${MAX_BATCH})`)
  const entries: BatchEntry[] = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.trim() === '') throw new BadRequest(400, lines.length === 1 ? 'empty long-poll body' : `empty line ${i + 1} in the long-poll batch`)
    entries.push(!batch || textLike(line) ? { data: Buffer.from(line, 'utf8'), binary: false } : binaryLine(line, i))
  }
  return entries
}

function textLike(line: string): boolean {
  const first = line.trimStart()[0]
  return first === '[' || first === '{'
}

/** A binary push, as phoenix.js sends it over long-poll: its bytes in base64. */
function binaryLine(line: string, index: number): BatchEntry {
  if (line.length % 4 !== 0 || !BASE64.test(line)) {
    throw new BadRequest(400, `line ${index + 1} of the long-poll batch is neither a JSON frame nor base64`)
  }
  return { data: Buffer.from(line, 'base64'), binary: true }
}
