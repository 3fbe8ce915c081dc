/**
 * Workers that run in the caller's own thread: the same entry, protocol and Schemas, without
 * threads. For debugging (breakpoints and stack traces in one thread) and fast tests.
 *
 * Messages are delivered on the microtask queue, never synchronously, so the dispatcher sees the
 * same ordering it sees with threads. What it cannot do: stop a handler that never yields.
 */
import type { WorkerEntry } from "../../core/Worker.ts"
import type { Backend, Connection, WorkerEvents } from "../scheduler/Dispatcher.ts"
import { Op } from "../protocol/protocol.ts"
import { WorkerRuntime } from "../worker/WorkerRuntime.ts"

export const inlineBackend = (entry: WorkerEntry): Backend => ({
  spawn: (workerId: number, events: WorkerEvents): Connection => {
    let alive = true
    const exit = (reason: string) => {
      if (!alive) return
      alive = false
      queueMicrotask(() => events.onExit(reason))
    }
    const runtime = new WorkerRuntime(entry, workerId, (message) =>
      queueMicrotask(() => {
        if (alive) events.onMessage(message)
      }))
    queueMicrotask(() => void runtime.start())
    return {
      send: (message) =>
        queueMicrotask(() => {
          if (!alive) return
          if (message[0] === Op.Shutdown) void runtime.shutdown(message[1]).then(() => exit("exited with code 0"))
          else runtime.receive(message)
        }),
      terminate: () => {
        if (!alive) return
        // Interrupts what it can (finalizers run), then reports the exit like a terminated thread.
        void runtime.shutdown(0)
        exit("was terminated")
      }
    }
  }
})
