/**
 * Raw `worker_threads` worker for the numerical scenario: convolves the shared image with the
 * filter it is sent, into the shared output it is lent, and answers with the request id. Says
 * `"ready"` once loaded.
 */
import { parentPort } from "node:worker_threads"
import { convolve2dStrided } from "../../../src/workloads/convolve.ts"

/** `[id, image, rows, cols, filter (size × size), size, out, outRows, outCols, stride]` */
export type RawConvolveRequest = readonly [
  id: number,
  image: Float64Array<SharedArrayBuffer>,
  rows: number,
  cols: number,
  filter: Float64Array,
  size: number,
  out: Float64Array<SharedArrayBuffer>,
  outRows: number,
  outCols: number,
  stride: number
]

const port = parentPort!
port.on("message", ([id, image, rows, cols, filter, size, out, outRows, outCols, stride]: RawConvolveRequest) => {
  convolve2dStrided(
    { rows, cols, data: image },
    { rows: size, cols: size, data: filter },
    { rows: outRows, cols: outCols, data: out },
    stride
  )
  port.postMessage(id)
})
port.postMessage("ready")
