/**
 * How a task fails, besides the errors it declares itself: one `TaskError` whose `reason` says
 * what happened.
 *
 * Contains the wrapper (`TaskError`: the task's name and id, the worker, the attempts and a
 * bounded rendering of the input, so a failure in a log says what failed, where, and on what),
 * its reasons (`Defect`, `PayloadInvalid`, `WorkerLost`, `Timeout`, `PoolClosed`,
 * `PoolSaturated`), and `renderInput` and `renderPath`, which never throw.
 *
 * ```ts
 * Task.run(Resize, image).pipe(
 *   Effect.catchReason("TaskError", "Timeout", (timeout, error) => Effect.succeed(fallback(error.input)))
 * )
 * ```
 *
 * Interruption is never one of these: an interrupted caller is an interrupted fiber. A failure
 * the handler declared arrives as itself, never wrapped.
 */
import * as Schema from "effect/Schema"
import { inspect } from "node:util"

const Path = Schema.Array(Schema.Union([Schema.String, Schema.Number]))

/**
 * The handler threw or died, or its result (or declared error) did not match its Schema: a bug
 * in the handler. Keeps the remote error's name, message and stack.
 */
export class Defect extends Schema.TaggedError<Defect>()("Defect", {
  remoteName: Schema.String,
  message: Schema.String,
  remoteStack: Schema.String
}) {}

/**
 * The payload cannot cross: it does not match the task's payload Schema, it cannot be cloned
 * (a function, a symbol, a proxy …), or it carries a shared array that was released. Only that
 * task fails; the rest of its batch and pool go on. `path` names the offending field
 * (`["nested", "b", 1]`) where it can be found.
 */
export class PayloadInvalid extends Schema.TaggedError<PayloadInvalid>()("PayloadInvalid", {
  path: Path,
  message: Schema.String
}) {}

/**
 * The worker holding the task stopped before answering. `exit` says how: it `Crashed` (an
 * uncaught error), `Exited` (`process.exit`), ran `OutOfMemory`, or was `Terminated` by the pool
 * (a handler that ignored its interruption or timeout).
 */
export class WorkerLost extends Schema.TaggedError<WorkerLost>()("WorkerLost", {
  exit: Schema.Literals(["Crashed", "Exited", "OutOfMemory", "Terminated"]),
  message: Schema.String,
  /** The worker's exit code, where its backend knows it (`process.exit(3)`: 3). */
  exitCode: Schema.optional(Schema.Number),
  /** The signal that ended a child process: `"SIGKILL"`, `"SIGABRT"` (an abort, or V8 out of memory) … */
  signal: Schema.optional(Schema.String)
}) {}

/** The task ran longer than its timeout. Its handler was interrupted inside the worker. */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  timeoutMillis: Schema.Number
}) {
  override get message(): string {
    return `timed out after ${this.timeoutMillis} ms`
  }
}

/**
 * The pool closed (its scope ended) before the task finished, or it is broken: no replacement
 * worker could be started.
 */
export class PoolClosed extends Schema.TaggedError<PoolClosed>()("PoolClosed", {
  message: Schema.String
}) {}

/** The pool's queue was full (`maxQueued`) and the call asked not to wait for room. */
export class PoolSaturated extends Schema.TaggedError<PoolSaturated>()("PoolSaturated", {
  maxQueued: Schema.Number
}) {
  override get message(): string {
    return `the pool's queue is full (maxQueued ${this.maxQueued})`
  }
}

export const TaskErrorReason = Schema.Union([Defect, PayloadInvalid, WorkerLost, Timeout, PoolClosed, PoolSaturated])
export type TaskErrorReason = typeof TaskErrorReason.Type

/**
 * A task failed for a reason other than its declared error.
 *
 * **Details**: `taskId` is the pool-wide id of its last attempt (-1 when it never reached a
 * worker); `workerId` the worker that held it (-1 when the caller's side rejected it); `attempts`
 * how many times it was sent, retries included; `input` a bounded rendering of its payload.
 */
export class TaskError extends Schema.TaggedError<TaskError>()("TaskError", {
  taskName: Schema.String,
  taskId: Schema.Number,
  workerId: Schema.Number,
  attempts: Schema.Number,
  input: Schema.String,
  reason: TaskErrorReason,
  /** The cluster runner whose pool held the task (`host/pid`); absent on a local pool. */
  runner: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const worker = this.workerId < 0 ? "" : ` on worker ${this.workerId}`
    const where = this.runner === undefined ? worker : `${worker} of runner ${this.runner}`
    // The input is cut to a few hundred characters: the path is what finds the field in a large one.
    const at = this.reason._tag === "PayloadInvalid" && this.reason.path.length > 0 ? ` at ${renderPath(this.reason.path)}` : ""
    return `task ${this.taskName}${where}: ${this.reason._tag}${at}: ${this.reason.message} (input: ${this.input})`
  }
}

/** The longest input rendering an error carries: enough to recognise the input, never a dump. */
export const maxInputRendering = 200

/**
 * Renders a task input for an error message, bounded in depth, array length and characters.
 * Never throws: an input that cannot be inspected (a throwing proxy, a hostile getter) renders
 * as a note saying so.
 */
export const renderInput = (input: unknown): string => {
  let text: string
  try {
    text = inspect(input, {
      depth: 2,
      maxArrayLength: 8,
      maxStringLength: 64,
      breakLength: Infinity,
      compact: true,
      getters: false,
      customInspect: false
    })
  } catch (error) {
    text = `<input could not be rendered: ${describeError(error)}>`
  }
  return text.length <= maxInputRendering ? text : `${text.slice(0, maxInputRendering - 1)}…`
}

/** The most steps of a path a message spells out, and the most characters of each. */
const maxPathSteps = 16
const maxStepLength = 64

/**
 * Renders a payload path for a message (`["nested","b",1]`), bounded like an input: a nesting
 * thousands deep shows its first steps and how many more there are. Never throws.
 */
export const renderPath = (path: ReadonlyArray<string | number>): string => {
  const steps = path.slice(0, maxPathSteps).map((step) =>
    typeof step === "string" && step.length > maxStepLength ? `${step.slice(0, maxStepLength - 1)}…` : step
  )
  const text = JSON.stringify(steps)
  return path.length <= maxPathSteps ? text : `${text.slice(0, -1)},… ${path.length - maxPathSteps} more]`
}

const describeError = (error: unknown): string => {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : typeof error
  } catch {
    return "unknown error"
  }
}
