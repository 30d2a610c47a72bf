import type { Logger } from '@hornbeam/channels'
import type { Redis } from 'ioredis'

/**
 * Notices a half-open connection, one that neither errors nor closes (a network split without a
 * reset, a frozen Redis): the connection is PINGed every `intervalMs`, and if the reply has not
 * come by the next tick, `onDead` runs (the adapter drops the connection, which reconnects).
 * Without this a subscriber would wait, silently deaf, for the kernel's TCP timeouts.
 * Returns a function that stops watching.
 */
export function watchHealth(conn: Redis, intervalMs: number, onDead: (conn: Redis) => void): () => void {
  if (intervalMs <= 0) return () => {}
  let outstanding = false
  let epoch = 0
  const timer = setInterval(() => {
    if (conn.status !== 'ready') {
      outstanding = false
      return
    }
    if (outstanding) {
      outstanding = false
      epoch++
      return onDead(conn)
    }
    outstanding = true
    const sent = epoch
    const settle = () => {
      if (sent === epoch) outstanding = false
    }
    conn.ping().then(settle, settle)
  }, intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}

/** What the adapter does with a connection that did not answer: drops it, and ioredis reconnects. */
export function dropUnresponsive(conn: Redis, which: 'publisher' | 'subscriber', intervalMs: number, logger: Logger): void {
  logger.warn({ connection: which, pingIntervalMs: intervalMs }, 'redis adapter: no answer to PING; reconnecting')
  // Destroy rather than end: a polite FIN would wait for an answer that is not coming. The
  // socket's close is a lost connection as any other, and ioredis reconnects with backoff.
  if (conn.stream !== undefined && !conn.stream.destroyed) conn.stream.destroy()
  else conn.disconnect(true)
}
