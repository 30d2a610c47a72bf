/**
 * Waiting for a frame, without the clock the test may have faked: the kit keeps the real timer
 * functions from before any fake clock was installed, so a `receive()` still times out.
 */
const realSetTimeout = globalThis.setTimeout
const realClearTimeout = globalThis.clearTimeout

export class TimeoutError extends Error {
  override name = 'TimeoutError'
}

/**
 * Resolves with `check()`'s first value other than undefined, checked now and each time a waker
 * in `wakers` runs; rejects after `timeoutMs` (real time) or when `closed()` says the connection
 * ended and the value never came.
 */
export function waitFor<T>(
  check: () => T | undefined,
  what: string,
  timeoutMs: number,
  wakers: Set<() => void>,
  closed: () => unknown,
): Promise<T> {
  const now = check()
  if (now !== undefined) return Promise.resolve(now)
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      realClearTimeout(timer)
      wakers.delete(wake)
    }
    const wake = () => {
      const value = check()
      if (value !== undefined) {
        done()
        resolve(value)
      } else if (closed() !== undefined) {
        done()
        reject(new Error(`the connection closed while waiting for ${what}`))
      }
    }
    const timer = realSetTimeout(() => {
      wakers.delete(wake)
      reject(new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`))
    }, timeoutMs)
    wakers.add(wake)
  })
}
