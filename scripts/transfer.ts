/**
 * Moved against copied typed arrays, timed: `node --conditions=effect-parallel-source
 * scripts/transfer.ts [MB] [rounds]` (run it under `flock -o /tmp/cpu.lock` on a shared machine).
 *
 * One worker thread; per round, a task whose worker makes a fresh `MB` Float64Array and returns it
 * (`memory: "moved"` against `"copied"`), and a round trip of a caller's array of that size
 * (moved both ways against copied both ways; the copied round trip sends the same array every
 * round, the moved one a fresh array, as moving gives it up). Prints the median and spread of
 * `rounds` timed rounds after 3 untimed ones, and the caller's peak RSS.
 */
import * as Effect from "effect/Effect"
import { Task, WorkerPool } from "../src/index.ts"
import { EchoCopied, EchoMoved, MakeCopied, MakeMoved, TransferTasks } from "./transfer-tasks.ts"

const megabytes = Number(process.argv[2] ?? 72)
const rounds = Number(process.argv[3] ?? 15)
const length = Math.floor(megabytes * 1024 * 1024 / 8)

const time = <A, E, R>(label: string, round: () => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const millis: Array<number> = []
    for (let i = 0; i < rounds + 3; i++) {
      const started = performance.now()
      yield* round()
      if (i >= 3) millis.push(performance.now() - started)
    }
    millis.sort((a, b) => a - b)
    const median = millis[Math.floor(millis.length / 2)]!
    console.log(
      `${label.padEnd(34)} median ${median.toFixed(1).padStart(7)} ms   min ${millis[0]!.toFixed(1).padStart(7)}   max ${
        millis.at(-1)!.toFixed(1).padStart(7)
      }`
    )
  })

const copiedInput = new Float64Array(length)

const program = Effect.gen(function*() {
  console.log(`${megabytes} MB Float64Array (${length.toLocaleString()} elements), ${rounds} rounds, node ${process.version}`)
  yield* time("result made in the worker, moved", () => Task.run(MakeMoved, { length }))
  yield* time("result made in the worker, copied", () => Task.run(MakeCopied, { length }))
  yield* time("round trip, moved both ways", () => Task.run(EchoMoved, { values: new Float64Array(length) }))
  yield* time("  (making the fresh input alone)", () => Effect.sync(() => new Float64Array(length)))
  yield* time("round trip, copied both ways", () => Task.run(EchoCopied, { values: copiedInput }))
  console.log(`caller peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`)
}).pipe(Effect.provide(WorkerPool.layer(TransferTasks, { entry: new URL("./transfer-worker.ts", import.meta.url), size: 1 })))

await Effect.runPromise(program)
