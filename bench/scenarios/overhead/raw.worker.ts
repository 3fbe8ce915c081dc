/**
 * Raw `worker_threads` worker for the `overhead` scenario.
 *
 * Request `[id, a, b]` -> reply `[id, a + b]`, one message each way per task.
 */
import { parentPort } from "node:worker_threads"

const port = parentPort!
port.on("message", (request: readonly [number, number, number]) => {
  port.postMessage([request[0], request[1] + request[2]])
})
