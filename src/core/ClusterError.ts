/**
 * How a call to an actor on a cluster fails besides what a local call can: one `ClusterError`
 * whose `reason` is `Undelivered` (the cluster could not deliver the call or its reply) or
 * `Interrupted` (the runner stopped the call before it answered).
 *
 * A declared error, a `TaskError` or an `ActorError` raised on the runner arrive as themselves.
 */
import * as Schema from "effect/Schema"

/**
 * The cluster could not deliver a call or bring back its reply: the entity's mailbox was full
 * (`MailboxFull`), the same persisted message was already being processed
 * (`AlreadyProcessingMessage`), message storage failed (`PersistenceError`), no runner owned the
 * entity's shard in time (`EntityNotAssignedToRunner`), or the transport between processes failed
 * (`RpcClientError`).
 */
export class Undelivered extends Schema.TaggedError<Undelivered>()("Undelivered", {
  failure: Schema.Literals([
    "MailboxFull",
    "AlreadyProcessingMessage",
    "PersistenceError",
    "EntityNotAssignedToRunner",
    "RpcClientError"
  ]),
  message: Schema.String
}) {}

/**
 * The runners that held the call interrupted it before answering, each time it was sent (a call a
 * runner interrupts is sent again, to the shard's owner by then, up to 3 times): they were shutting
 * down, past their grace, or lost the entity's shard. The call may have run in part; the caller did
 * not interrupt it (a caller's own interruption stays an interruption).
 */
export class Interrupted extends Schema.TaggedError<Interrupted>()("Interrupted", {
  message: Schema.String
}) {}

export const ClusterErrorReason = Schema.Union([Undelivered, Interrupted])
export type ClusterErrorReason = typeof ClusterErrorReason.Type

/** A call to the actor `actorName` with entity id `entityId` that the cluster could not carry. */
export class ClusterError extends Schema.TaggedError<ClusterError>()("ClusterError", {
  actorName: Schema.String,
  entityId: Schema.String,
  method: Schema.String,
  reason: ClusterErrorReason
}) {
  override get message(): string {
    const detail = this.reason._tag === "Undelivered" ? ` (${this.reason.failure})` : ""
    return `actor ${this.actorName}/${this.entityId}.${this.method}: ${this.reason._tag}${detail}: ${this.reason.message}`
  }
}
