/**
 * The history's two Lua scripts. Each topic has a meta hash (`e` epoch, `s` last offset, `r` the
 * run id of the Redis instance that wrote it) and a stream whose entry ids are the offsets
 * (`<offset>-0`). Both keys share the topic as a hash tag, so they sit in one cluster slot.
 *
 * APPEND  KEYS: meta, stream. ARGV: 1 a new epoch, 2 run id, 3 entry (JSON), 4 maxlen,
 *         5 stream ttl ms, 6 meta ttl ms, 7 channel, 8 message head, 9 message tail,
 *         10 PUBLISH, or SPUBLISH on a cluster (the channel has the keys' hash tag: same slot).
 *   The epoch changes when the meta is gone (Redis lost it) or was written by another instance
 *   (a restart or a failover: its counter may have gone back), and the stream of the old epoch
 *   goes with it. Then: the next offset, the entry appended, and the message published with its
 *   position (`head .. position .. tail`), all in one step, so every subscriber of the channel
 *   receives the topic's messages in offset order. Returns the position.
 *
 * READ    KEYS: meta, stream. ARGV: 1 a new epoch, 2 run id, 3 after (offset, exclusive),
 *         4 count, 5 meta ttl ms, 6 '1' for the newest `count` entries instead.
 *   Returns { epoch, top offset, entries }. A topic that never had a message gets its epoch here,
 *   so that a client's first position (taken at its join) stays valid until something changes.
 */

export const APPEND = `
local meta = redis.call('HMGET', KEYS[1], 'e', 'r')
local epoch = meta[1]
if (not epoch) or (meta[2] ~= ARGV[2]) then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch, 'r', ARGV[2])
  redis.call('DEL', KEYS[2])
end
local offset = redis.call('HINCRBY', KEYS[1], 's', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], offset .. '-0', 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local position = epoch .. ':' .. offset
redis.call(ARGV[10], ARGV[7], ARGV[8] .. position .. ARGV[9])
return position
`

export const READ = `
local meta = redis.call('HMGET', KEYS[1], 'e', 's')
local epoch = meta[1]
local top = tonumber(meta[2] or '0')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch, 'r', ARGV[2])
  redis.call('DEL', KEYS[2])
  top = 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local entries
if ARGV[6] == '1' then
  entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[4])
else
  entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[3] .. '-0', '+', 'COUNT', ARGV[4])
end
return {epoch, top, entries}
`
