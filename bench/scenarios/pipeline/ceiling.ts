/**
 * The pipeline scenario's ceiling on this machine: the serial loop (generate → convolve → sum per
 * image) on the caller's thread, on one bare worker thread, and split over two bare worker threads
 * (even and odd images), three times. No library, no messages but one per half: what two cores
 * give this workload at best. `node bench/scenarios/pipeline/ceiling.ts`
 */
import { isMainThread, parentPort, Worker } from "node:worker_threads"
import { convolveImage, generateImage, sumImage } from "./kernels.ts"
const loop = (from: number, to: number, step: number) => { let s = 0; for (let i = from; i < to; i += step) s += sumImage(convolveImage(generateImage(i))); return s }
if (!isMainThread) {
  parentPort!.on("message", (m) => parentPort!.postMessage(loop(m.from, m.to, m.step)))
} else {
  const n = 10000
  const ws = [0, 1].map(() => new Worker(new URL(import.meta.url)))
  const run = (w: Worker, m: object) => new Promise<number>((r) => { w.once("message", r); w.postMessage(m) })
  await Promise.all(ws.map((w, k) => run(w, { from: k, to: 2000, step: 2 })))
  for (let rep = 0; rep < 3; rep++) {
    let t = performance.now(); loop(0, n, 1); const serial = performance.now() - t
    t = performance.now(); await run(ws[0]!, { from: 0, to: n, step: 1 }); const one = performance.now() - t
    t = performance.now(); await Promise.all(ws.map((w, k) => run(w, { from: k, to: n, step: 2 }))); const two = performance.now() - t
    console.log(`serial ${serial.toFixed(0)} ms, one worker ${one.toFixed(0)} ms, two workers ${two.toFixed(0)} ms: ${(serial / two).toFixed(2)}x`)
  }
  for (const w of ws) await w.terminate()
}
