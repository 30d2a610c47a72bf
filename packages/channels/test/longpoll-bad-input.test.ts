// Bad long-poll input, each case on its own: the offender gets a clear answer (a real 400, 413
// or 405 with a reason for what no phoenix client sends, 410 for a session token that is not a
// live session of ours), nothing of a refused batch is handled, and a bystander long-poll
// session and a WebSocket client keep working.
import t from 'tap'
import { createHmac } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { RawClient, eventually, startServer } from '../../../test/helpers/wire.js'
import { LongPollClient, request, type Answer } from '../../../test/helpers/longpoll.js'

const SECRET = 'test secret, shared by nothing else'

async function setup(t: Tap.Test) {
  const srv = await startServer({ maxPayload: 4096, longPoll: { secret: SECRET, pollTimeoutMs: 500, sessionTimeoutMs: 1000, maxBodyBytes: 2048 } })
  t.teardown(srv.close)
  srv.hub.channel('room:*').on('echo', (p, s) => ['reply', p, s])
  const endpoint = `http://127.0.0.1:${srv.port}/ws/longpoll`
  const bystander = await LongPollClient.open(endpoint)
  bystander.start()
  t.teardown(() => bystander.stop())
  const b = await bystander.join('room:lobby')
  const ws = await RawClient.connect(srv.url() + '?vsn=2.0.0', 'phoenix')
  t.teardown(() => ws.close())
  const w = await ws.join('room:lobby')
  const offender = await LongPollClient.open(endpoint)
  offender.start()
  t.teardown(() => offender.stop())
  const o = await offender.join('room:lobby')
  return { srv, endpoint, bystander, bJoin: b.joinRef, ws, wJoin: w.joinRef, offender, oJoin: o.joinRef }
}

type Setup = Awaited<ReturnType<typeof setup>>

/** The bystander session and the WebSocket client still push, get replies and receive broadcasts. */
async function othersUntouched(t: Tap.Test, { srv, bystander, bJoin, ws, wJoin }: Setup) {
  t.same(await bystander.request(bJoin, 'room:lobby', 'echo', { still: 'here' }), { status: 'ok', response: { still: 'here' } }, 'the other long-poll session still works')
  t.same(await ws.request(wJoin, 'room:lobby', 'echo', { ws: 1 }), { status: 'ok', response: { ws: 1 } }, 'the WebSocket client still works')
  const marker = Math.random()
  void srv.hub.broadcast('room:lobby', 'after', { marker })
  await bystander.waitFor((f) => f[3] === 'after' && f[4].marker === marker)
  await ws.waitFor((f) => f[3] === 'after' && f[4].marker === marker)
  t.pass('both still receive broadcasts')
}

/** A positive sync point: the offender's heartbeat reply. Frames of one session are handled in order. */
async function probe(offender: LongPollClient) {
  return offender.request(null, 'phoenix', 'heartbeat')
}

function post(s: Setup, body: string | Buffer, contentType = 'application/x-ndjson', token = s.offender.token): Promise<Answer> {
  return request(s.offender.url(token), { method: 'POST', headers: { 'content-type': contentType }, body })
}

const malformed: Array<[string, string | Buffer, RegExp]> = [
  ['a line that is neither a JSON frame nor base64', 'this is not a frame!', /line 1 of the long-poll batch is neither a JSON frame nor base64/],
  ['an empty body', '', /empty long-poll body/],
  ['an empty line inside a batch', '["1","9","room:lobby","echo",{}]\n\n["1","10","room:lobby","echo",{}]', /empty line 2/],
  ['more than 100 frames', ['["1","99","room:lobby","echo",{}]', ...Array.from({ length: 100 }, () => '[]')].join('\n'), /batch of 101 frames \(at most 100\)/],
  ['bytes that are not UTF-8', Buffer.from([0x5b, 0xff, 0xfe, 0x5d]), /not UTF-8/],
  ['a good frame, then a bad line', '["1","99","room:lobby","echo",{"handled":true}]\n%%%', /line 2 of the long-poll batch/],
]

for (const [name, body, reason] of malformed) {
  t.test(`malformed body: ${name} → 400, nothing of it handled`, async (t) => {
    const s = await setup(t)
    const answer = await post(s, body)
    t.equal(answer.http, 400)
    t.match(answer.text, reason, 'the body says why')
    await probe(s.offender)
    t.notOk(s.offender.frames.some((f) => f[1] === '99'), 'the good frame of the refused batch was not handled')
    t.notOk(s.offender.gone, 'the offender’s session lives on')
    await othersUntouched(t, s)
  })
}

