/**
 * How an actor fails besides what its calls share with tasks (a call's defect, bad payload,
 * lost worker or timeout is a `TaskError`, like any task's): one `ActorError` whose `reason` is
 * `InitFailed` (the actor could not be built) or `Unavailable` (a call to an actor that is not
 * alive).
 */
import * as Schema from "effect/Schema"

/**
 * The actor could not be built: its constructor died (`Defect`), its init arguments failed their
 * Schema (`PayloadInvalid`), its worker was lost while it was being built (`WorkerLost`), or the
 * pool closed first (`PoolClosed`). A declared init error arrives as itself instead.
 */
export class InitFailed extends Schema.TaggedError<InitFailed>()("InitFailed", {
  failure: Schema.Literals(["Defect", "PayloadInvalid", "WorkerLost", "PoolClosed"]),
  message: Schema.String
}) {}

/**
 * A call to an actor that was stopped (`Stopped`: its scope closed, or `Actor.stop`) or that died
 * without a restart left (`Dead`). Nothing reached the actor.
 */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  state: Schema.Literals(["Stopped", "Dead"]),
  message: Schema.String
}) {}

export const ActorErrorReason = Schema.Union([InitFailed, Unavailable])
export type ActorErrorReason = typeof ActorErrorReason.Type

/**
 * An actor could not be built, or is not alive. `actorId` is unique within its pool (-1 when the
 * caller's side rejected the spawn); `workerId` the worker involved, or -1; `input` a bounded
 * rendering of the init arguments (empty for `Unavailable`).
 */
export class ActorError extends Schema.TaggedError<ActorError>()("ActorError", {
  actorName: Schema.String,
  actorId: Schema.Number,
  workerId: Schema.Number,
  input: Schema.String,
  reason: ActorErrorReason
}) {
  override get message(): string {
    // Where and on what, as a `TaskError` says it: the fields alone went unprinted.
    const worker = this.workerId < 0 ? "" : ` on worker ${this.workerId}`
    const input = this.input === "" ? "" : ` (input: ${this.input})`
    return `actor ${this.actorName}#${this.actorId}${worker}: ${this.reason._tag}: ${this.reason.message}${input}`
  }
}
