// A log-bucketed latency histogram (about 2% wide buckets) that load generators fill per delivery
// and the orchestrator merges: percentiles of millions of samples without keeping them.
const SCALE = 50 // buckets per e-fold: exp(1/50) = 1.0202
const SIZE = 1200 // up to exp(24) µs, about 7.5 hours

export class Histogram {
  constructor() {
    this.counts = new Float64Array(SIZE)
    this.n = 0
    this.sum = 0
    this.max = 0
  }

  /** Records one latency in microseconds. */
  add(micros) {
    const v = micros < 1 ? 1 : micros
    let i = Math.round(Math.log(v) * SCALE)
    if (i >= SIZE) i = SIZE - 1
    this.counts[i]++
    this.n++
    this.sum += v
    if (v > this.max) this.max = v
  }

  /** A compact form for IPC: only the non-empty buckets. */
  toJSON() {
    const buckets = []
    for (let i = 0; i < SIZE; i++) if (this.counts[i] > 0) buckets.push([i, this.counts[i]])
    return { buckets, n: this.n, sum: this.sum, max: this.max }
  }

  static merge(parts) {
    const h = new Histogram()
    for (const p of parts) {
      if (!p) continue
      for (const [i, c] of p.buckets) h.counts[i] += c
      h.n += p.n
      h.sum += p.sum
      if (p.max > h.max) h.max = p.max
    }
    return h
  }

  /** The q-quantile (0..1) in microseconds, or null when empty. */
  quantile(q) {
    if (this.n === 0) return null
    const target = Math.max(1, Math.ceil(q * this.n))
    let seen = 0
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i]
      if (seen >= target) return Math.min(Math.exp(i / SCALE), this.max)
    }
    return this.max
  }

  summary() {
    const ms = (us) => (us === null ? null : +(us / 1000).toFixed(3))
    return {
      samples: this.n,
      p50Ms: ms(this.quantile(0.5)),
      p90Ms: ms(this.quantile(0.9)),
      p99Ms: ms(this.quantile(0.99)),
      maxMs: ms(this.n ? this.max : null),
      meanMs: ms(this.n ? this.sum / this.n : null),
    }
  }
}

/** Monotonic microseconds (CLOCK_MONOTONIC on Linux): the same clock in every process. */
export function nowMicros() {
  const t = process.hrtime()
  return t[0] * 1e6 + Math.floor(t[1] / 1000)
}
