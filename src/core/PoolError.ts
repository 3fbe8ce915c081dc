/**
 * How building a pool fails: one `PoolError` whose `reason` is `InvalidOptions` (an option was
 * rejected), `WorkerInitFailed` (a worker could not start), `Unsupported` (the backend lacks a
 * capability the pool's tasks need) or `DuplicateEffect` (the definitions, or the worker entry,
 * use another copy of `effect` than effect-parallel does).
 */
import * as Schema from "effect/Schema"

/** Pool options were rejected at construction. `path` names the option (`["resourceLimits", "maxOldGenerationSizeMb"]`). */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>()("InvalidOptions", {
  path: Schema.Array(Schema.Union([Schema.String, Schema.Number])),
  message: Schema.String
}) {}

/**
 * A worker could not start: its entry module failed to load, its per-worker Layer failed
 * (`failure: "Failed"`), or it did not report ready within `initTimeout` (`"Timeout"`).
 */
export class WorkerInitFailed extends Schema.TaggedError<WorkerInitFailed>()("WorkerInitFailed", {
  workerId: Schema.Number,
  failure: Schema.Literals(["Failed", "Timeout"]),
  message: Schema.String
}) {}

/**
 * The pool's backend cannot serve its group: a task declares shared arrays and the backend
 * cannot share memory with its workers, say. `capability` names what is missing.
 */
export class Unsupported extends Schema.TaggedError<Unsupported>()("Unsupported", {
  capability: Schema.String,
  message: Schema.String
}) {}

/**
 * The pool's definitions, or its worker entry, use another copy of the `effect` package than
 * effect-parallel does. A Schema made by one copy is not understood by the other's parser (a
 * valid payload fails with `PayloadInvalid: Expected an integer`), so the pool refuses to start.
 * `libraryPath` is the copy effect-parallel imports; `definitionsPath` the copy the definitions
 * or the worker entry use, when it can be found (not for definitions made in a module that
 * resolves `effect` like effect-parallel, or an entry given as an object to an in-process backend).
 *
 * **Fix**: install `effect` once. It is a peer dependency of effect-parallel; `npm ls effect` lists
 * the copies. A package installed from a folder (`npm install ../effect-parallel`) brings that
 * folder's own `node_modules/effect`.
 */
export class DuplicateEffect extends Schema.TaggedError<DuplicateEffect>()("DuplicateEffect", {
  libraryPath: Schema.String,
  definitionsPath: Schema.UndefinedOr(Schema.String),
  message: Schema.String
}) {}

export const PoolErrorReason = Schema.Union([InvalidOptions, WorkerInitFailed, Unsupported, DuplicateEffect])
export type PoolErrorReason = typeof PoolErrorReason.Type

/** A pool could not be built. */
export class PoolError extends Schema.TaggedError<PoolError>()("PoolError", {
  reason: PoolErrorReason
}) {
  override get message(): string {
    const reason = this.reason
    // A Schema's issue ("Expected an integer") does not say which option it is about: the path does.
    if (reason._tag === "InvalidOptions" && reason.path.length > 0) {
      const option = reason.path.join(".")
      if (!reason.message.startsWith(option)) return `InvalidOptions: ${option}: ${reason.message}`
    }
    return `${reason._tag}: ${reason.message}`
  }
}
