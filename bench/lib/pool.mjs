/** Runs `fn` over `items` with at most `limit` in flight; each result is `{ ok, value }` or `{ ok: false, error }`. */
export async function pool(items, limit, fn) {
  let next = 0
  const results = new Array(items.length)
  async function worker() {
    while (next < items.length) {
      const i = next++
      try {
        results[i] = { ok: true, value: await fn(items[i], i) }
      } catch (err) {
        results[i] = { ok: false, error: String(err?.message ?? err) }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
