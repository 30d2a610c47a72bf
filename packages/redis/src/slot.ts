/**
 * Redis Cluster key slots, and the hash tag that puts a topic's channel, stream and counter in
 * one slot.
 *
 * Redis hashes only the part of a name between its first `{` and the first `}` after it (the
 * hash tag), when that part is not empty. In cluster mode a topic's names are
 * `<prefix>topic:{<topic>}` (its sharded channel) and `<prefix>history:{<topic>}` (+ `:meta`),
 * so all three hash to the topic's slot. A topic that itself contains `{` or `}` would end the tag
 * early (or start one of its own), so such a topic is tagged by a digest instead:
 * `<prefix>topic:{#<sha1 of the topic, 16 hex>}:<topic>`. Names stay unique (the digest form
 * always has `}:` after the tag, the plain form ends with its only `}`) and the slot is still
 * one per topic. The prefix must not contain braces (checked when the adapter is configured).
 */
import { createHash } from 'node:crypto'

/** `{tag}` and what follows it, for a topic: `{room:1}` or `{#0123456789abcdef}:we{ir}d`. */
export function tagged(topic: string): string {
  if (!/[{}]/.test(topic)) return `{${topic}}`
  return `{#${createHash('sha1').update(topic).digest('hex').slice(0, 16)}}:${topic}`
}

const TABLE = (() => {
  const table = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i << 8
    for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    table[i] = crc
  }
  return table
})()

/** CRC16-CCITT (XModem), as Redis Cluster uses for key slots. */
function crc16(bytes: Uint8Array): number {
  let crc = 0
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!
  return crc
}

/** The cluster slot (0 to 16383) of a key or shard channel name. */
export function slotOf(name: string): number {
  const open = name.indexOf('{')
  if (open >= 0) {
    const close = name.indexOf('}', open + 1)
    if (close > open + 1) name = name.slice(open + 1, close)
  }
  return crc16(Buffer.from(name, 'utf8')) % 16384
}
