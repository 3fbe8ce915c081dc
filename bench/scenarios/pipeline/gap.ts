/**
 * Where the fused pipeline's time goes against two bare threads: the same 10,000 images run seven
 * ways, each in a fresh process, the ways alternated `ROUNDS` times, and for every run the wall time
 * and the CPU time of each kind of thread (`/proc/self/task/<tid>/schedstat`): the caller
 * (`MainThread`), the workers (`WorkerThread`), and V8's helper threads (`V8Worker`: concurrent
 * marking and sweeping, background compilation). Prints each way's medians.
 *
 * - `serial`: the serial loop over all images on the main thread (what the ratios are against);
 * - `bare`: `ceiling.ts`'s split, two bare `worker_threads` each running the serial loop over half
 *   the images (no library);
 * - `loop`: the same loop as one task per worker on our pool (`ImageLoop`): our worker, no per-image work;
 * - `loop64`: `Pipeline.task(ImageLoop)` over chunks of 64 images, 4 in flight: the stream, the
 *   messages and the per-task path of the fused row, without a task per image;
 * - `one`: one plain task per image (`ImageLoop` over one image), batches of 64, 4 in flight;
 * - `fused`: the bench's row, `Pipeline.task(Pipeline.fuse(GenerateImage, ConvolveImage, SumImage))`;
 * - `barrier`: the bench's `barrier` row, a `Task.map` of each stage over every image in turn.
 *
 * `MODES=serial,bare,fused ROUNDS=5 RUNS=2 N=10000 WORKERS=2 node --conditions=effect-parallel-source
 * bench/scenarios/pipeline/gap.ts`; `YOUNG=<MB>` sets the pool's `maxYoungGenerationSizeMb` (the
 * bare threads' too), `CHUNK` the images of a `loop64` task (64), `BATCH` and `CONC` the `batch` and
 * `concurrency` of the `one` and `fused` stages (64 and 4, the library's defaults). Every process warms up on 1,000
 * images first. Columns: medians of wall and CPU milliseconds, and of minor page faults. Only on
 * Linux (schedstat).
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { isMainThread, parentPort, Worker } from "node:worker_threads"
import { convolveImage, generateImage, sumImage } from "./kernels.ts"

const n = Number(process.env.N ?? 10000)
const runs = Number(process.env.RUNS ?? 2)
const workers = Number(process.env.WORKERS ?? 2)
/** `loop64`'s images per task (`CHUNK`, default 64). */
const chunk = Number(process.env.CHUNK ?? 64)
const young = process.env.YOUNG === undefined ? undefined : Number(process.env.YOUNG)
const loop = (first: number, count: number, step: number) => {
  let sum = 0
  for (let k = 0, i = first; k < count; k++, i += step) sum += sumImage(convolveImage(generateImage(i)))
  return sum
}

/** CPU milliseconds so far, by thread name. */
const cpuByThread = (): Map<string, { readonly name: string; readonly ms: number; readonly faults: number }> => {
  const out = new Map<string, { name: string; ms: number; faults: number }>()
  for (const tid of fs.readdirSync("/proc/self/task")) {
    try {
      const name = fs.readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim()
      const ms = Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, "utf8").split(" ")[0]) / 1e6
      // Minor page faults: the 10th field of stat, after the parenthesized name.
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8")
      const faults = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7])
      out.set(tid, { name, ms, faults })
    } catch {
      // a thread that ended meanwhile
    }
  }
  return out
}

const timed = async (mode: string, body: (k: number) => Promise<number>) => {
  await body(Math.min(n, 1000))
  for (let r = 0; r < runs; r++) {
    const before = cpuByThread()
    const start = performance.now()
    const sum = await body(n)
    const wall = performance.now() - start
    const by: Record<string, number> = {}
    for (const [tid, { faults, ms, name }] of cpuByThread()) {
      const key = name === "MainThread" || name === "WorkerThread" || name === "V8Worker" ? name : "other"
      by[key] = (by[key] ?? 0) + ms - (before.get(tid)?.ms ?? 0)
      by.faults = (by.faults ?? 0) + faults - (before.get(tid)?.faults ?? 0)
    }
    console.log(JSON.stringify({ mode, wall, sum, ...by }))
  }
}

