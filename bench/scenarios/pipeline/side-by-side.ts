/**
 * The pipeline scenario's variants side by side on one warm pool, in one process, for finding
 * where time goes: `MODES=barrier,pipe:16:4,pipe:64:4,fused:64:4,serial node
 * --conditions=effect-parallel-source bench/scenarios/pipeline/side-by-side.ts` (`pipe:b:c` and
 * `fused:b:c`: batches of b, c in flight; `lightpipe:b:c`, `lightfused:b:c`: the light stages; `N` images, default 10,000; `WORKERS`, default 2). Prints
 * each run's wall time and the process's CPU time (workers included).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { Pipeline, Task, WorkerPool } from "effect-parallel"
import { convolveImage, generateImage, sumImage } from "./kernels.ts"
import { Convolve, ConvolveImage, Generate, GenerateImage, PipelineBench, Reduce, SumImage } from "./tasks.ts"

const entry = new URL("./worker.ts", import.meta.url)
const n = Number(process.env.N ?? 10000)
const modes = (process.env.MODES ?? "serial,pipeline,barrier").split(",")
const batch = Number(process.env.BATCH ?? 16)
const conc = Number(process.env.CONC ?? 4)
const stage = { batch, concurrency: conc }

const time = async (name: string, f: () => Promise<unknown>) => {
  const cpu0 = process.cpuUsage()
  const t = performance.now()
  const r = await f()
  const s = (performance.now() - t) / 1000
  const cpu = process.cpuUsage(cpu0)
  console.log(`${name.padEnd(28)} ${s.toFixed(3)} s  process cpu ${((cpu.user + cpu.system) / 1e6).toFixed(3)} s  ${typeof r === "number" ? r.toFixed(3) : ""}`)
}

const pool = WorkerPool.layer(PipelineBench, { entry, size: Number(process.env.WORKERS ?? 2) })
const program = Effect.gen(function*() {
  const ctx = yield* Layer.build(pool)
  const run = <A>(e: Effect.Effect<A, any, any>) => Effect.runPromise(Effect.provide(e, ctx) as Effect.Effect<A>)
  const pipelined = (k: number) => Stream.range(0, k - 1).pipe(
    Pipeline.task(GenerateImage, stage),
    Pipeline.task(ConvolveImage, stage),
    Pipeline.task(SumImage, stage),
    Stream.runFold(() => 0, (a, x) => a + x))
  yield* Effect.promise(() => run(pipelined(256)))
  for (const mode of modes) {
    if (mode === "serial") yield* Effect.promise(() => time("serial", async () => { let s = 0; for (let i = 0; i < n; i++) s += sumImage(convolveImage(generateImage(i))); return s }))
    if (mode === "serialstages") {
      const imgs: Array<Float64Array> = []
      yield* Effect.promise(() => time("serial generate", async () => { for (let i = 0; i < n; i++) imgs.push(generateImage(i)) }))
      const conv: Array<Float64Array> = []
      yield* Effect.promise(() => time("serial convolve", async () => { for (let i = 0; i < n; i++) conv.push(convolveImage(imgs[i]!)) }))
      yield* Effect.promise(() => time("serial sum", async () => { let s = 0; for (let i = 0; i < n; i++) s += sumImage(conv[i]!); return s }))
    }
    if (mode.startsWith("fused:")) {
      const [, b, c] = mode.split(":").map(Number)
      yield* Effect.promise(() => time(`fused b${b} c${c}`, () => run(Stream.range(0, n - 1).pipe(
        Pipeline.task(Pipeline.fuse(GenerateImage, ConvolveImage, SumImage), { batch: b, concurrency: c }),
        Stream.runFold(() => 0, (a, x) => a + x)))))
    }
    if (mode.startsWith("light")) {
      // The light stages (32-sample signals): per-element costs dominate.
      const [kind, b, c] = mode.split(":") as [string, string, string]
      const st = { batch: Number(b), concurrency: Number(c) }
      const stream = kind === "lightfused"
        ? Stream.range(0, n - 1).pipe(Pipeline.task(Pipeline.fuse(Generate, Convolve, Reduce), st))
        : Stream.range(0, n - 1).pipe(Pipeline.task(Generate, st), Pipeline.task(Convolve, st), Pipeline.task(Reduce, st))
      yield* Effect.promise(() => time(`${kind} b${b} c${c}`, () => run(Stream.runFold(stream, () => 0, (a, x) => a + x))))
    }
    if (mode.startsWith("pipe:")) {
      const [, b, c] = mode.split(":").map(Number)
      const st = { batch: b, concurrency: c }
      yield* Effect.promise(() => time(`pipeline b${b} c${c}`, () => run(Stream.range(0, n - 1).pipe(
        Pipeline.task(GenerateImage, st), Pipeline.task(ConvolveImage, st), Pipeline.task(SumImage, st),
        Stream.runFold(() => 0, (a, x) => a + x)))))
    }
    if (mode === "fused") yield* Effect.promise(() => time(`fused b${batch} c${conc}`, () => run(Stream.range(0, n - 1).pipe(
      Pipeline.task(Pipeline.fuse(GenerateImage, ConvolveImage, SumImage), stage),
      Stream.runFold(() => 0, (a, x) => a + x)))))
    if (mode === "pipeline") yield* Effect.promise(() => time(`pipeline b${batch} c${conc}`, () => run(pipelined(n))))
    if (mode === "barrier") yield* Effect.promise(() => time("barrier", () => run(Effect.gen(function*() {
      const seeds = Array.from({ length: n }, (_, i) => i)
      const g = yield* Task.map(GenerateImage, seeds)
      const c = yield* Task.map(ConvolveImage, g)
      const r = yield* Task.map(SumImage, c)
      return r.reduce((a, b) => a + b, 0)
    }))))
    if (mode === "stages") {
      const seeds = Array.from({ length: n }, (_, i) => i)
      let g: Array<Float64Array> = [], c: Array<Float64Array> = []
      yield* Effect.promise(() => time("map generate", () => run(Effect.map(Task.map(GenerateImage, seeds), (x) => { g = x }))))
      yield* Effect.promise(() => time("map convolve", () => run(Effect.map(Task.map(ConvolveImage, g), (x) => { c = x }))))
      yield* Effect.promise(() => time("map sum", () => run(Effect.map(Task.map(SumImage, c), (x) => x.reduce((a, b) => a + b, 0)))))
    }
  }
}).pipe(Effect.scoped)
await Effect.runPromise(program)
