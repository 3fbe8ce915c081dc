/**
 * Timing and summary statistics.
 *
 * Every measurement goes through `performance.now()`. `repeat` runs warm-up
 * rounds that are thrown away, then the measured rounds, and reports their
 * median: the median is robust to the odd GC pause or a neighbour process
 * stealing a core, which on a 2-core machine is the common case.
 */

export const median = (xs: ReadonlyArray<number>): number => percentile(xs, 50)

/** Nearest-rank percentile (p in [0, 100]) of a non-empty sample. */
export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  if (p <= 0) return sorted[0]!
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(rank, sorted.length) - 1]!
}

/** Milliseconds taken by `f`, and its value. */
export const timed = async <A>(f: () => Promise<A>): Promise<{ readonly ms: number; readonly value: A }> => {
  const start = performance.now()
  const value = await f()
  return { ms: performance.now() - start, value }
}

export interface Repeated<A> {
  /** Seconds of each measured round, in order. */
  readonly samples: ReadonlyArray<number>
  /** Median of `samples`, in seconds. */
  readonly seconds: number
  /** Value of each measured round, in order. */
  readonly values: ReadonlyArray<A>
}

/**
 * Runs `f` `warmup` times unmeasured, then `repetitions` times measured.
 */
export const repeat = async <A>(
  f: () => Promise<A>,
  options: {
    readonly warmup: number
    readonly repetitions: number
    /** Warm up for at least this long too (whole runs of `f`, at most 20): a fast variant's code is still being optimized after one run. */
    readonly warmupMillis?: number
  }
): Promise<Repeated<A>> => {
  const warmupStart = performance.now()
  for (let i = 0; i < options.warmup || (i < 20 && performance.now() - warmupStart < (options.warmupMillis ?? 0)); i++) await f()
  const samples: Array<number> = []
  const values: Array<A> = []
  for (let i = 0; i < options.repetitions; i++) {
    const { ms, value } = await timed(f)
    samples.push(ms / 1000)
    values.push(value)
  }
  return { samples, seconds: median(samples), values }
}

/** Rounds to `digits` significant digits, keeping JSON records readable. */
export const round = (x: number, digits = 4): number => x === 0 || !Number.isFinite(x) ? x : Number(x.toPrecision(digits))