const child = async (mode: string) => {
  if (mode === "serial") return timed(mode, async (k) => loop(0, k, 1))
  if (mode === "bare") {
    const threads = Array.from({ length: workers }, () =>
      new Worker(new URL(import.meta.url), young === undefined ? {} : { resourceLimits: { maxYoungGenerationSizeMb: young } }))
    const ask = (w: Worker, m: object) => new Promise<number>((resolve) => { w.once("message", resolve); w.postMessage(m) })
    await timed(mode, async (k) => {
      const sums = await Promise.all(threads.map((w, i) => ask(w, { first: i, count: Math.ceil((k - i) / workers), step: workers })))
      return sums.reduce((a, b) => a + b, 0)
    })
    for (const w of threads) await w.terminate()
    return
  }
  const Effect = await import("effect/Effect")
  const Layer = await import("effect/Layer")
  const Stream = await import("effect/Stream")
  const { Pipeline, Task, WorkerPool } = await import("effect-parallel")
  const { ConvolveImage, GenerateImage, ImageLoop, PipelineBench, SumImage } = await import("./tasks.ts")
  const entry = new URL("./worker.ts", import.meta.url)
  const pool = WorkerPool.layer(PipelineBench, {
    entry,
    size: workers,
    ...(young === undefined ? {} : { resourceLimits: { maxYoungGenerationSizeMb: young } })
  })
  const stage = { batch: Number(process.env.BATCH ?? 64), concurrency: Number(process.env.CONC ?? 4) }
  const fused = Pipeline.fuse(GenerateImage, ConvolveImage, SumImage)
  const sumOf = <E, R>(stream: import("effect/Stream").Stream<number, E, R>) => Stream.runFold(stream, () => 0, (a: number, x: number) => a + x)
  await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(pool)
    const run = <A>(effect: import("effect/Effect").Effect<A, unknown, any>) => Effect.runPromise(Effect.provide(effect, context) as import("effect/Effect").Effect<A>)
    const body = (k: number): Promise<number> => {
      switch (mode) {
        case "loop":
          return run(Effect.map(
            Task.map(ImageLoop, Array.from({ length: workers }, (_, i) => ({ first: i, count: Math.ceil((k - i) / workers), step: workers })), { chunkSize: 1 }),
            (sums) => sums.reduce((a, b) => a + b, 0)
          ))
        case "loop64":
          return run(sumOf(Stream.range(0, Math.ceil(k / chunk) - 1).pipe(
            Stream.map((c) => ({ first: c * chunk, count: Math.min(chunk, k - c * chunk), step: 1 })),
            Pipeline.task(ImageLoop, { batch: 1, concurrency: 4 })
          )))
        case "one":
          return run(sumOf(Stream.range(0, k - 1).pipe(
            Stream.map((i) => ({ first: i, count: 1, step: 1 })),
            Pipeline.task(ImageLoop, stage)
          )))
        case "fused":
          return run(sumOf(Stream.range(0, k - 1).pipe(Pipeline.task(fused, stage))))
        case "barrier":
          return run(Effect.gen(function*() {
            const images = yield* Task.map(GenerateImage, Array.from({ length: k }, (_, i) => i))
            const convolved = yield* Task.map(ConvolveImage, images)
            const sums = yield* Task.map(SumImage, convolved)
            return sums.reduce((a, b) => a + b, 0)
          }))
        default:
          throw new Error(`unknown mode ${mode}`)
      }
    }
    yield* Effect.promise(() => timed(mode, body))
  })))
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

if (!isMainThread) {
  parentPort!.on("message", (m: { first: number; count: number; step: number }) => parentPort!.postMessage(loop(m.first, m.count, m.step)))
} else if (process.argv[2] === "--child") {
  await child(process.argv[3]!)
} else {
  const modes = (process.env.MODES ?? "bare,loop,loop64,one,fused").split(",")
  const rounds = Number(process.env.ROUNDS ?? 3)
  const rows: Array<Record<string, number | string>> = []
  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) {
      const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "--child", mode], { encoding: "utf8" })
      for (const line of out.split("\n")) if (line.startsWith("{")) rows.push(JSON.parse(line))
    }
  }
  const fmt = (x: number) => x.toFixed(0).padStart(6)
  console.log(`${n} images, ${workers} workers, ${rounds} rounds × ${runs} runs, medians (ms); young generation ${young ?? "the pool's default"}`)
  console.log("mode        wall   cpu  caller  workers  V8 helpers  page faults  vs serial")
  const serialWall = modes.includes("serial") ? median(rows.filter((r) => r.mode === "serial").map((r) => Number(r.wall))) : undefined
  for (const mode of modes) {
    const mine = rows.filter((r) => r.mode === mode)
    const col = (k: string) => median(mine.map((r) => Number(r[k] ?? 0)))
    const cpu = median(mine.map((r) => Number(r.MainThread ?? 0) + Number(r.WorkerThread ?? 0) + Number(r.V8Worker ?? 0) + Number(r.other ?? 0)))
    console.log(`${mode.padEnd(8)} ${fmt(col("wall"))} ${fmt(cpu)}  ${fmt(col("MainThread"))}   ${fmt(col("WorkerThread"))}      ${fmt(col("V8Worker"))}  ${fmt(col("faults"))}${serialWall === undefined ? "" : `      ${(serialWall / col("wall")).toFixed(2)}x`}`)
  }
}
