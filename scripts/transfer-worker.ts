/**
 * The worker entry of `scripts/transfer.ts`: makes a fresh array per task and returns it moved or
 * copied.
 */
import * as Effect from "effect/Effect"
import { Worker } from "../src/index.ts"
import { TransferTasks } from "./transfer-tasks.ts"

const make = (length: number) => {
  const out = new Float64Array(length)
  out[0] = 1
  out[length - 1] = 2
  return out
}

export default Worker.serve(TransferTasks, {
  MakeMoved: ({ length }) => Effect.sync(() => make(length)),
  MakeCopied: ({ length }) => Effect.sync(() => make(length)),
  EchoMoved: ({ values }) => Effect.succeed(values),
  EchoCopied: ({ values }) => Effect.succeed(values)
})
