/**
 * Raw `worker_threads` actor for the `stateful` scenario: owns one
 * counter (`workerData.counter`: its shape) and answers the messages of `raw.ts`.
 *
 * Request `[id, op, arg]` -> reply `[id, 0, value]` or `[id, 1, error message]`.
 * `parentPort` delivers messages in order and each is handled to completion
 * before the next, so calls take effect in arrival order with no queue of
 * our own.
 */
import { parentPort, workerData } from "node:worker_threads"
import { type CounterKind, makePrefixCount } from "../../../src/workloads/prefixCount.ts"
import type { Request } from "./raw.ts"

const port = parentPort!
const kind = (workerData as { counter: CounterKind }).counter
let state = makePrefixCount(kind)

const handle = ([, op, arg]: Request): unknown => {
  switch (op) {
    case "reset":
      state = makePrefixCount(kind)
      return null
    case "add":
      state.add(arg)
      return null
    case "popular":
      return [...state.popular()]
    case "count":
      return state.count(arg)
  }
}

port.on("message", (request: Request) => {
  try {
    port.postMessage([request[0], 0, handle(request)])
  } catch (error) {
    port.postMessage([request[0], 1, error instanceof Error ? error.stack ?? error.message : String(error)])
  }
})
