/**
 * The isolation example's tasks. Imported by main.ts and worker.ts.
 */
import * as Schema from "effect/Schema"
import { Task } from "effect-parallel/worker"

/**
 * Parses a document with a "native" parser: on a poisoned document it does what a segfaulting
 * addon does to its process (`process.abort()`: SIGABRT, no JavaScript unwinding, no finalizers).
 */
export const Parse = Task.make("Parse", {
  payload: { id: Schema.Int, text: Schema.String },
  success: Schema.Struct({ id: Schema.Int, words: Schema.Int, pid: Schema.Int })
})

/** Where the worker runs: its process id and the CPUs it may use (`Cpus_allowed_list`). */
export const Where = Task.make("Where", {
  payload: Schema.Struct({}),
  success: Schema.Struct({ pid: Schema.Int, cpus: Schema.String })
})

export const IsolationTasks = Task.group(Parse, Where)

/** What makes the parser crash. */
export const poison = "\u0000POISON\u0000"
