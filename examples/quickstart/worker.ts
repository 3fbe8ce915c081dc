// worker.ts — runs in every worker thread: one handler per task
import * as Effect from "effect/Effect"
import { Worker } from "effect-parallel/worker"
import { PrimeTasks, RangeTooLarge } from "./tasks.ts"

const limit = 1_000_000

const countPrimes = (from: number, to: number): number => {
  let count = 0
  for (let n = Math.max(2, from); n < to; n++) {
    let prime = true
    for (let d = 2; d * d <= n && prime; d++) prime = n % d !== 0
    if (prime) count++
  }
  return count
}

export default Worker.serve(PrimeTasks, {
  CountPrimes: ({ from, to }) =>
    to - from > limit
      ? Effect.fail(new RangeTooLarge({ size: to - from, limit }))
      : Effect.sync(() => countPrimes(from, to))
})
