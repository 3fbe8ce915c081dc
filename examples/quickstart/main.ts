// main.ts — counts primes on every core and catches a typed error: run it with `node main.ts`
import { NodeRuntime } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import { Task, WorkerPool } from "effect-parallel"
import { CountPrimes, PrimeTasks } from "./tasks.ts"

// One worker thread per core, started when the program starts and stopped when it ends.
const PrimePool = WorkerPool.layer(PrimeTasks, { entry: new URL("./worker.ts", import.meta.url) })

const program = Effect.gen(function*() {
  // 40 tasks spread over the workers; the results come back in input order.
  const ranges = Array.from({ length: 40 }, (_, i) => ({ from: i * 50_000, to: (i + 1) * 50_000 }))
  const counts = yield* Task.map(CountPrimes, ranges, { progress: true })
  console.log(`primes below 2,000,000: ${counts.reduce((a, b) => a + b, 0)}`)

  // The handler's error arrives as the same class, so it is caught by its tag.
  const tooLarge = yield* Task.run(CountPrimes, { from: 0, to: 5_000_000 }).pipe(
    Effect.map((count) => `${count} primes`),
    Effect.catchTag("RangeTooLarge", (error) => Effect.succeed(`${error._tag}: ${error.size} asked, limit ${error.limit}`))
  )
  console.log(`primes below 5,000,000: ${tooLarge}`)
})

// The pool closes when the program ends, whether it succeeds, fails or is interrupted (Ctrl-C).
program.pipe(
  Effect.provide(PrimePool),
  Effect.andThen(Effect.sync(() => console.log(`workers left running: ${WorkerPool.liveThreads()}`))),
  NodeRuntime.runMain
)
