/**
 * The typed failures of running a task on a pool, besides the errors a task declares itself.
 *
 * Contains: `TaskDefect` (the handler threw or died), `TaskPayloadError` (the payload failed its
 * Schema), `WorkerLost` (the worker died holding the task), `TaskTimeout`, and the pool-level
 * `WorkerInitError` and `PoolOptionsError`. Every task failure carries the task name, the worker
 * id and a bounded rendering of the input that caused it, so a failure in a log says what failed,
 * where, and on what.
 *
 * Interruption is never one of these: an interrupted caller is an interrupted fiber.
 */
import * as Schema from "effect/Schema"
import { inspect } from "node:util"

/**
 * The handler threw an exception or died. Keeps the remote error's name, message and stack.
 *
 * A declared error that cannot be encoded by its Schema, and a success value that does not
 * match the task's success Schema, are defects too: both are bugs in the handler.
 */
export class TaskDefect extends Schema.TaggedError<TaskDefect>()("TaskDefect", {
  taskName: Schema.String,
  workerId: Schema.Number,
  input: Schema.String,
  remoteName: Schema.String,
  message: Schema.String,
  remoteStack: Schema.String
}) {}

/**
 * The payload does not match the task's payload Schema. Only that task fails; the rest of its
 * batch and pool go on. `path` names the offending field (`["nested", "b", 1]`).
 */
export class TaskPayloadError extends Schema.TaggedError<TaskPayloadError>()("TaskPayloadError", {
  taskName: Schema.String,
  /** The worker that rejected it, or -1 when the caller's own encoding rejected it. */
  workerId: Schema.Number,
  input: Schema.String,
  path: Schema.Array(Schema.Union([Schema.String, Schema.Number])),
  message: Schema.String
}) {}

/**
 * The worker holding the task stopped before answering (crash, `process.exit`, out of memory,
 * terminated after a cancel or timeout deadline, or the pool closed). `attempts` counts how many
 * times the task was sent, retries included.
 */
export class WorkerLost extends Schema.TaggedError<WorkerLost>()("WorkerLost", {
  taskName: Schema.String,
  workerId: Schema.Number,
  input: Schema.String,
  reason: Schema.String,
  attempts: Schema.Number
}) {
  override get message(): string {
    return `task ${this.taskName} lost: ${this.reason} (attempts: ${this.attempts}; input: ${this.input})`
  }
}

/** The task ran longer than its timeout. Its handler was interrupted inside the worker. */
export class TaskTimeout extends Schema.TaggedError<TaskTimeout>()("TaskTimeout", {
  taskName: Schema.String,
  workerId: Schema.Number,
  input: Schema.String,
  timeoutMillis: Schema.Number
}) {
  override get message(): string {
    return `task ${this.taskName} timed out after ${this.timeoutMillis} ms on worker ${this.workerId} (input: ${this.input})`
  }
}

/** Every failure a task can have besides its declared error. */
export type TaskFailure = TaskDefect | TaskPayloadError | WorkerLost | TaskTimeout

/**
 * A worker could not start: its entry module failed to load, its per-worker Layer failed
 * (`reason: "Failed"`), or it did not report ready in time (`reason: "Timeout"`).
 */
export class WorkerInitError extends Schema.TaggedError<WorkerInitError>()("WorkerInitError", {
  workerId: Schema.Number,
  reason: Schema.Literals(["Failed", "Timeout"]),
  message: Schema.String
}) {}

/** Pool options were rejected at construction. `path` names the option. */
export class PoolOptionsError extends Schema.TaggedError<PoolOptionsError>()("PoolOptionsError", {
  path: Schema.Array(Schema.Union([Schema.String, Schema.Number])),
  message: Schema.String
}) {}

/** The longest input rendering an error carries: enough to recognise the input, never a dump. */
export const maxInputRendering = 200

/** Renders a task input for an error message, bounded in depth, array length and characters. */
export const renderInput = (input: unknown): string => {
  const text = inspect(input, {
    depth: 2,
    maxArrayLength: 8,
    maxStringLength: 64,
    breakLength: Infinity,
    compact: true
  })
  return text.length <= maxInputRendering ? text : `${text.slice(0, maxInputRendering - 1)}…`
}
