/**
 * The shared-arrays example's tasks: convolve an image with one filter, and combine filter
 * responses into one feature map. Imported by the caller (main.ts) and the worker (worker.ts).
 *
 * The image is declared `SharedArray.Float64Matrix`: only a handle to the caller's memory
 * crosses. `ConvolveCopied` is the same task with the image declared `memory: "copied"`, so that
 * `postMessage` copies it into the worker: the baseline shared memory is compared against.
 */
import * as Schema from "effect/Schema"
import { SharedArray, Task } from "effect-parallel/worker"
import {
  convolve2dStrided,
  convolve2dStridedShape,
  type Matrix,
  type ReadonlyMatrix
} from "../../src/workloads/convolve.ts"

/** A 4×4 filter: 16 numbers, cheaper to copy than to share. */
const Filter = SharedArray.matrix("Float64", { memory: "copied" })

/** Convolves the shared image with `filter` (stride 5); the response is made in shared memory. */
export const Convolve = Task.make("Convolve", {
  payload: { image: SharedArray.Float64Matrix, filter: Filter },
  success: SharedArray.Float64Matrix
})

/** `Convolve` with a plain image that `postMessage` copies into the worker, task by task. */
export const ConvolveCopied = Task.make("ConvolveCopied", {
  payload: { image: SharedArray.matrix("Float64", { memory: "copied" }), filter: Filter },
  success: SharedArray.Float64Matrix
})

/**
 * The per-pixel largest |response| over `responses`: results of earlier tasks, passed back in by
 * reference.
 */
export const MaxAbs = Task.make("MaxAbs", {
  payload: { responses: Schema.Array(SharedArray.Float64Matrix) },
  success: SharedArray.Float64Matrix
})

export const ImageTasks = Task.group(Convolve, ConvolveCopied, MaxAbs)

// ---------------------------------------------------------------------------------------------
// Kernels, shared by the worker and the caller's serial check
// ---------------------------------------------------------------------------------------------

/** Convolves into `out`, or into a new matrix from `alloc` of the response's shape. */
export const convolve = <M extends Matrix>(
  image: ReadonlyMatrix,
  filter: ReadonlyMatrix,
  alloc: (rows: number, cols: number) => M
): M => {
  const { cols, rows } = convolve2dStridedShape(image, filter)
  return convolve2dStrided(image, filter, alloc(rows, cols)) as M
}

export const maxAbs = <M extends Matrix>(
  responses: ReadonlyArray<ReadonlyMatrix>,
  alloc: (rows: number, cols: number) => M
): M => {
  const first = responses[0]!
  const out = alloc(first.rows, first.cols)
  for (const response of responses) {
    for (let i = 0; i < out.data.length; i++) {
      const v = Math.abs(response.data[i]!)
      if (v > out.data[i]!) out.data[i] = v
    }
  }
  return out
}
