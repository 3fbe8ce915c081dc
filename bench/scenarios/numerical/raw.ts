/**
 * `raw-threads/shared` — the floor of what a hand-written program can reach, no library: one
 * plain `worker_threads` Worker per filter, one `SharedArrayBuffer` image refilled every round
 * (random images) or a new one per round (zero images: a new buffer is zero, which is free until
 * touched, the cheapest a hand-written `np.zeros` can be), outputs in shared memory made once and
 * rewritten every round, an id-only reply.
 */
import { Worker } from "node:worker_threads"
import { convolve2dStridedShape, DEFAULT_STRIDE, makeMatrix, type Matrix, randomImage } from "../../../src/workloads/convolve.ts"
import type { RawConvolveRequest } from "./raw.worker.ts"
import type { NumericalVariant } from "./variant.ts"

const script = new URL("./raw.worker.ts", import.meta.url)

const rawShared: NumericalVariant = {
  name: "raw-threads/shared",
  config: "one worker_threads Worker per filter; one SharedArrayBuffer image refilled every round; outputs in SABs made once",
  setup: async (workers) => {
    const threads = Array.from({ length: workers }, () => new Worker(script))
    // Ready once every thread has loaded the kernel, as the other variants' setup.
    await Promise.all(threads.map((thread) => new Promise((resolve) => thread.once("message", resolve))))
    let image: Float64Array<SharedArrayBuffer> | undefined
    let outputs: Array<Matrix> = []
    let nextId = 0
    const run = (thread: Worker, request: RawConvolveRequest) =>
      new Promise<void>((resolve, reject) => {
        const onMessage = (id: number) => {
          if (id !== request[0]) return
          thread.off("message", onMessage)
          thread.off("error", reject)
          resolve()
        }
        thread.on("message", onMessage)
        thread.once("error", reject)
        thread.postMessage(request)
      })
    return {
      round: async ({ cols, filters, image: kind, imageSeed, rows }) => {
        const t0 = performance.now()
        if (kind === "zero" || image === undefined || image.length !== rows * cols) {
          image = new Float64Array(new SharedArrayBuffer(rows * cols * 8))
        }
        if (kind === "random") randomImage(rows, cols, imageSeed, image)
        const shape = convolve2dStridedShape({ rows, cols, data: image }, filters[0]!)
        if (outputs.length !== filters.length || outputs[0]!.rows !== shape.rows || outputs[0]!.cols !== shape.cols) {
          outputs = filters.map(() =>
            makeMatrix(shape.rows, shape.cols, new Float64Array(new SharedArrayBuffer(shape.rows * shape.cols * 8)))
          )
        }
        const t1 = performance.now()
        await Promise.all(filters.map((filter, i) =>
          run(threads[i % threads.length]!, [
            nextId++,
            image!,
            rows,
            cols,
            filter.data as Float64Array,
            filter.rows,
            outputs[i]!.data as Float64Array<SharedArrayBuffer>,
            shape.rows,
            shape.cols,
            DEFAULT_STRIDE
          ])
        ))
        return { outputs, imageMs: t1 - t0, convolveMs: performance.now() - t1 }
      },
      close: async () => {
        await Promise.all(threads.map((thread) => thread.terminate()))
      }
    }
  }
}

export const variants: ReadonlyArray<NumericalVariant> = [rawShared]
