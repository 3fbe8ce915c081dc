/**
 * The first module a pool's worker thread runs: loads the worker entry named in `workerData`,
 * then hands every message to a `WorkerRuntime`.
 */
import module from "node:module"
import { getHeapStatistics } from "node:v8"
import { type MessagePort, parentPort, workerData } from "node:worker_threads"
import { lowerThisThread } from "./priority.ts"

// Every worker imports the same effect modules; the compile cache makes the second start cheap.
module.enableCompileCache?.()

const { entry, nice, recycleAboveHeapBytes, replies, tasksTaken, workerId } = workerData as {
  readonly entry: string
  /** The pool's `recycleAboveHeapMb` in bytes, if set (WorkerRuntime's rule 6). */
  readonly recycleAboveHeapBytes: number | undefined
  readonly workerId: number
  /** Where everything this worker says goes (see `ThreadBackend.ts`). */
  readonly replies: MessagePort
  /**
   * Shared with the pool: the count of tasks taken off the queue (the Dispatcher's rule 7), then
   * the time busy in µs (WorkerRuntime's rule 9), an Int32 each.
   */
  readonly tasksTaken: SharedArrayBuffer
  /** The pool's `nice`, if set: applied before the entry loads, so its threads inherit it. */
  readonly nice: number | undefined
}
if (nice !== undefined) lowerThisThread(nice)
const port = parentPort!

const [{ hostEntry }, { Op }] = await Promise.all([import("./hostEntry.ts"), import("../protocol/protocol.ts")])

const runtime = await hostEntry(entry, workerId, (message, transfer) => replies.postMessage(message, transfer), {
  tasksTaken: new Int32Array(tasksTaken, 0, 1),
  busyMicros: new Int32Array(tasksTaken, 4, 1),
  heapThreshold: recycleAboveHeapBytes === undefined
    ? undefined
    : { bytes: recycleAboveHeapBytes, used: () => getHeapStatistics().used_heap_size }
})

if (runtime !== undefined) {
  // A handler that calls `process.exit`, or an uncaught error, ends the thread: the answers of the
  // tasks that finished before it still go out (the pool then loses only the running one).
  process.on("exit", () => runtime.flush())
  port.on("message", (message) => {
    if (message[0] === Op.Shutdown) {
      // Exit explicitly: handles the user's code left open must not keep the thread alive.
      void runtime.shutdown(message[1]).then(() => process.exit(0))
    } else {
      runtime.receive(message)
    }
  })
  await runtime.start()
}
