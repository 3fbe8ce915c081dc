/** The quickstart's worker entry: one handler per task of `PrimeTasks`. */
import * as Effect from "effect/Effect"
import { Worker } from "effect-parallel"
import { countPrimes, maxRange, PrimeTasks, RangeTooLarge } from "./tasks.ts"

export default Worker.serve(PrimeTasks, {
  CountPrimes: ({ from, to }) =>
    to - from > maxRange
      ? Effect.fail(new RangeTooLarge({ size: to - from, limit: maxRange }))
      : Effect.sync(() => countPrimes(from, to))
})
