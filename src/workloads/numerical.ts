/**
 * The numerical workload on a pool: Ray's "one 4×4 filter per worker over a shared 3000×3000
 * image" as effect-parallel tasks, built only on the public API.
 *
 * Contains the tasks (`Convolve` reads the image from shared memory and returns its result in
 * shared memory; `ConvolveInto` writes into an output the caller lends; `ConvolveCopied` is the
 * same work with plain arrays, copied both ways), their handlers, and one round of the benchmark
 * each way (`sharedRound`, `sharedRoundInto`, `copiedRound`, `serialRound`): every filter against
 * one image. The worker entry is `numericalWorker.ts`.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { SharedArray, Task } from "../index.ts"
import { convolve2dStrided, convolve2dStridedShape, DEFAULT_STRIDE, type Matrix, makeMatrix } from "./convolve.ts"

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

/** One round: a shared image convolved with every filter, one task per filter, in parallel. */
export const sharedRound = (
  image: SharedArray.ReadonlySharedMatrix<"Float64">,
  filters: ReadonlyArray<Matrix>,
  stride: number = DEFAULT_STRIDE
) => Task.map(Convolve, filters.map((filter) => ({ image, filter, stride })), { chunkSize: 1 })

/**
 * One round into outputs the caller made (one per filter, each of `convolve2dStridedShape`):
 * nothing is allocated per task, and the results are read where the workers wrote them.
 */
export const sharedRoundInto = (
  image: SharedArray.ReadonlySharedMatrix<"Float64">,
  filters: ReadonlyArray<Matrix>,
  outs: ReadonlyArray<SharedArray.SharedMatrix<"Float64">>,
  stride: number = DEFAULT_STRIDE
) => Task.map(ConvolveInto, filters.map((filter, i) => ({ image, filter, stride, out: outs[i]! })), { chunkSize: 1 })

/** One round with a plain image: copied into every task, every result copied back. */
export const copiedRound = (image: Matrix, filters: ReadonlyArray<Matrix>, stride: number = DEFAULT_STRIDE) =>
  Task.map(ConvolveCopied, filters.map((filter) => ({ image, filter, stride })), { chunkSize: 1 })

/** The serial baseline of a round: the same filters, one after the other. */
export const serialRound = (image: Matrix, filters: ReadonlyArray<Matrix>, stride: number = DEFAULT_STRIDE) =>
  filters.map((filter) => {
    const shape = convolve2dStridedShape(image, filter, stride)
    return convolve2dStrided(image, filter, makeMatrix(shape.rows, shape.cols), stride)
  })
