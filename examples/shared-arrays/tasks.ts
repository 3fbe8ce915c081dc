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

/** A matrix a kernel writes: a plain one (the caller's check) or one in shared memory (a worker's result). */
export interface Matrix {
  readonly rows: number
  readonly cols: number
  readonly data: Float64Array<ArrayBufferLike>
}

/** A matrix a kernel only reads: a plain one, or a handler's read-only view of shared memory. */
export type ReadonlyMatrix = SharedArray.ReadonlyMatrixView<"Float64">

/** Every `stride`-th row and column of the full convolution are kept (`convolve2d(image, filter)[::5, ::5]`). */
const stride = 5

/**
 * The full 2-D convolution of `image` with `filter` (zero padding), keeping every 5th row and
 * column, into a new matrix from `alloc` of the response's shape.
 */
export const convolve = <M extends Matrix>(
  image: ReadonlyMatrix,
  filter: ReadonlyMatrix,
  alloc: (rows: number, cols: number) => M
): M => {
  const { cols: width, data: pixels, rows: height } = image
  const { cols: fw, data: taps, rows: fh } = filter
  const out = alloc(Math.ceil((height + fh - 1) / stride), Math.ceil((width + fw - 1) / stride))
  const result = out.data
  for (let r = 0; r < out.rows; r++) {
    const y = r * stride
    // The filter rows whose taps land inside the image, for this output row.
    const mFrom = Math.max(0, y - height + 1)
    const mTo = Math.min(fh - 1, y)
    for (let c = 0; c < out.cols; c++) {
      const x = c * stride
      const nFrom = Math.max(0, x - width + 1)
      const nTo = Math.min(fw - 1, x)
      let sum = 0
      for (let m = mFrom; m <= mTo; m++) {
        const row = (y - m) * width + x
        for (let n = nFrom; n <= nTo; n++) sum += pixels[row - n]! * taps[m * fw + n]!
      }
      result[r * out.cols + c] = sum
    }
  }
  return out
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
