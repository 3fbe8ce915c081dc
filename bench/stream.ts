/**
 * A `Task.stream` stage over a source of tiny tasks (`Add`, ~1 µs): 100,000 inputs as one
 * `Stream.fromIterable` of an array (what a user with the inputs at hand writes), through the
 * stage at its defaults (chunks of 64, 4 in flight), on 2 worker threads; 3 warm-up runs, then
 * the median and fastest of 9.
 *
 *   node --conditions=effect-parallel-source bench/stream.ts [inputs]
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Task, WorkerPool } from "../src/index.ts"
import { Add, OverheadTasks } from "./scenarios/overhead/effect-parallel.tasks.ts"

const count = Number(process.argv[2] ?? 100_000)
const scope = Scope.makeUnsafe()
const context = await Effect.runPromise(
  Layer.buildWithScope(
    WorkerPool.layer(OverheadTasks, { entry: new URL("./scenarios/overhead/effect-parallel.worker.ts", import.meta.url), size: 2 }),
    scope
  )
)
const run = Effect.runPromiseWith(context)
const inputs = Array.from({ length: count }, (_, i) => ({ a: i, b: 1 }))
const once = async () => {
  const start = performance.now()
  await run(Stream.runDrain(Task.stream(Stream.fromIterable(inputs), Add)))
  return performance.now() - start
}
for (let i = 0; i < 3; i++) await once()
const times: Array<number> = []
for (let i = 0; i < 9; i++) times.push(await once())
times.sort((a, b) => a - b)
console.log(
  `Task.stream of ${count} tiny tasks: median ${times[4]!.toFixed(0)} ms (${(count / times[4]! / 1000).toFixed(2)} M tasks/s), ` +
    `fastest ${times[0]!.toFixed(0)} ms`
)
await Effect.runPromise(Scope.close(scope, Exit.void))
