/**
 * The pipeline's garbage collection without the library: two bare threads run `ceiling.ts`'s loop
 * over 10,000 images with `BALLAST` MB of live objects on each heap (standing in for the modules a
 * worker that loads Effect keeps), `GARBAGE` bytes of short-lived JS objects per image (a task's
 * bookkeeping) and a return to the event loop every `CHUNK` images (a worker fed by messages);
 * `YOUNG` sets `maxYoungGenerationSizeMb`. Run with `--trace-gc` to count the collections:
 * `BALLAST=12 GARBAGE=3000 CHUNK=64 YOUNG=16 node --trace-gc bench/scenarios/pipeline/gc-model.ts`.
 * Prints `START` before each timed run and `RESULT …` after it.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"
import * as fs from "node:fs"
import { convolveImage, generateImage, sumImage } from "./kernels.ts"
if (!isMainThread) {
  const { ballast, garbage, chunk } = workerData as { ballast: number; garbage: number; chunk: number }
  const keep: Array<unknown> = []
  for (let i = 0; i < ballast * 1e6 / 100; i++) keep.push({ a: i, b: [i], c: () => i })
  ;(globalThis as any).keep = keep
  let sink: unknown
  const one = (i: number) => { const s = sumImage(convolveImage(generateImage(i))); for (let g = 0; g < garbage / 32; g++) sink = { i, g }; return s }
  const run = async (from: number, to: number, step: number) => {
    let s = 0, k = 0
    for (let i = from; i < to; i += step) { s += one(i); if (chunk > 0 && ++k % chunk === 0) await new Promise((r) => setImmediate(r)) }
    return s
  }
  parentPort!.on("message", async (m) => parentPort!.postMessage(await run(m.from, m.to, m.step)))
} else {
  const ballast = Number(process.env.BALLAST ?? 0), garbage = Number(process.env.GARBAGE ?? 0), chunk = Number(process.env.CHUNK ?? 0), young = process.env.YOUNG
  const ws = [0, 1].map(() => new Worker(new URL(import.meta.url), { workerData: { ballast, garbage, chunk }, ...(young ? { resourceLimits: { maxYoungGenerationSizeMb: Number(young) } } : {}) }))
  const run = (w: Worker, m: object) => new Promise<any>((r) => { w.once("message", r); w.postMessage(m) })
  const cpu = () => { let t = 0; for (const d of fs.readdirSync("/proc/self/task")) { try { t += Number(fs.readFileSync(`/proc/self/task/${d}/schedstat`, "utf8").split(" ")[0]) } catch {} } return t / 1e6 }
  await Promise.all(ws.map((w, k) => run(w, { from: k, to: 2000, step: 2 })))
  for (let rep = 0; rep < 3; rep++) {
    console.log("START")
    const t = performance.now(), c = cpu()
    await Promise.all(ws.map((w, k) => run(w, { from: k, to: 10000, step: 2 })))
    console.log(`RESULT ballast ${ballast} garbage ${garbage} chunk ${chunk} young ${young ?? "v8"}: ${(performance.now() - t).toFixed(0)} ms, cpu ${(cpu() - c).toFixed(0)} ms`)
  }
  for (const w of ws) await w.terminate()
}
