/** A hand-written child process: one task a message over the IPC channel, answered as it ends. */
import { work } from "./kernel.ts"

process.send!("ready")
process.on("message", (task: { readonly id: number; readonly iterations: number }) => {
  process.send!({ id: task.id, value: work(task.iterations) })
})
