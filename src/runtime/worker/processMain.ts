/**
 * The first module a pool's child process runs (`ProcessBackend`): loads the worker entry, then
 * hands every message from the IPC channel to a `WorkerRuntime`.
 *
 * `node processMain.ts <entry URL> <workerId> <status fd> [recycle above heap MB] [nice]`. The
 * status file (unlinked, open on that descriptor; laid out in `statusFile.ts`) is how the child
 * tells the pool what shared memory tells it on threads: the count of tasks taken off the queue,
 * the time it has been busy, and an uncaught error's text, written as it ends the process (so the
 * pool reports `Crashed`, not an exit code).
 */
import module from "node:module"
import { uncaughtText } from "../internal/errorText.ts"
import { busyAt, crashTextAt, takenAt } from "../protocol/statusFile.ts"
import { lowerThisProcess } from "./priority.ts"

// Every worker imports the same effect modules; the compile cache makes the second start cheap.
module.enableCompileCache?.()

// The pool owns this process: a Ctrl-C reaches the whole process group, and a child that died of
// it would skip its exit hooks. The pool shuts it down instead; a pool that is gone without doing
// so (its process killed) closes the channel, and then the child has nobody to work for.
process.on("SIGINT", () => {})
process.on("SIGTERM", () => {})
process.on("disconnect", () => process.exit(0))

const [entry, workerIdText, statusFd, recycleAboveHeapMb, nice] = process.argv.slice(2) as [
  string,
  string,
  string,
  string?,
  string?
]
if (nice !== undefined && nice !== "") lowerThisProcess(Number(nice))
const workerId = Number(workerIdText)

// Messages that come while the entry loads wait for the runtime (the channel drops them unheard).
const early: Array<unknown> = []
const hear = (message: unknown) => void early.push(message)
process.on("message", hear)

const [{ hostEntry }, { detachMoved, Op }, { writeSync }, { getHeapStatistics }] = await Promise.all([
  import("./hostEntry.ts"),
  import("../protocol/protocol.ts"),
  import("node:fs"),
  import("node:v8")
])

const status = Number(statusFd)
const count = new Int32Array(1)
const busy = new Uint32Array(1)
process.on("uncaughtExceptionMonitor", (error) => {
  // With an `uncaughtException` listener (the entry's, a library's) the error does not end the
  // process: recorded, it would be blamed for whatever ends it later (an exit code, a signal).
  if (process.listenerCount("uncaughtException") > 0) return
  writeSync(status, uncaughtText(error), crashTextAt)
})

// `process.send` throws at once for a value it cannot serialize: the runtime sends what it can.
let sending = 0
let drained: (() => void) | undefined
const sent = () => {
  if (--sending === 0) drained?.()
}
const send = (message: unknown, transfer?: ReadonlyArray<ArrayBuffer>) => {
  sending++
  try {
    process.send!(message, undefined, undefined, sent)
  } catch (error) {
    sending--
    throw error
  }
  // The channel copies; moved buffers end detached here all the same, as across threads.
  detachMoved(transfer)
}
/** Resolves once everything sent has left: `process.exit` does not wait for the channel. */
const allSent = () => new Promise<void>((resolve) => sending === 0 ? resolve() : void (drained = resolve))

const runtime = await hostEntry(entry, workerId, send, {
  countTaken: (taken) => {
    // One `pwrite` per task (~0.7 µs here): the count survives a SIGKILL mid-batch.
    count[0] = taken
    writeSync(status, count, 0, 4, takenAt)
  },
  recordBusy: (micros) => {
    // One `pwrite` per answers message, which costs tens of µs through the channel anyway.
    busy[0] = micros
    writeSync(status, busy, 0, 4, busyAt)
  },
  heapThreshold: recycleAboveHeapMb === undefined || recycleAboveHeapMb === ""
    ? undefined
    : { bytes: Number(recycleAboveHeapMb) * 1024 * 1024, used: () => getHeapStatistics().used_heap_size }
})

if (runtime !== undefined) {
  // A handler that calls `process.exit`, or an uncaught error, ends the process: the answers of
  // the tasks that finished before it still go out (the pool then loses only the running one).
  process.on("exit", () => runtime.flush())
  const receive = (message: any) => {
    if (message[0] === Op.Shutdown) {
      // Exit explicitly: handles the user's code left open must not keep the process alive.
      void runtime.shutdown(message[1]).then(allSent).then(() => process.exit(0))
    } else {
      runtime.receive(message)
    }
  }
  process.off("message", hear)
  process.on("message", receive)
  for (const message of early) receive(message)
  await runtime.start()
}
