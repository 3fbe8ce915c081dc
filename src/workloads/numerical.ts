/**
 * The numerical workload on a pool: Ray's "one 4×4 filter per worker over a shared 3000×3000
 * image" as effect-parallel tasks, built only on the public API.
 *
 * Contains one round of the benchmark each way (`sharedRound`, `sharedRoundInto`, `copiedRound`,
 * `serialRound`): every filter against one image. The tasks (`Convolve` reads the image from shared
 * memory and returns its result in shared memory; `ConvolveInto` writes into an output the caller
 * lends; `ConvolveCopied` is the same work with plain arrays, copied both ways) and their handlers
 * live in `numericalTasks.ts`, re-exported here; the worker entry is `numericalWorker.ts`.
 */
import * as Effect from "effect/Effect"
import { SharedArray, Task } from "../index.ts"
import { convolve2dStrided, convolve2dStridedShape, DEFAULT_STRIDE, type Matrix, makeMatrix } from "./convolve.ts"
import { Convolve, ConvolveCopied, ConvolveInto } from "./numericalTasks.ts"

export { Convolve, ConvolveCopied, ConvolveInto, handlers, NumericalTasks } from "./numericalTasks.ts"

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
