/**
 * Workers that run in the caller's own thread: the same entry, protocol and Schemas, without
 * threads. For debugging (breakpoints and stack traces in one thread) and fast tests.
 *
 * Messages are structured-cloned, as `postMessage` clones them (a handler gets its own copy of
 * its payload; a payload that cannot be cloned fails as it would on threads; a moved buffer is
 * transferred, so the sender's view is detached as it would be on threads), and delivered on
 * the microtask queue, never synchronously, so the dispatcher sees the same ordering it sees with
 * threads. What it cannot do: stop a handler that never yields, or survive one that crashes.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { WorkerEntry } from "../../core/Worker.ts"
import { Op, type ToWorker } from "../protocol/protocol.ts"
import { WorkerRuntime } from "../worker/WorkerRuntime.ts"
import { type Backend, cloneMessage as clone, type Connection, realTimers, WorkerBackend, type WorkerEvents } from "./Backend.ts"
import { loadEntry } from "./entry.ts"

/** Workers in this thread: one by default. */
export const backend: Backend = {
  name: "inline",
  capabilities: { sharesMemory: true, canTerminate: false, isolatesCrashes: false, heapLimits: false, pinsCpus: false, lowersPriority: false },
  timers: realTimers,
  defaultSize: () => 1,
  make: (spec) => Effect.map(loadEntry(spec.entry), (entry) => ({ spawn: (workerId, events) => spawnInline(entry, workerId, events) }))
}

/** Pools in its scope run their workers in the caller's own thread. */
export const layer: Layer.Layer<WorkerBackend> = Layer.succeed(WorkerBackend, backend)

const spawnInline = (entry: WorkerEntry, workerId: number, events: WorkerEvents): Connection => {
  let alive = true
  const exit = (kind: "Exited" | "Terminated", message: string) => {
    if (!alive) return
    alive = false
    queueMicrotask(() => events.onExit({ kind, message }))
  }
  const tasksTaken = new Int32Array(new SharedArrayBuffer(4))
  const busyMicros = new Int32Array(new SharedArrayBuffer(4))
  const runtime = new WorkerRuntime(entry, workerId, (message, transfer) => {
    const copy = clone(message, transfer)
    queueMicrotask(() => {
      if (alive) events.onMessage(copy)
    })
  }, { tasksTaken, busyMicros })
  queueMicrotask(() => void runtime.start())
  return {
    send: (message, transfer) => {
      const copy: ToWorker = clone(message, transfer)
      queueMicrotask(() => {
        if (!alive) return
        if (copy[0] === Op.Shutdown) void runtime.shutdown(copy[1]).then(() => exit("Exited", "exited with code 0"))
        else runtime.receive(copy)
      })
    },
    terminate: () => {
      if (!alive) return
      // Interrupts what it can (finalizers run), then reports the exit like a terminated thread.
      void runtime.shutdown(0)
      exit("Terminated", "was terminated")
    },
    tasksTaken: () => Atomics.load(tasksTaken, 0),
    busyMicros: () => Atomics.load(busyMicros, 0)
  }
}

