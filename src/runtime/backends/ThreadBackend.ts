/**
 * Workers as Node worker threads, each running `threadMain.ts` with the user's entry module.
 *
 * A worker speaks to the pool on a port of its own (`replies`), not its parent port: the pool
 * can then also take a message off it synchronously (`receiveMessageOnPort`), which is how
 * `poll` waits for a reply without going back to the event loop. Every message of a worker
 * comes through that one port, in order, and those it sent before it ended are taken before
 * its exit is reported. Each worker also gets a 4-byte `SharedArrayBuffer` where it counts the
 * tasks it took off its queue (the Dispatcher's rule 7).
 *
 * Also tracks every thread it started until Node reports its exit, so tests (and users) can
 * check that a closed pool left no thread behind.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { availableParallelism } from "node:os"
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads"
import { uncaughtText } from "../internal/errorText.ts"
import type { WorkerExit } from "../protocol/protocol.ts"
import {
  type Backend,
  type Connection,
  defaultYoungGenerationSizeMb,
  type PoolSpec,
  realTimers,
  WorkerBackend,
  type WorkerEvents
} from "./Backend.ts"
import { moduleHref } from "./entry.ts"

/**
 * The worker bootstrap sits next to this module with the same extension: `.ts` when Node runs the
 * sources (this repository), `.js` in the build an installed package runs (Node never strips types
 * under `node_modules`). tsc rewrites the extensions of imports, but not of a URL built at run time.
 */
const threadMain = new URL(`../worker/threadMain${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url)
const live = new Set<Worker>()

/** Worker threads started by any pool whose exit Node has not yet reported. */
export const liveThreads = (): number => live.size

/** Worker threads: shared memory, crashes contained in their thread, handlers that never yield stopped by termination. */
export const backend: Backend = {
  name: "threads",
  capabilities: { sharesMemory: true, canTerminate: true, isolatesCrashes: true, heapLimits: true, pinsCpus: false,
    lowersPriority: process.platform === "linux" },
  timers: realTimers,
  defaultSize: availableParallelism,
  make: (spec) =>
    Effect.map(moduleHref(spec.entry, "threads"), (entry) => ({
      spawn: (workerId, events) => spawnThread(entry, spec, workerId, events)
    }))
}

/** Pools in its scope run on worker threads (what they do without any backend Layer). */
export const layer: Layer.Layer<WorkerBackend> = Layer.succeed(WorkerBackend, backend)

const spawnThread = (entry: string, spec: PoolSpec, workerId: number, events: WorkerEvents): Connection => {
  const { port1: replies, port2: workerReplies } = new MessageChannel()
  // Rule 7's count of tasks taken, then the worker's busy µs (rule 12): both written by the worker.
  const shared = new SharedArrayBuffer(8)
  const tasksTaken = new Int32Array(shared, 0, 1)
  const busyMicros = new Int32Array(shared, 4, 1)
  const worker = new Worker(threadMain, {
    workerData: {
      entry,
      workerId,
      replies: workerReplies,
      tasksTaken: shared,
      recycleAboveHeapBytes: spec.recycleAboveHeapMb === undefined ? undefined : spec.recycleAboveHeapMb * 1_048_576,
      nice: spec.nice
    },
    transferList: [workerReplies],
    resourceLimits: {
      ...spec.resourceLimits,
      // `??`, not a spread of defaults: a field present but undefined would replace the default,
      // and Node reads undefined as no limit (V8's own); the process backend reads it the same way.
      maxYoungGenerationSizeMb: spec.resourceLimits?.maxYoungGenerationSizeMb ?? defaultYoungGenerationSizeMb
    }
  })
  live.add(worker)
  let failure: WorkerExit | undefined
  let terminated = false
  replies.on("message", events.onMessage)
  worker.on("error", (error) => {
    const text = uncaughtText(error)
    failure = (error as { code?: unknown }).code === "ERR_WORKER_OUT_OF_MEMORY"
      ? { kind: "OutOfMemory", message: `ran out of memory (${text})` }
      : { kind: "Crashed", message: `crashed: ${text}` }
  })
  worker.on("exit", (code) => {
    live.delete(worker)
    // What the worker said before it ended comes before its end.
    while (takeMessage(replies, events)) { /* delivered */ }
    replies.close()
    events.onExit(
      failure ?? (terminated
        ? { kind: "Terminated", message: "was terminated" }
        : { kind: "Exited", message: `exited with code ${code}`, exitCode: code })
    )
  })
  const replyWaitMillis = spec.replyWaitMillis
  return {
    send: (message, transfer) => worker.postMessage(message, transfer),
    terminate: () => {
      terminated = true
      void worker.terminate()
    },
    tasksTaken: () => Atomics.load(tasksTaken, 0),
    busyMicros: () => Atomics.load(busyMicros, 0),
    eventLoop: () => {
      if (!live.has(worker)) return undefined
      try {
        return worker.performance.eventLoopUtilization()
      } catch {
        // Not running yet.
        return undefined
      }
    },
    poll: replyWaitMillis > 0
      ? () => {
        const until = performance.now() + replyWaitMillis
        do {
          if (takeMessage(replies, events)) return true
        } while (performance.now() < until)
        return false
      }
      : undefined
  }
}

/** Delivers the port's next message now, if there is one. */
const takeMessage = (port: MessagePort, events: WorkerEvents): boolean => {
  const received = receiveMessageOnPort(port)
  if (received === undefined) return false
  events.onMessage(received.message)
  return true
}
