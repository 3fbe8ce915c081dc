/**
 * Raw child process for the `overhead` scenario (`raw-ipc.ts`).
 *
 * Request `[id, a, b]` -> reply `[id, a + b]`, one IPC message each way per task.
 */
process.on("message", (request: readonly [number, number, number]) => {
  process.send!([request[0], request[1] + request[2]])
})
