/**
 * Heap per call of 100,000 concurrent calls, sampled every 5 ms while they are in flight:
 * `run` (Effect.forEach(Task.run, unbounded)), `fibers` (the same number of bare fibers waiting on
 * a Deferred: what Effect itself costs per concurrent call), `map` (one Task.map).
 *
 *   node --expose-gc --conditions=effect-parallel-source bench/percall.ts run|fibers|map
 */
import * as Effect from "effect/Effect"
import * as Deferred from "effect/Deferred"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Exit from "effect/Exit"
import { Task, WorkerPool } from "../src/index.ts"
import { Add, OverheadTasks } from "./scenarios/overhead/effect-parallel.tasks.ts"
const entry = new URL("./scenarios/overhead/effect-parallel.worker.ts", import.meta.url)
const n = 100_000
const mode = process.argv[2] ?? "run"
const gc = () => { (globalThis as any).gc?.(); (globalThis as any).gc?.() }
const mb = (x: number) => (x / 1024 / 1024).toFixed(1)
const scope = Scope.makeUnsafe()
const ctx = await Effect.runPromise(Layer.buildWithScope(WorkerPool.layer(OverheadTasks, { entry, size: 2 }), scope))
const runP = Effect.runPromiseWith(ctx as any)
gc()
const before = process.memoryUsage()
let peakHeap = 0, peakRss = 0
const sampler = setInterval(() => { const m = process.memoryUsage(); peakHeap = Math.max(peakHeap, m.heapUsed); peakRss = Math.max(peakRss, m.rss) }, 5)
const inputs = Array.from({ length: n }, (_, i) => ({ a: i, b: 1 }))
for (let rep = 0; rep < 3; rep++) {
  if (mode === "run") await runP(Effect.forEach(inputs, (input) => Task.run(Add, input), { concurrency: "unbounded" }) as any)
  else if (mode === "fibers") await runP(Effect.gen(function*() {
    const d = yield* Deferred.make<void>()
    yield* Effect.forEach(inputs, () => Effect.forkChild(Deferred.await(d)))
    yield* Effect.sleep(50)
    yield* Deferred.succeed(d, undefined)
  }) as any)
  else if (mode === "map") await runP(Task.map(Add, inputs) as any)
}
clearInterval(sampler)
console.log(mode, "heap before", mb(before.heapUsed), "peak heap", mb(peakHeap), "per call B", ((peakHeap - before.heapUsed) / n).toFixed(0), "peak rss", mb(peakRss))
await Effect.runPromise(Scope.close(scope, Exit.void))
