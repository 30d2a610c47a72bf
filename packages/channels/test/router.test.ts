import t from 'tap'
import fc from 'fast-check'
import { TopicRouter, compilePattern } from './fixtures/internals.js'

t.test('the seed table of topic patterns', async (t) => {
  const r = new TopicRouter<string>()
  r.add('room:lobby', 'exact')
  r.add('room:*', 'room')
  r.add('chat:*:*', 'chat')
  t.same(r.match('room:lobby'), { value: 'exact', pattern: 'room:lobby', params: {} })
  t.same(r.match('room:123'), { value: 'room', pattern: 'room:*', params: { room_id: '123' } })
  t.same(r.match('chat:team:general'), { value: 'chat', pattern: 'chat:*:*', params: { chat_id: 'team', channel_id: 'general' } })
  t.equal(r.match('room:a:b'), undefined, 'a wildcard takes one segment')
  t.equal(r.match('room:'), undefined, 'an empty segment matches nothing')
  t.equal(r.match('other'), undefined)
})

t.test('wildcard naming rule and named segments', async (t) => {
  t.same(compilePattern('user:*:post:*', 0).paramNames, ['user_id', 'post_id'])
  t.same(compilePattern('*:x', 0).paramNames, ['id'])
  t.same(compilePattern('a:*:*:*', 0).paramNames, ['a_id', 'channel_id', 'param3_id'])
  t.same(compilePattern('chat:{team}:{name}', 0).paramNames, ['team', 'name'])
  const r = new TopicRouter<number>()
  r.add('chat:{team}:{name}', 1)
  t.same(r.match('chat:core:random')?.params, { team: 'core', name: 'random' })
})

t.test('precedence: exact, then literals from the left, then registration order', async (t) => {
  const r = new TopicRouter<string>()
  r.add('a:*:*', 'wild')
  r.add('a:*:c', 'third-literal')
  r.add('a:b:*', 'second-literal')
  r.add('a:b:c', 'exact')
  r.add('a:{x}:{y}', 'named-later')
  t.equal(r.match('a:b:c')?.value, 'exact')
  t.equal(r.match('a:b:z')?.value, 'second-literal')
  t.equal(r.match('a:q:c')?.value, 'third-literal')
  t.equal(r.match('a:q:z')?.value, 'wild', 'first registered of equal specificity')
})

t.test('bad patterns are refused', async (t) => {
  const r = new TopicRouter<number>()
  t.throws(() => r.add('', 1), { name: 'PatternError' })
  t.throws(() => r.add('room::x', 1), { name: 'PatternError' })
  t.throws(() => r.add('room:ab*', 1), { name: 'PatternError' })
  t.throws(() => r.add('room:{1x}', 1), { name: 'PatternError' })
  t.throws(() => r.add('a:{x}:{x}', 1), { name: 'PatternError' })
  r.add('room:*', 1)
  t.throws(() => r.add('room:*', 2), { name: 'PatternError' }, 'duplicate')
})

t.test('property: a topic built from a pattern matches it and yields its segments', async (t) => {
  const segment = fc.stringMatching(/^[a-z0-9_-]{1,8}$/)
  const patternPart = fc.oneof(segment.map((s) => ({ lit: s })), fc.constant({ lit: undefined }))
  fc.assert(
    fc.property(fc.array(patternPart, { minLength: 1, maxLength: 5 }), fc.array(segment, { minLength: 5, maxLength: 5 }), (parts, values) => {
      const pattern = parts.map((p, i) => p.lit ?? `{p${i}}`).join(':')
      const topic = parts.map((p, i) => p.lit ?? values[i]).join(':')
      const r = new TopicRouter<number>()
      r.add(pattern, 7)
      const m = r.match(topic)
      if (!m || m.value !== 7) return false
      return parts.every((p, i) => p.lit !== undefined || m.params[`p${i}`] === values[i])
    }),
  )
})
