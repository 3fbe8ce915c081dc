/**
 * The numerical workload on a pool: Ray's "one 4×4 filter per worker over a shared 3000×3000
 * image" as effect-parallel tasks, built only on the public API.
 *
 * Contains the tasks (`Convolve` reads the image from shared memory and returns its result in
 * shared memory; `ConvolveCopied` is the same work with plain arrays, copied both ways), their
 * handlers, and one round of the benchmark (`sharedRound`, `copiedRound`, `serialRound`): every filter
 * against one image. The worker entry is `numericalWorker.ts`.
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

/** The same work with the image copied to the worker and the result copied back. */
export const ConvolveCopied = Task.make("ConvolveCopied", {
  payload: { image: CopiedMatrix, filter: CopiedMatrix, stride: Schema.Int },
  success: CopiedMatrix
})

export const NumericalTasks = Task.group(Convolve, ConvolveCopied)

export const handlers = {
  Convolve: ({ filter, image, stride }: Task.Payload<typeof Convolve>) =>
    Effect.sync(() => {
      const shape = convolve2dStridedShape(image, filter, stride)
      const out = SharedArray.makeMatrixUnsafe("Float64", shape.rows, shape.cols)
      convolve2dStrided(image, filter, out, stride)
      return out
    }),
  ConvolveCopied: ({ filter, image, stride }: Task.Payload<typeof ConvolveCopied>) =>
    Effect.sync(() => convolve2dStrided(image, filter, undefined, stride))
}

/** One round: a shared image convolved with every filter, one task per filter, in parallel. */
export const sharedRound = (
  image: SharedArray.ReadonlySharedMatrix<"Float64">,
  filters: ReadonlyArray<Matrix>,
  stride: number = DEFAULT_STRIDE
) => Task.map(Convolve, filters.map((filter) => ({ image, filter, stride })), { chunkSize: 1 })

/** One round with a plain image: copied into every task, every result copied back. */
export const copiedRound = (image: Matrix, filters: ReadonlyArray<Matrix>, stride: number = DEFAULT_STRIDE) =>
  Task.map(ConvolveCopied, filters.map((filter) => ({ image, filter, stride })), { chunkSize: 1 })

/** The serial baseline of a round: the same filters, one after the other. */
export const serialRound = (image: Matrix, filters: ReadonlyArray<Matrix>, stride: number = DEFAULT_STRIDE) =>
  filters.map((filter) => {
    const shape = convolve2dStridedShape(image, filter, stride)
    return convolve2dStrided(image, filter, makeMatrix(shape.rows, shape.cols), stride)
  })
