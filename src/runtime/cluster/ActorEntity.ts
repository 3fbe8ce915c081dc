/**
 * The cluster protocol of an actor: the `effect/cluster` Entity whose type is the actor's name and
 * whose RPCs are its methods.
 *
 * Contains `entityOf` (one Entity per actor definition, built from its Schemas alone, so a runner
 * and a client that import the same definition speak the same protocol) and the mapping of the
 * cluster's own delivery failures to `ClusterError`.
 *
 * Each method is two RPCs: `<method>` (volatile: at most once) and `<method>@persisted` (payload
 * `{ key, payload }`: saved in the cluster's message storage before delivery, at least once,
 * deduplicated by `key`).
 *
 * Each RPC's error Schema is the method's declared error, the actor's declared init error,
 * `TaskError` and `ActorError`: whatever a local call can fail with crosses the process boundary
 * as the same class (an init failure surfaces on the calls that waited for that build of the actor).
 */
import * as ClusterSchema from "effect/cluster/ClusterSchema"
import * as Entity from "effect/cluster/Entity"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Rpc from "effect/rpc/Rpc"
import * as Schema from "effect/Schema"
import type * as Actor from "../../core/Actor.ts"
import { ActorError } from "../../core/ActorError.ts"
import { ClusterError, Interrupted, Undelivered } from "../../core/ClusterError.ts"
import { TaskError } from "../../core/TaskError.ts"
import { uncaughtText } from "../internal/errorText.ts"

const entities = new WeakMap<Actor.Any, Entity.Any>()

/** The Entity an actor runs as on a cluster (cached: one per definition). */
export const entityOf = (actor: Actor.Any): Entity.Any => {
  let entity = entities.get(actor)
  if (entity === undefined) {
    const rpcs = Object.entries(actor.methods).flatMap(([method, task]) => {
      const error = Schema.Union([task.error, actor.init.error, TaskError, ActorError])
      return [
        Rpc.make(method, { payload: task.payload, success: task.success, error }),
        // The same method, persisted: stored before delivery, replayed by a new owner, deduplicated
        // by its key (a second send with a key answers the first one's stored reply).
        Rpc.make(persistedTag(method), {
          payload: { key: Schema.String, payload: task.payload },
          primaryKey: ({ key }) => key,
          success: task.success,
          error
        }).annotate(ClusterSchema.Persisted, true)
      ]
    })
    entity = Entity.make(actor.name, rpcs) as unknown as Entity.Any
    entities.set(actor, entity)
  }
  return entity
}

/** The RPC of a method's persisted calls. */
export const persistedTag = (method: string): string => `${method}@persisted`

const deliveryFailures = new Set<string>([
  "MailboxFull",
  "AlreadyProcessingMessage",
  "PersistenceError",
  "EntityNotAssignedToRunner",
  "RpcClientError"
])

/**
 * Times a call its runner interrupted is sent again before it fails with `ClusterError` /
 * `Interrupted`: each is a runner giving up the call (one shutting down, one that lost the shard's
 * lock); more in a row means runners keep failing under it, which the caller should hear about.
 */
export const remoteInterruptResends = 3

/** The pause before such a re-send: the shard's next owner is found by the cluster's own retries. */
const resendDelayMillis = 50

/**
 * A call interrupted on its runner, not by its caller (whose own interruption is never caught
 * here), is sent again, to the shard's owner by then; after `remoteInterruptResends` such
 * interruptions in a row, a typed failure, since the caller cannot tell whether it ran.
 *
 * **Details**: effect/cluster answers a call with a bare interruption when the runner it reached
 * gives it up: a SIGTERMed runner stops an entity whose activation the call was waiting for
 * (it never started), and a runner past its drain timeout or that lost its shard locks interrupts
 * calls under way. A re-send is what effect/cluster's client does for a call whose runner died:
 * a `call` may run twice (as documented); a `persist`ed call keeps its idempotency key, so the
 * re-send is deduplicated by the cluster's storage and answers the first one's reply.
 */
export const catchRemoteInterrupt = <A, E, R>(
  entityType: string,
  entityId: string,
  method: string,
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E | ClusterError, R> => {
  const attempt = (resends: number): Effect.Effect<A, E | ClusterError, R> =>
    Effect.catchCause(self, (cause): Effect.Effect<A, E | ClusterError, R> => {
      if (!Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
      if (resends > 0) return Effect.delay(attempt(resends - 1), resendDelayMillis)
      return Effect.fail(
        new ClusterError({
          actorName: entityType,
          entityId,
          method,
          reason: new Interrupted({
            message: `the runner interrupted the call before it answered (sent ${remoteInterruptResends + 1} times)`
          })
        })
      )
    })
  return attempt(remoteInterruptResends)
}

/**
 * A call's failure as its caller sees it: the cluster's own delivery errors become
 * `ClusterError` / `Undelivered`; everything else (declared, `TaskError`, `ActorError`) is itself.
 */
export const toCallFailure = (entityType: string, entityId: string, method: string, error: unknown): unknown => {
  const tag = typeof error === "object" && error !== null ? (error as { _tag?: unknown })._tag : undefined
  if (typeof tag !== "string" || !deliveryFailures.has(tag)) return error
  return new ClusterError({
    actorName: entityType,
    entityId,
    method,
    reason: new Undelivered({ failure: tag as Undelivered["failure"], message: deliveryMessage(tag, error) })
  })
}

/**
 * What a delivery failure says. effect/cluster's own errors carry no message (`""`): their facts
 * are fields, the shard, the envelope, the storage's cause, which the message was left without.
 */
const deliveryMessage = (tag: string, error: unknown): string => {
  const { address, cause, envelopeId, message } = error as {
    readonly message?: unknown
    readonly cause?: unknown
    readonly envelopeId?: unknown
    readonly address?: { readonly shardId?: { readonly group?: unknown; readonly id?: unknown } }
  }
  if (typeof message === "string" && message !== "") return message
  const shard = address?.shardId === undefined ? "" : ` (shard ${String(address.shardId.group)}/${String(address.shardId.id)})`
  switch (tag) {
    case "MailboxFull":
      return `the entity's mailbox is full${shard}`
    case "EntityNotAssignedToRunner":
      return `no runner owns the entity's shard${shard}`
    case "AlreadyProcessingMessage":
      return `the entity is already processing this persisted message (envelope ${String(envelopeId)})${shard}`
    case "PersistenceError":
      return `the cluster's message storage failed: ${cause === undefined ? "no cause given" : uncaughtText(cause)}`
    default:
      return tag
  }
}
