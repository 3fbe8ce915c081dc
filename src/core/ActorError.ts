/**
 * The errors of actors, beyond those a call shares with tasks (`TaskDefect`, `TaskPayloadError`,
 * `WorkerLost`): an actor that could not be built, and a call to an actor that is not alive.
 */
import * as Schema from "effect/Schema"

/**
 * The actor's constructor died (`Defect`), its init arguments failed their Schema
 * (`PayloadInvalid`), or its worker was lost while it was being built (`WorkerLost`). A declared
 * init error arrives as itself instead.
 */
export class ActorInitError extends Schema.TaggedError<ActorInitError>()("ActorInitError", {
  actorName: Schema.String,
  /** The worker that tried, or -1 when the caller's own encoding rejected the init arguments. */
  workerId: Schema.Number,
  input: Schema.String,
  reason: Schema.Literals(["Defect", "PayloadInvalid", "WorkerLost"]),
  message: Schema.String
}) {}

/**
 * A call to an actor that was stopped (`Stopped`: its scope closed, or `Actor.stop`) or that died
 * without a restart left (`Dead`). Nothing reached the actor.
 */
export class ActorUnavailable extends Schema.TaggedError<ActorUnavailable>()("ActorUnavailable", {
  actorName: Schema.String,
  actorId: Schema.Number,
  reason: Schema.Literals(["Stopped", "Dead"]),
  message: Schema.String
}) {}
