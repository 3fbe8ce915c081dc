/**
 * Memory of 100,000 concurrent calls, sampled every 5 ms while they are in flight (3 rounds):
 * `run` (Effect.forEach(Task.run, unbounded)), `fibers` (the same number of bare fibers waiting on
 * a Deferred: what Effect itself costs per concurrent call), `map` (one Task.map), `raw` (the
 * overhead bench's `raw/postMessage`: a promise and one message per call), `effect-raw` (raw's
 * calls made from Effect.forEach(Effect.promise, unbounded): raw threads behind Effect fibers).
 * Prints the peak caller heap, the peak RSS and, at the peak RSS, what the caller's heap spaces
 * and external memory held (RSS minus those is the workers' heaps, message buffers and native).
 *
 *   node --expose-gc --conditions=effect-parallel-source bench/percall.ts run|fibers|map|raw|effect-raw
 *
 * Environment: `PERCALL_N` (calls, default 100,000); `PERCALL_TIMELINE=1` prints every sample;
 * `PERCALL_SNAPSHOT=file` writes a heap snapshot, and `PERCALL_PROFILE=prefix` the sampled
 * allocations of the first round (`prefix.all.json`, collected ones included) and those live
 * (`prefix.live.json`), as the last call of the first round starts, every other one submitted
 * (`run`, `effect-raw`; the hook costs `run` an `Effect.suspend` per call).
 */
import * as Effect from "effect/Effect"
import * as Deferred from "effect/Deferred"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Exit from "effect/Exit"
import * as Context from "effect/Context"
import * as v8 from "node:v8"
import * as fs from "node:fs"
import * as inspector from "node:inspector"
import { Task, WorkerPool } from "../src/index.ts"
import { Add, OverheadTasks } from "./scenarios/overhead/effect-parallel.tasks.ts"
import { variants as rawVariants } from "./scenarios/overhead/raw.ts"
const entry = new URL("./scenarios/overhead/effect-parallel.worker.ts", import.meta.url)
const n = Number(process.env.PERCALL_N ?? 100_000)
const mode = process.argv[2] ?? "run"
const gc = () => { (globalThis as any).gc?.(); (globalThis as any).gc?.() }
const mb = (x: number) => (x / 1024 / 1024).toFixed(1)
const scope = Scope.makeUnsafe()
const raw = mode === "raw" || mode === "effect-raw" ? await rawVariants[0]!.setup(2) : undefined
const ctx = raw === undefined
  ? await Effect.runPromise(Layer.buildWithScope(WorkerPool.layer(OverheadTasks, { entry, size: 2 }), scope))
  : undefined
const runP = Effect.runPromiseWith((ctx ?? Context.empty()) as any)
const snapshotPath = process.env.PERCALL_SNAPSHOT
const snapshotAt = (i: number) => {
  if (i === n - 1 && session !== undefined && !profiled) { profiled = true; fs.writeFileSync(profilePath + ".live.json", JSON.stringify(post("HeapProfiler.getSamplingProfile").profile)) }
  if (i === n - 1 && snapshotPath !== undefined && !snapped) { snapped = true; v8.writeHeapSnapshot(snapshotPath) }
}
let profiled = false
let snapped = false
const profilePath = process.env.PERCALL_PROFILE
const session = profilePath === undefined ? undefined : new inspector.Session()
const post = (method: string, params?: object): any => {
  let result: any
  session!.post(method, params, (error, value) => { if (error) throw error; result = value })
  return result
}
const hooked = snapshotPath !== undefined || profilePath !== undefined
if (session !== undefined) {
  session.connect()
  post("HeapProfiler.enable")
}
gc()
const before = process.memoryUsage()
let peakHeap = 0, peakRss = 0
const t0 = performance.now()
const timeline: Array<string> = []
let atPeak: { memory: NodeJS.MemoryUsage; spaces: Array<v8.HeapSpaceInfo> } | undefined
const sampler = setInterval(() => {
  const m = process.memoryUsage()
  peakHeap = Math.max(peakHeap, m.heapUsed)
  if (process.env.PERCALL_TIMELINE !== undefined) timeline.push(`${(performance.now() - t0).toFixed(0)}ms rss ${mb(m.rss)} heap ${mb(m.heapUsed)}/${mb(m.heapTotal)}`)
  if (m.rss > peakRss) {
    peakRss = m.rss
    atPeak = { memory: m, spaces: v8.getHeapSpaceStatistics() }
  }
}, 5)
const inputs = Array.from({ length: n }, (_, i) => ({ a: i, b: 1 }))
for (let rep = 0; rep < 3; rep++) {
  if (session !== undefined && rep === 0) post("HeapProfiler.startSampling", { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
  if (session !== undefined && rep === 1) fs.writeFileSync(profilePath + ".all.json", JSON.stringify(post("HeapProfiler.stopSampling").profile))
  if (mode === "run") await runP(Effect.forEach(inputs, hooked
    ? (input, i) => Effect.suspend(() => { snapshotAt(i); return Task.run(Add, input) })
    : (input) => Task.run(Add, input), { concurrency: "unbounded" }) as any)
  else if (mode === "fibers") await runP(Effect.gen(function*() {
    const d = yield* Deferred.make<void>()
    yield* Effect.forEach(inputs, () => Effect.forkChild(Deferred.await(d)))
    yield* Effect.sleep(50)
    yield* Deferred.succeed(d, undefined)
  }) as any)
  else if (mode === "map") await runP(Task.map(Add, inputs) as any)
  else if (mode === "raw") await raw!.runBatch(inputs)
  else if (mode === "effect-raw") await Effect.runPromise(Effect.forEach(inputs, (input, i) => Effect.promise(() => { snapshotAt(i); return raw!.roundTrip(input) }), { concurrency: "unbounded" }))
}
clearInterval(sampler)
if (timeline.length > 0) console.log(timeline.join("\n"))
console.log(mode, "rss before", mb(before.rss), "heap before", mb(before.heapUsed), "peak heap", mb(peakHeap), "per call B", ((peakHeap - before.heapUsed) / n).toFixed(0), "peak rss", mb(peakRss))
if (atPeak !== undefined) {
  const { memory, spaces } = atPeak
  const space = (name: string) => spaces.find((s) => s.space_name === name)
  const rest = memory.rss - memory.heapTotal - memory.external
  console.log(
    "  at peak rss:", `heap used ${mb(memory.heapUsed)} of ${mb(memory.heapTotal)}`,
    `(old ${mb(space("old_space")!.space_used_size)}/${mb(space("old_space")!.space_size)},`,
    `young ${mb(space("new_space")!.space_used_size)}/${mb(space("new_space")!.space_size)},`,
    `large ${mb(space("large_object_space")!.space_used_size)})`,
    `external ${mb(memory.external)} (array buffers ${mb(memory.arrayBuffers)}),`,
    `rest (workers, native, code) ${mb(rest)}`
  )
}
await raw?.close()
await Effect.runPromise(Scope.close(scope, Exit.void))
