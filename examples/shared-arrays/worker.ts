/**
 * The shared-arrays example's worker entry. Handlers read their image in place (a read-only view
 * of the caller's memory) and make each result with `SharedArray.makeMatrixUnsafe`, so the caller
 * receives it by reference too.
 */
import * as Effect from "effect/Effect"
import { SharedArray, Worker } from "effect-parallel/worker"
import { convolve, ImageTasks, maxAbs } from "./tasks.ts"

const shared = (rows: number, cols: number) => SharedArray.makeMatrixUnsafe("Float64", rows, cols)

export default Worker.serve(ImageTasks, {
  Convolve: ({ filter, image }) => Effect.sync(() => convolve(image, filter, shared)),
  ConvolveCopied: ({ filter, image }) => Effect.sync(() => convolve(image, filter, shared)),
  MaxAbs: ({ responses }) => Effect.sync(() => maxAbs(responses, shared))
})
