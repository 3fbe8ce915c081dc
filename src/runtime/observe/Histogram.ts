/**
 * A histogram of durations for observers on the pool's hot path: recording is a few comparisons
 * and an array increment, with no allocation.
 *
 * Buckets are logarithmic, 8 per doubling of microseconds (each ~9% wide, so a percentile read
 * from it is within ~4.5% of the true value), from 1 µs to ~70 minutes; bucket edges fall on every
 * power of two of microseconds, so cumulative counts at those boundaries (what Prometheus and
 * OTLP histograms export) are exact. Count, sum, min and max are exact.
 */

/** Buckets per doubling. */
const perDoubling = 8
/**
 * Bucket 0 holds [0, 1 µs]; bucket i ≥ 1 holds (2^((i-1)/8), 2^(i/8)] µs: closed above, as a
 * Prometheus or Effect histogram bucket counts `value <= boundary`.
 */
const bucketCount = perDoubling * 32 + 1

export interface Percentiles {
  readonly count: number
  readonly min: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

/** 2^(j/8) for j = 0…8: the edges of the buckets within one doubling. */
const withinDoubling = Float64Array.from({ length: perDoubling + 1 }, (_, j) => Math.pow(2, j / perDoubling))
/** 2^-e for e = 0…31 (exact: scaling by a power of two loses nothing). */
const inversePowers = Float64Array.from({ length: 32 }, (_, e) => Math.pow(2, -e))

/** Slices of a doubling, each narrower than the narrowest eighth (2^(1/8) − 1 ≈ 0.09 > 1/256). */
const slices = 256
/**
 * For each slice [1 + s/256, 1 + (s+1)/256) of a doubling: how many edges `withinDoubling` has
 * below it, which is the first eighth a value in it can be in. At most one edge falls inside a
 * slice, so one comparison with that eighth's upper edge settles the value's eighth.
 */
const firstEighth = Uint8Array.from({ length: slices }, (_, s) => withinDoubling.filter((edge) => edge < 1 + s / slices).length)

/**
 * The bucket of a duration in microseconds: bucket `8e + j` holds (2^e·2^((j-1)/8), 2^e·2^(j/8)].
 * The doubling comes from the integer part's leading zeros, the eighth from a table by the value's
 * slice of its doubling and one comparison with an edge: no logarithm, whose cost was most of what
 * an observer spent on a tiny task and whose rounding put values a few ulps from an edge on the
 * wrong side of it, and no loop (up to eight data-dependent branches, mispredicted as values vary).
 * Scaling by a power of two and subtracting 1 from a value in [1, 2) are exact.
 */
export const bucketOf = (micros: number): number => {
  if (!(micros > 1)) return 0
  if (micros >= 4_294_967_296) return bucketCount - 1
  const e = 31 - Math.clz32(micros)
  const within = micros * inversePowers[e]!
  const j = firstEighth[((within - 1) * slices) | 0]!
  return e * perDoubling + (within > withinDoubling[j]! ? j + 1 : j)
}

export class Histogram {
  private readonly buckets = new Float64Array(bucketCount)
  count = 0
  sum = 0
  min = Infinity
  max = 0

  /** Records a duration in milliseconds (negative values, from clocks of two threads, count as 0). */
  record(millis: number): void {
    const value = millis > 0 ? millis : 0
    this.buckets[bucketOf(value * 1000)]!++
    this.count++
    this.sum += value
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
  }

  /** The value under which a fraction `q` of the recorded ones fall, in milliseconds. */
  quantile(q: number): number {
    if (this.count === 0) return 0
    const rank = q * this.count
    let seen = 0
    for (let i = 0; i < bucketCount; i++) {
      seen += this.buckets[i]!
      if (seen >= rank && this.buckets[i]! > 0) {
        // The bucket's geometric middle, kept within what was seen.
        const middle = i === 0 ? 0.0005 : Math.pow(2, (i - 0.5) / perDoubling) / 1000
        return Math.min(this.max, Math.max(this.min, middle))
      }
    }
    return this.max
  }

  percentiles(): Percentiles {
    return {
      count: this.count,
      min: this.count === 0 ? 0 : this.min,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      max: this.max,
      mean: this.count === 0 ? 0 : this.sum / this.count
    }
  }

  /**
   * Cumulative counts at each of `boundaries` (milliseconds; each a power of two of microseconds,
   * see `exportBoundaries`), as Effect's `HistogramState.buckets` holds them.
   */
  cumulative(boundaries: ReadonlyArray<number>): Array<[number, number]> {
    const out: Array<[number, number]> = []
    let index = 0
    let seen = 0
    for (const boundary of boundaries) {
      // Values ≤ boundary: every bucket whose upper edge is ≤ boundary.
      const last = Math.round(Math.log2(boundary * 1000) * perDoubling)
      while (index <= last && index < bucketCount) seen += this.buckets[index++]!
      out.push([boundary, seen])
    }
    return out
  }
}

/** Export boundaries, in milliseconds: 1 µs, 2 µs, 4 µs … ~8.4 s. */
export const exportBoundaries: ReadonlyArray<number> = Array.from({ length: 24 }, (_, k) => Math.pow(2, k) / 1000)
