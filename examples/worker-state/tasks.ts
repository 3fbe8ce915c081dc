/**
 * The worker-state example's task and the table its workers share between tasks. Imported by
 * main.ts and worker.ts.
 */
import * as Schema from "effect/Schema"
import { Task } from "effect-parallel/worker"

/** The table covers `[0, limit]`. */
export const limit = 4_000_000

/**
 * Counts the primes and twin-prime pairs in `[from, to)` with the worker's table, and says which
 * worker answered and how many times that worker has built its table.
 */
export const CountPrimes = Task.make("CountPrimes", {
  payload: { from: Schema.Int, to: Schema.Int },
  success: Schema.Struct({
    primes: Schema.Int,
    twins: Schema.Int,
    workerId: Schema.Int,
    tableBuilds: Schema.Int
  })
})

export const PrimeTasks = Task.group(CountPrimes)

/** A sieve of Eratosthenes up to `limit`: `table[n] === 1` when `n` is prime. The expensive part. */
export const buildPrimeTable = (size: number): Uint8Array => {
  const table = new Uint8Array(size + 1).fill(1, 2)
  for (let p = 2; p * p <= size; p++) {
    if (table[p] === 1) for (let m = p * p; m <= size; m += p) table[m] = 0
  }
  return table
}
