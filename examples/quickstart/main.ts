/**
 * effect-parallel in one screen: count the primes below 4,000,000 serially and on a pool of
 * worker threads, then show what a declared error, a malformed payload and a timeout look like
 * to the caller. Run with `npm start`.
 */
import * as Effect from "effect/Effect"
import { availableParallelism } from "node:os"
import { Task, type TaskError, WorkerPool } from "effect-parallel"
import { countPrimes, CountPrimes, PrimeTasks } from "./tasks.ts"

const limit = 4_000_000
const step = 50_000
const ranges = Array.from({ length: limit / step }, (_, i) => ({ from: i * step, to: (i + 1) * step }))

const PrimePool = WorkerPool.layer(PrimeTasks, {
  entry: new URL("./worker.ts", import.meta.url),
  size: "cores"
})

/** A `TaskError` in one line: its reason, and where the reason says. */
const describe = (error: TaskError.TaskError): string =>
  error.reason._tag === "PayloadInvalid"
    ? `TaskError ${error.reason._tag} at ${JSON.stringify(error.reason.path)}`
    : `TaskError ${error.reason._tag}`

const time = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const value = yield* effect
    return { value, millis: performance.now() - start }
  })

const program = Effect.gen(function*() {
  const rows: Array<{ step: string; result: string; ms: string }> = []
  const row = (step: string, result: unknown, millis?: number) =>
    rows.push({ step, result: String(result), ms: millis === undefined ? "" : millis.toFixed(0) })

  const serial = yield* time(Effect.sync(() => ranges.reduce((n, r) => n + countPrimes(r.from, r.to), 0)))
  row(`primes below ${limit.toLocaleString()}, serial`, serial.value, serial.millis)

  const parallel = yield* time(Task.map(CountPrimes, ranges, { progress: true }))
  const total = parallel.value.reduce((a, b) => a + b, 0)
  row(`same on ${availableParallelism()} worker threads (Task.map)`, total, parallel.millis)
  row("speed-up", `${(serial.millis / parallel.millis).toFixed(2)}x`)
  row("results agree", total === serial.value)

  const declared = yield* Effect.flip(Task.run(CountPrimes, { from: 0, to: 5_000_000 }))
  row("declared error (same class in the caller)", `${declared._tag}: ${"size" in declared ? declared.size : ""}`)

  const decode = yield* Effect.flip(Task.run(CountPrimes, { from: 0.5, to: 10 }))
  row("malformed payload", decode._tag === "TaskError" ? describe(decode) : decode._tag)

  const timeout = yield* Effect.flip(Task.run(CountPrimes, { from: 0, to: 1_000_000 }, { timeout: "1 millis" }))
  row("per-task timeout", timeout._tag === "TaskError" ? describe(timeout) : timeout._tag)

  console.table(rows)
})

program.pipe(Effect.provide(PrimePool), Effect.runPromise).then(
  () => console.log(`workers left running: ${WorkerPool.liveThreads()}`),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
