/**
 * `piscina/clone` — Piscina (threads pinned to `workers`) with the image as a plain
 * `Float64Array` in each task: structured clone copies it into every task.
 *
 * `piscina/shared` — what a careful Node user writes by hand: one `SharedArrayBuffer` allocated
 * once and refilled every round (a fresh one per round would pile up until every worker's GC
 * runs), passed as a view; results come back in shared memory.
 */
import { Piscina } from "piscina"
import { DEFAULT_STRIDE, randomImage } from "../../../src/workloads/convolve.ts"
import type { PiscinaConvolveInput } from "./piscina.worker.ts"
import type { NumericalVariant } from "./variant.ts"

const filename = new URL("./piscina.worker.ts", import.meta.url).href

const make = (name: string, config: string, shared: boolean): NumericalVariant => ({
  name,
  config,
  setup: async (workers) => {
    const pool = new Piscina<PiscinaConvolveInput, Float64Array>({
      filename,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: 60_000
    })
    let buffer: SharedArrayBuffer | undefined
    return {
      round: async ({ cols, filters, image: kind, imageSeed, rows }) => {
        const t0 = performance.now()
        let image: Float64Array<ArrayBufferLike>
        if (shared) {
          // Zero images: a new buffer per round, as for raw threads (see raw.ts).
          if (kind === "zero" || buffer === undefined || buffer.byteLength !== rows * cols * 8) {
            buffer = new SharedArrayBuffer(rows * cols * 8)
          }
          image = new Float64Array(buffer)
        } else {
          image = new Float64Array(rows * cols)
        }
        if (kind === "random") randomImage(rows, cols, imageSeed, image)
        const t1 = performance.now()
        const results = await Promise.all(filters.map((filter) =>
          pool.run({ image, rows, cols, filter: filter.data as Float64Array, filterSize: filter.rows, stride: DEFAULT_STRIDE })
        ))
        const convolveMs = performance.now() - t1
        const outRows = Math.ceil((rows + filters[0]!.rows - 1) / DEFAULT_STRIDE)
        const outCols = Math.ceil((cols + filters[0]!.cols - 1) / DEFAULT_STRIDE)
        return {
          outputs: results.map((data) => ({ rows: outRows, cols: outCols, data })),
          imageMs: t1 - t0,
          convolveMs
        }
      },
      close: () => pool.destroy()
    }
  }
})

export const variants: ReadonlyArray<NumericalVariant> = [
  make("piscina/clone", "minThreads = maxThreads = workers; image cloned into every task", false),
  make("piscina/shared", "minThreads = maxThreads = workers; one hand-made SharedArrayBuffer reused every round; results in SABs", true)
]
