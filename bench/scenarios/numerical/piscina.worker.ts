/**
 * Piscina worker for the numerical scenario: the same kernel, on a cloned image or on a view of
 * a hand-made SharedArrayBuffer; a shared image gets its result in shared memory too.
 */
import { convolve2dStrided, convolve2dStridedShape, makeMatrix } from "../../../src/workloads/convolve.ts"

export interface PiscinaConvolveInput {
  readonly image: Float64Array<ArrayBufferLike>
  readonly rows: number
  readonly cols: number
  readonly filter: Float64Array
  readonly filterSize: number
  readonly stride: number
}

export default ({ cols, filter, filterSize, image, rows, stride }: PiscinaConvolveInput) => {
  const imageMatrix = { rows, cols, data: image }
  const filterMatrix = { rows: filterSize, cols: filterSize, data: filter }
  const shape = convolve2dStridedShape(imageMatrix, filterMatrix, stride)
  const storage = image.buffer instanceof SharedArrayBuffer
    ? new Float64Array(new SharedArrayBuffer(shape.rows * shape.cols * 8))
    : undefined
  const out = convolve2dStrided(imageMatrix, filterMatrix, makeMatrix(shape.rows, shape.cols, storage), stride)
  return out.data
}
