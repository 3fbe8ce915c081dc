/**
 * Sequential round trips, one in flight, the way the scenarios measure call latency.
 *
 * Calls `roundTrip(i)` for `i` = 0 … `warmup + count - 1`, one after the other. The last `count`
 * give `p50us`/`p99us`. The first `afterLoadCalls` (they are part of the warm-up) give
 * `afterLoadP50us`: the scenarios probe right after their heavy phase, when V8's background
 * compiler and GC threads are still busy for a few thousand calls and take cores from them, so
 * the two figures tell a settled call from one made in that state.
 */
import { percentile, round } from "./stats.ts"

export interface RoundTrips {
  readonly p50us: number
  readonly p99us: number
  readonly afterLoadP50us: number
}

/** The first calls reported apart, as `afterLoadP50us`. */
const afterLoadCalls = 200

export const measureRoundTrips = async (
  options: { readonly warmup: number; readonly count: number },
  roundTrip: (i: number) => Promise<void>
): Promise<RoundTrips> => {
  const settled: Array<number> = []
  const afterLoad: Array<number> = []
  for (let i = 0; i < options.warmup + options.count; i++) {
    const start = performance.now()
    await roundTrip(i)
    const us = (performance.now() - start) * 1000
    if (i >= options.warmup) settled.push(us)
    else if (i < afterLoadCalls) afterLoad.push(us)
  }
  return {
    p50us: round(percentile(settled, 50), 3),
    p99us: round(percentile(settled, 99), 3),
    afterLoadP50us: round(percentile(afterLoad, 50), 3)
  }
}
