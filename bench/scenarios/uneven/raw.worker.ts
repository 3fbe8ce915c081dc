/** A hand-written worker: one task a message, answered as it ends. */
import { parentPort } from "node:worker_threads"
import { work } from "./kernel.ts"

parentPort!.postMessage("ready")
parentPort!.on("message", (task: { readonly id: number; readonly iterations: number }) =>
  parentPort!.postMessage({ id: task.id, value: work(task.iterations) }))