t.test('malformed frames inside a well-formed batch are handled as on a WebSocket: counted and dropped, or answered', async (t) => {
  const s = await setup(t)
  const before = s.srv.hub.stats().malformed
  const answer = await post(s, '[not json\n["1","7","room:lobby","echo"]\n{"topic": 3}')
  t.same([answer.http, answer.status], [200, 200])
  const reply = await s.offender.waitFor((f) => f[1] === '7')
  t.same(reply[4], { status: 'error', response: { reason: 'frame must have 5 elements: [join_ref, ref, topic, event, payload]' } }, 'an addressable bad frame gets an error reply')
  await probe(s.offender)
  t.equal(s.srv.hub.stats().malformed, before + 3, 'all three counted as malformed')
  await othersUntouched(t, s)
})

t.test('a base64 line is a binary frame, handled as a binary WebSocket frame is: a kind no client sends is dropped and counted', async (t) => {
  const s = await setup(t)
  const before = s.srv.hub.stats().malformed
  // Kind 1 is a reply: servers send those, clients never do.
  const answer = await post(s, Buffer.from([1, 2, 3, 4]).toString('base64'))
  t.same([answer.http, answer.status], [200, 200], 'the batch was taken')
  await probe(s.offender)
  t.equal(s.srv.hub.stats().malformed, before + 1, 'the frame was counted as malformed')
  t.same(await s.offender.request(s.oJoin, 'room:lobby', 'echo', { lives: 'on' }), { status: 'ok', response: { lives: 'on' } }, 'the session lives on')
  await othersUntouched(t, s)
})

t.test('oversized bodies get 413, with Content-Length and without', async (t) => {
  const s = await setup(t)
  const big = `["1","50","room:lobby","echo",{"pad":"${'x'.repeat(3000)}"}]`
  const declared = await post(s, big)
  t.equal(declared.http, 413)
  t.match(declared.text, /longPoll\.maxBodyBytes is 2048 bytes/)
  // Chunked, no Content-Length: cut off once past the limit.
  const chunked = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpRequest(s.offender.url(), { method: 'POST', headers: { 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' } }, (res) => {
      let text = ''
      res.on('data', (d) => (text += d)).on('end', () => resolve({ status: res.statusCode!, text }))
    })
    req.on('error', reject)
    for (let i = 0; i < 6; i++) req.write('x'.repeat(500))
    req.end()
  })
  t.equal(chunked.status, 413)
  await probe(s.offender)
  t.notOk(s.offender.frames.some((f) => f[1] === '50'), 'nothing of it handled')
  await othersUntouched(t, s)
})

function signed(node: string, session: string): string {
  const body = `hblp1.${node}.${session}`
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`
}

t.test('session tokens: unknown, expired, forged and altered ones get 410, on polls and sends', async (t) => {
  const s = await setup(t)
  const [, node, session, signature] = s.offender.token.split('.') as [string, string, string, string]
  // The bystander's session id in the offender's token: a live session, a signature that is not its.
  const otherSession = s.bystander.token.split('.')[2]!
  const tokens: Array<[string, string]> = [
    ['unknown (well signed, no such session)', signed(node, 'AAAAAAAAAAAAAAAAAAAAAA')],
    ['forged (signed with another key)', `hblp1.${node}.${session}.${createHmac('sha256', 'guess').update('x').digest('base64url')}`],
    ['altered (another live session’s id, this signature)', `hblp1.${node}.${otherSession}.${signature}`],
  ]
  for (const [what, token] of tokens) {
    const polled = await request(s.offender.url(token))
    t.same([polled.http, polled.status], [200, 410], `${what}: poll gets 410`)
    const sent = await post(s, '["1","5","room:lobby","echo",{}]', 'application/x-ndjson', token)
    t.same([sent.http, sent.status], [200, 410], `${what}: send gets 410`)
  }
  const noToken = await request(s.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: '["1","5","room:lobby","echo",{}]' })
  t.same([noToken.http, noToken.status], [200, 410], 'a send without a token: 410')

  // Expired: a session whose client stopped polling (here: never polled) is closed after
  // sessionTimeoutMs; its token is refused afterwards.
  const quitter = await LongPollClient.open(s.endpoint)
  t.equal(s.srv.hub.stats().longPollSessions, 3)
  await eventually(() => s.srv.hub.stats().longPollSessions === 2, 5000, 'the quitter’s session expired')
  const expired = await quitter.poll()
  t.same([expired.http, expired.status], [200, 410], 'expired: 410')
  await probe(s.offender)
  await othersUntouched(t, s)
})

t.test('methods other than GET, POST and OPTIONS get 405 with Allow', async (t) => {
  const s = await setup(t)
  for (const method of ['PUT', 'DELETE', 'PATCH']) {
    const answer = await request(s.offender.url(), { method, body: method === 'DELETE' ? null : '[]' })
    t.equal(answer.http, 405, method)
    t.equal(answer.headers.get('allow'), 'GET, POST, OPTIONS')
    t.match(answer.text, new RegExp(`${method} is not a long-poll method`))
  }
  await othersUntouched(t, s)
})

