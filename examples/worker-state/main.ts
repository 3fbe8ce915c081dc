/**
 * Worker state (MPIRE's `worker_state`): a costly resource built once per worker, reused by every task.
 *
 * Each worker builds an expensive resource once, here a 4 MB prime sieve, in a per-worker Layer (`Worker.serve(group, handlers, { layer })`); every
 * task of a `Task.map` that lands on the worker reuses it; and the Layer's finalizer runs as the
 * worker's exit hook when the pool closes. The table is built as many times as the pool has
 * workers, however many tasks there are. Lines in brackets are printed by the workers.
 *
 * Run with `npm run example -- worker-state`.
 */
import * as Effect from "effect/Effect"
import { Task, WorkerPool } from "effect-parallel"
import { buildPrimeTable, CountPrimes, limit, PrimeTasks } from "./tasks.ts"

const size = 3
const step = 20_000
const ranges = Array.from({ length: limit / step }, (_, i) => ({ from: i * step, to: (i + 1) * step }))

// Building the layer starts the workers and waits until each has built its table.
const PrimePool = WorkerPool.layer(PrimeTasks, { entry: new URL("./worker.ts", import.meta.url), size })

const program = Effect.gen(function*() {
  console.log(`pool of ${size} workers is up; running ${ranges.length} tasks`)
  const results = yield* Task.map(CountPrimes, ranges)

  const byWorker = new Map<number, { tasks: number; builds: number }>()
  for (const { tableBuilds, workerId } of results) {
    const seen = byWorker.get(workerId) ?? { tasks: 0, builds: 0 }
    byWorker.set(workerId, { tasks: seen.tasks + 1, builds: Math.max(seen.builds, tableBuilds) })
  }
  console.table([...byWorker].map(([worker, { builds, tasks }]) => ({ worker, tasks, "table builds": builds })))

  const builds = [...byWorker.values()].reduce((n, w) => n + w.builds, 0)
  const primes = results.reduce((n, r) => n + r.primes, 0)
  const twins = results.reduce((n, r) => n + r.twins, 0)
  console.log(`primes below ${limit.toLocaleString()}: ${primes}, twin pairs: ${twins}`)
  const serial = serialCounts()
  console.log(`results agree with a serial count: ${serial.primes === primes && serial.twins === twins}`)
  console.log(`table builds: ${builds} for ${ranges.length} tasks; builds = pool size (${size}): ${builds === size}`)
  console.log("closing the pool:")
})

/** The same counts in this thread, from a table of its own. */
const serialCounts = () => {
  const table = buildPrimeTable(limit)
  let primes = 0
  let twins = 0
  for (let n = 0; n < limit; n++) {
    if (table[n] !== 1) continue
    primes++
    if (table[n + 2] === 1) twins++
  }
  return { primes, twins }
}

console.log(
  [
    `Each of ${size} workers builds a prime table once, in its per-worker Layer, before it takes tasks; every`,
    "task that lands on it reuses the table, and the Layer's finalizer releases it when the pool closes.",
    "Lines in brackets are printed by the workers.",
    ""
  ].join("\n")
)

program.pipe(Effect.provide(PrimePool), Effect.runPromise).then(
  () => console.log(`pool closed; workers left running: ${WorkerPool.liveThreads()}`),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
