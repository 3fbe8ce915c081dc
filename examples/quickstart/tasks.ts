/**
 * The quickstart's tasks: counting primes in a range (CPU-bound work worth a thread) and a task
 * with a declared error. Imported by the caller (main.ts) and by the worker entry (worker.ts).
 */
import * as Schema from "effect/Schema"
import { Task } from "effect-parallel"

export class RangeTooLarge extends Schema.TaggedError<RangeTooLarge>()("RangeTooLarge", {
  size: Schema.Number,
  limit: Schema.Number
}) {}

export const CountPrimes = Task.make("CountPrimes", {
  payload: { from: Schema.Int, to: Schema.Int },
  success: Schema.Int,
  error: RangeTooLarge
})

export const PrimeTasks = Task.group(CountPrimes)

/** The serial kernel, shared by the worker and the serial baseline. */
export const countPrimes = (from: number, to: number): number => {
  let count = 0
  for (let n = Math.max(2, from); n < to; n++) {
    let prime = true
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false
        break
      }
    }
    if (prime) count++
  }
  return count
}

export const maxRange = 1_000_000
