/**
 * The numerical workload's tasks and their handlers: what the worker entry (`numericalWorker.ts`)
 * serves. Kept apart from the rounds (`numerical.ts`), which run them from the caller: a worker
 * loads only `effect-parallel/worker`, as users' workers do, not the whole package (41 MB of heap
 * after load instead of 24, measured on the overhead bench's worker).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { SharedArray, Task } from "../worker.ts"
import { convolve2dStrided, convolve2dStridedShape } from "./convolve.ts"

const CopiedMatrix = SharedArray.matrix("Float64", { memory: "copied" })

/** `convolve2d(image, filter)[::stride, ::stride]` over a shared image, into a shared result. */
export const Convolve = Task.make("Convolve", {
  payload: { image: SharedArray.Float64Matrix, filter: CopiedMatrix, stride: Schema.Int },
  success: SharedArray.Float64Matrix
})

/**
 * The same over a shared image, writing into an output the caller lends (`memory: "output"`):
 * the caller reads the result in place, and its memory comes from the caller's arena, reused
 * round after round instead of a new buffer per task.
 */
export const ConvolveInto = Task.make("ConvolveInto", {
  payload: {
    image: SharedArray.Float64Matrix,
    filter: CopiedMatrix,
    stride: Schema.Int,
    out: SharedArray.matrix("Float64", { memory: "output" })
  }
})

/** The same work with the image copied to the worker and the result copied back. */
export const ConvolveCopied = Task.make("ConvolveCopied", {
  payload: { image: CopiedMatrix, filter: CopiedMatrix, stride: Schema.Int },
  success: CopiedMatrix
})

export const NumericalTasks = Task.group(Convolve, ConvolveInto, ConvolveCopied)

export const handlers = {
  Convolve: ({ filter, image, stride }: Task.Payload<typeof Convolve>) =>
    Effect.sync(() => {
      const shape = convolve2dStridedShape(image, filter, stride)
      const out = SharedArray.makeMatrixUnsafe("Float64", shape.rows, shape.cols)
      convolve2dStrided(image, filter, out, stride)
      return out
    }),
  ConvolveInto: ({ filter, image, out, stride }: Task.Payload<typeof ConvolveInto>) =>
    Effect.sync(() => void convolve2dStrided(image, filter, out, stride)),
  ConvolveCopied: ({ filter, image, stride }: Task.Payload<typeof ConvolveCopied>) =>
    Effect.sync(() => convolve2dStrided(image, filter, undefined, stride))
}
