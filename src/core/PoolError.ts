/**
 * How building a pool fails: one `PoolError` whose `reason` is `InvalidOptions` (an option was
 * rejected), `WorkerInitFailed` (a worker could not start) or `Unsupported` (the backend lacks a
 * capability the pool's tasks need).
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

export const PoolErrorReason = Schema.Union([InvalidOptions, WorkerInitFailed, Unsupported])
export type PoolErrorReason = typeof PoolErrorReason.Type

/** A pool could not be built. */
export class PoolError extends Schema.TaggedError<PoolError>()("PoolError", {
  reason: PoolErrorReason
}) {
  override get message(): string {
    return `${this.reason._tag}: ${this.reason.message}`
  }
}
