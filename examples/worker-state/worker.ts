/**
 * The worker-state example's worker entry: a per-worker Layer (MPIRE's `worker_state`) builds
 * the prime table once when the worker starts; every task the worker runs reads it; the Layer's
 * finalizer, the worker's exit hook, runs when the pool closes.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Worker } from "effect-parallel/worker"
import { buildPrimeTable, limit, PrimeTasks } from "./tasks.ts"

export class PrimeTable extends Context.Service<PrimeTable, {
  readonly isPrime: (n: number) => boolean
  /** Tasks that used the table. */
  readonly served: () => number
  readonly markServed: () => void
}>()("examples/worker-state/PrimeTable") {}

/** Builds in this worker: each worker thread loads this module once, so the count is per worker. */
let builds = 0

const PrimeTableLive = Layer.effect(
  PrimeTable,
  Effect.gen(function*() {
    const { id } = yield* Worker.WorkerInfo
    let served = 0
    const table = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const start = performance.now()
        const table = buildPrimeTable(limit)
        builds++
        console.log(`  [worker ${id}] built the prime table (${(table.length / 2 ** 20).toFixed(1)} MB) in ${(performance.now() - start).toFixed(0)} ms`)
        return table
      }),
      () => Effect.sync(() => console.log(`  [worker ${id}] exit hook: releasing the prime table after ${served} tasks`))
    )
    return { isPrime: (n) => table[n] === 1, served: () => served, markServed: () => void served++ }
  })
)

export default Worker.serve(PrimeTasks, {
  CountPrimes: ({ from, to }) =>
    Effect.gen(function*() {
      const table = yield* PrimeTable
      const { id } = yield* Worker.WorkerInfo
      let primes = 0
      let twins = 0
      for (let n = from; n < to; n++) {
        if (!table.isPrime(n)) continue
        primes++
        if (table.isPrime(n + 2)) twins++
      }
      table.markServed()
      return { primes, twins, workerId: id, tableBuilds: builds }
    })
}, { layer: PrimeTableLive })
