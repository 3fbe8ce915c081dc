/**
 * A tiny-task map on a plain pool and on an observed one, alternated in one process so that the
 * machine's drift hits both alike: prints the median ratio of observed over plain throughput, with
 * the plain pool first and with the observed one first (the order matters by a few per cent), and
 * every pair's ratio. Single passes of the overhead bench vary ±20% here; pairs tell changes of a
 * few per cent apart.
 *
 *   node --conditions=effect-parallel-source bench/observed-pairs.ts timed|insights|metrics|tracing|all[,…] [pairs]
 *
 * `timed`: a collector that asks for timings and does nothing with them; `all`: insights, metrics
 * and tracing at once; `insights,tracing`: those two. 100,000 tasks a map, 3 warm-up pairs, 20 pairs by default.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import { clientOf } from "../src/api/internal/pool.ts"
import { InlineBackend, Observe, Task, WorkerPool } from "../src/index.ts"
import { exportingTracer } from "./scenarios/overhead/effect-parallel.ts"
import { Add, OverheadTasks } from "./scenarios/overhead/effect-parallel.tasks.ts"

const entry = new URL("./scenarios/overhead/effect-parallel.worker.ts", import.meta.url)
const mode = process.argv[2] ?? "all"
const modes = mode.split(",")
if (!modes.every((m) => ["timed", "insights", "metrics", "tracing", "all"].includes(m))) throw new Error(`unknown mode ${mode}`)
const pairs = Number(process.argv[3] ?? 20)
/** `INLINE=1`: the workers run in the caller's thread (the inline backend): every cost on one thread, no scheduling. */
const inline = process.env.INLINE === "1"
const tasks = 100_000
const wants = (what: string) => modes.includes(what) || (mode === "all" && what !== "timed")

const scope = Scope.makeUnsafe()
const build = async (observed: boolean) => {
  const options = { entry, size: 2, insights: observed && wants("insights") ? { print: false } : undefined }
  const layer = WorkerPool.layer(OverheadTasks, options)
  const context = await Effect.runPromise(
    Layer.buildWithScope(inline ? Layer.provide(layer, InlineBackend.layer) : layer, scope)
  )
  const run = Effect.runPromiseWith(context)
  if (observed && wants("metrics")) {
    await run(Observe.metrics(OverheadTasks).pipe(Scope.provide(scope), Effect.provideService(Metric.MetricRegistry, new Map())))
  }
  if (observed && wants("timed")) {
    await run(Effect.map(clientOf(OverheadTasks), (client) =>
      client.events.subscribe({ onEvent: () => {}, onSettled: () => {}, onDispatched: () => {}, timings: true })))
  }
  return run
}
const plain = await build(false)
const observed = await build(true)
const inputs = Array.from({ length: tasks }, (_, i) => ({ a: i, b: 1 }))
const plainMap = Task.map(Add, inputs)
const observedMap = wants("tracing")
  ? Task.map(Add, inputs).pipe(Effect.withSpan("map"), Effect.provideService(Tracer.Tracer, exportingTracer))
  : Task.map(Add, inputs)
/** CPU µs a task, of the whole process (workers included) and of the caller's thread, per variant. */
const cpu = new Map<unknown, { process: Array<number>; caller: Array<number> }>()
const throughput = async (run: typeof plain, map: typeof plainMap) => {
  const start = performance.now()
  const processCpu = process.cpuUsage()
  const callerCpu = process.threadCpuUsage()
  await run(map)
  const seconds = (performance.now() - start) / 1000
  const processUsed = process.cpuUsage(processCpu)
  const callerUsed = process.threadCpuUsage(callerCpu)
  const row = cpu.get(map) ?? { process: [], caller: [] }
  row.process.push((processUsed.user + processUsed.system) / tasks)
  row.caller.push((callerUsed.user + callerUsed.system) / tasks)
  cpu.set(map, row)
  return tasks / seconds
}

for (let i = 0; i < 3; i++) {
  await throughput(plain, plainMap)
  await throughput(observed, observedMap)
}
const plainFirst: Array<number> = []
const observedFirst: Array<number> = []
for (let pair = 0; pair < pairs; pair++) {
  if (pair % 2 === 0) {
    const p = await throughput(plain, plainMap)
    plainFirst.push((await throughput(observed, observedMap)) / p)
  } else {
    const o = await throughput(observed, observedMap)
    observedFirst.push(o / (await throughput(plain, plainMap)))
  }
}
const median = (xs: ReadonlyArray<number>) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
const all = [...plainFirst, ...observedFirst].sort((x, y) => x - y)
console.log(
  `${mode}: observed/plain median ${median(all).toFixed(3)} (plain first ${median(plainFirst).toFixed(3)}, ` +
    `observed first ${median(observedFirst).toFixed(3)}); pairs: ${all.map((r) => r.toFixed(2)).join(" ")}`
)
const cpuOf = (map: unknown) => {
  const row = cpu.get(map)!
  return `process ${median(row.process).toFixed(3)} µs, caller ${median(row.caller).toFixed(3)} µs`
}
console.log(`CPU a task (medians): plain ${cpuOf(plainMap)}; observed ${cpuOf(observedMap)}`)
await Effect.runPromise(Scope.close(scope, Exit.void))
