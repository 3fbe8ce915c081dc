/**
 * Isolation: a handler that crashes natively, contained in its own child process; workers pinned to CPUs.
 *
 * On worker threads, `process.abort()` (or a segfault in a native addon) takes the whole program
 * down: threads share one process. On `ProcessBackend` each worker is a child process, so the
 * crash costs only the tasks that process held — the poisoned one, and those that finished in
 * the same batch whose answers had not left the process yet. With `retries: 1` those are sent
 * again to the replacement the pool starts: every innocent document is parsed, and each poisoned
 * one fails alone, after its second crash, with `TaskError` reason `WorkerLost` (exit `Crashed`,
 * signal `SIGABRT`). The aborting children print V8's stack trace on stderr, as a crash would. `cpus: "spread"` pins each worker process, and the native threads it starts, to a
 * core of its own (Linux, with `taskset`); where that cannot be done the pool fails with a
 * typed `Unsupported` error instead of running unpinned.
 *
 * Recycling workers after N tasks (`maxTasksPerWorker`) is shown on the `chaos` branch, where it lands.
 *
 * Run with `npm run example -- isolation`.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { PoolError, ProcessBackend, Task, TaskError, WorkerPool } from "effect-parallel"
import { IsolationTasks, Parse, poison, Where } from "./tasks.ts"

const size = 2
const documents = Array.from({ length: 40 }, (_, id) => ({
  id,
  text: id === 7 || id === 23 ? `a corrupt record ${poison}` : `document ${id} has a few words in it`
}))

const pinned = ProcessBackend.backend.capabilities.pinsCpus
const Pool = WorkerPool.layer(IsolationTasks, {
  entry: new URL("./worker.ts", import.meta.url),
  size,
  // A crashed process's tasks run once more on the replacement: at most 2 runs each.
  retries: 1,
  ...(pinned ? { cpus: "spread" as const } : {})
}).pipe(Layer.provide(ProcessBackend.layer))

const program = Effect.gen(function*() {
  const where = yield* Task.map(Where, Array.from({ length: 10 }, () => ({})), { chunkSize: 1 })
  const workers = new Map(where.map((w) => [w.pid, w.cpus]))
  console.log(`pool of ${size} worker processes (this process is ${process.pid}):`)
  for (const [pid, cpus] of workers) console.log(`  worker process ${pid} runs on CPUs ${cpus}`)

  console.log(`parsing ${documents.length} documents, 2 of them poisoned:`)
  const results = yield* Effect.forEach(documents, (document) => Effect.result(Task.run(Parse, document)), {
    concurrency: "unbounded"
  })
  let parsed = 0
  const pids = new Set<number>()
  for (const [i, result] of results.entries()) {
    if (result._tag === "Success") {
      parsed++
      pids.add(result.success.pid)
      continue
    }
    const error = result.failure
    const reason = error instanceof TaskError.TaskError ? error.reason : undefined
    if (reason instanceof TaskError.WorkerLost) {
      console.log(
        `  document ${i}: TaskError, reason WorkerLost, exit ${reason.exit}, signal ${reason.signal}, attempts ${error.attempts} (${reason.message})`
      )
    } else {
      console.log(`  document ${i}: ${String(error)}`)
    }
  }
  console.log(`parsed: ${parsed} of ${documents.length}; this process is still running`)
  const after = yield* Task.map(Where, Array.from({ length: 10 }, () => ({})), { chunkSize: 1 })
  const replaced = [...new Set(after.map((w) => w.pid))].filter((pid) => !workers.has(pid))
  console.log(`replacement worker processes: ${replaced.length > 0 ? "yes" : "no"}; still pinned: ${
    after.every((w) => !pinned || w.cpus.split(",").length === 1)
  }`)
  console.log("closing the pool:")
})

const onThreads = Effect.gen(function*() {
  // The same option on a backend that cannot pin: a typed error, never a silently unpinned pool.
  const error = yield* Effect.flip(Effect.scoped(Layer.build(
    WorkerPool.layer(IsolationTasks, { entry: new URL("./worker.ts", import.meta.url), size, cpus: "spread" })
  )))
  const reason = error.reason
  console.log(`cpus on worker threads → PoolError, reason ${reason._tag}${
    reason instanceof PoolError.Unsupported ? ` (${reason.capability})` : ""
  }`)
})

console.log(
  [
    "Each worker is a child process: a parser that aborts its process (as a segfaulting addon would)",
    "costs only the tasks that process held; the pool replaces the process and, with retries: 1, runs",
    "the innocent ones again there. The crashing children print V8's stack trace on stderr.",
    ""
  ].join("\n")
)

program.pipe(Effect.provide(Pool), Effect.andThen(onThreads), Effect.runPromise).then(
  () => console.log(`pool closed; workers left running: ${ProcessBackend.liveProcesses() + WorkerPool.liveThreads()}`),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
