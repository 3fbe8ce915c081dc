/**
 * How starting a model server fails: one `ServeError` whose `reason` is `InvalidDeployment` (a
 * deployment's option was rejected), `InvalidOptions` (a server option was) or `ListenFailed` (the
 * port could not be bound). A replica
 * whose model cannot be loaded is not one of these: the server starts and `/readyz` reports it.
 */
import * as Schema from "effect/Schema"

/** A deployment's options were rejected. `path` names the option (`["batching", "maxBatchSize"]`). */
export class InvalidDeployment extends Schema.TaggedError<InvalidDeployment>()("InvalidDeployment", {
  deployment: Schema.String,
  path: Schema.Array(Schema.String),
  message: Schema.String
}) {}

/** A server option was rejected. `path` names it (`["drainTimeout"]`). */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>()("InvalidOptions", {
  path: Schema.Array(Schema.String),
  message: Schema.String
}) {}

/** The server could not listen (port in use, no permission, bad host). */
export class ListenFailed extends Schema.TaggedError<ListenFailed>()("ListenFailed", {
  port: Schema.Number,
  message: Schema.String
}) {}

export const ServeErrorReason = Schema.Union([InvalidDeployment, InvalidOptions, ListenFailed])
export type ServeErrorReason = typeof ServeErrorReason.Type

/** A model server could not start. */
export class ServeError extends Schema.TaggedError<ServeError>()("ServeError", {
  reason: ServeErrorReason
}) {
  override get message(): string {
    const reason = this.reason
    // An option check says only "must be a positive integer, got 0": the path says of what.
    return reason._tag === "InvalidDeployment"
      ? `InvalidDeployment: deployment ${reason.deployment}, ${reason.path.join(".")}: ${reason.message}`
      : `${reason._tag}: ${reason.message}`
  }
}
