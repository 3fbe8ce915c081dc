/**
 * The runner's side of `Cluster`: the entities a runner registers for its host — one per actor
 * (each activation spawns the actor on the runner's pool; durable actors' snapshots and the
 * replies of their persisted calls) and one per task (`Cluster.pool`'s chunks, run on the local pool).
 */
import * as Entity from "effect/cluster/Entity"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Duration from "effect/Duration"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import type * as ClusterSharding from "effect/cluster/Sharding"
import type * as Actor from "../../core/Actor.ts"
import { ActorError, InitFailed } from "../../core/ActorError.ts"
import type * as Task from "../../core/Task.ts"
import { Defect, renderInput, TaskError } from "../../core/TaskError.ts"
import { entityOf, persistedTag } from "../../runtime/cluster/ActorEntity.ts"
import { StateStore } from "../../runtime/cluster/StateStore.ts"
import { type ChunkRequest, runChunk, taskEntityOf } from "../../runtime/cluster/TaskEntity.ts"
import { runnerKey } from "../../runtime/client/PoolClient.ts"
import { durationMillis } from "../../runtime/internal/duration.ts"
import { uncaughtText } from "../../runtime/internal/errorText.ts"
import { issueOf } from "../../runtime/protocol/codec.ts"
import { spawn } from "../Actor.ts"

type Sharding = ClusterSharding.Sharding

/** How a runner hosts one actor (`Cluster.HostedActor`, as this module reads it). */
export interface HostedEntity {
  readonly init: (entityId: string, restored: unknown) => unknown
  readonly snapshot?: string | undefined
  readonly snapshotEvery?: number | undefined
  readonly maxIdleTime?: Duration.Input | undefined
  readonly restart?: Actor.RestartPolicy | undefined
}

/** A task's chunks (`Cluster.pool`), each run on the local pool, concurrently within a lane. */
export const layerTaskEntity = (task: Task.Any) =>
  taskEntityOf(task).toLayer(
    Effect.map(runnerKey(task.name), (pool) => ({
      run: (request: { readonly payload: ChunkRequest }) => runChunk(task, pool, request.payload)
    })) as any,
    { concurrency: "unbounded" }
  ) as Layer.Layer<never, never, Task.Runner<string> | Sharding>

/**
 * One actor as an entity type: each activated entity spawns the actor on the local pool, in the
 * entity's scope (so passivation or a shard move stops it), and forwards each RPC as a call.
 */
export const layerEntity = (actor: Actor.Any, hosted: HostedEntity) => {
  const entity = entityOf(actor)
  const snapshotMethod = hosted.snapshot
  const stateCodec = snapshotMethod === undefined
    ? undefined
    : Schema.toCodecJson(actor.methods[snapshotMethod]!.success as Schema.Codec<unknown, unknown>)
  const every = Math.max(1, Math.floor(hosted.snapshotEvery ?? 1))
  const build = Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const store = yield* StateStore
    // Replies of the persisted calls whose effect the saved state includes, by method and
    // idempotency key (`replyKey`).
    let replies = new Map<string, StoredReply>()
    // Each activation's actor lives in a scope of its own, closed when the entity's scope closes
    // (passivation, a shard move) right after the last snapshot, or when a dead actor is replaced.
    let actorScope: Scope.Closeable | undefined
    const stopActor = Effect.suspend(() => actorScope === undefined ? Effect.void : Scope.close(actorScope, Exit.void))
    const load = stateCodec === undefined ? Effect.undefined : loadState(store, actor, address.entityId, stateCodec)
    // Loaded here, not by the first call's build: a replayed persisted call looks for its saved
    // reply before it calls.
    let preloaded = yield* load
    replies = new Map(preloaded?.replies)
    // Spawns the actor, from its last snapshot if durable.
    const activate = Effect.gen(function*() {
      yield* stopActor
      actorScope = yield* Scope.make()
      const saved = preloaded ?? (yield* load)
      preloaded = undefined
      replies = new Map(saved?.replies)
      // The host's init is the user's code: a throw is this build's failure, typed, as a constructor
      // that dies is locally. As a defect it restarted the entity, which replayed the call without end.
      let init: unknown
      try {
        init = hosted.init(address.entityId, saved?.state)
      } catch (error) {
        return Exit.fail(initThrew(actor, address.entityId, error))
      }
      return yield* Effect.exit(Scope.provide(
        spawn(actor, init, { ...(hosted.restart === undefined ? {} : { restart: hosted.restart }) }),
        actorScope
      ))
    })
    // Set below, once the calls it makes are defined; a build interrupted before then only stops.
    let snapshot: Effect.Effect<void> = Effect.void
    yield* Effect.addFinalizer(() => Effect.andThen(Effect.suspend(() => snapshot), stopActor))
    // The actor, built by the first call rather than here: each spawn's outcome belongs to the calls
    // that waited for it, as a local `Actor.spawn`'s failure is its caller's. Undefined until then.
    let current: Exit.Exit<Actor.Handle<Actor.Any>, unknown> | undefined
    const building = yield* Semaphore.make(1)
    // Builds that failed in a row, and when the next may start: until then a call is answered the
    // last build's failure, so callers retrying at once do not re-run a failing (maybe costly) init.
    let failedBuilds = 0
    let retryAt = 0
    // Builds the actor again unless a concurrent call already replaced `seen`, or a failed build's
    // backoff is not over; answers what is there.
    const renew = (seen: typeof current) =>
      building.withPermit(Effect.suspend(() => {
        if (current !== seen) return Effect.succeed(current!)
        return Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (current?._tag === "Failure" && now < retryAt) return Effect.succeed(current)
          return Effect.flatMap(activate, (next) =>
            Effect.map(Clock.currentTimeMillis, (end) => {
              failedBuilds = next._tag === "Failure" ? failedBuilds + 1 : 0
              if (failedBuilds > 0) retryAt = end + initBackoffMillis(hosted.restart, failedBuilds)
              return (current = next)
            }))
        })
      }))
    const callOn = (handle: Actor.Handle<Actor.Any>, method: string, payload: unknown) =>
      (handle.call as (m: string, p: unknown) => Effect.Effect<unknown, unknown>)(method, payload)
    // A call that finds no actor — none built yet, its init failed for earlier calls, or it died
    // (its worker crashed, restarts used up) — builds it, and fails with the init failure if that
    // build fails: a transient init failure is not the answer of every later call, only of those
    // within its backoff. A call in flight on an actor that died failed with `WorkerLost`; the next
    // one, which never reached it, builds it.
    const call = (method: string, payload: unknown): Effect.Effect<unknown, unknown, Task.Runner<string>> =>
      Effect.suspend(() => {
        const seen = current
        if (seen?._tag !== "Success") {
          return Effect.flatMap(renew(seen), (next) => next._tag === "Failure" ? next : callOn(next.value, method, payload))
        }
        return callOn(seen.value, method, payload).pipe(
          Effect.catchIf(isDead, (dead) =>
            Effect.flatMap(renew(seen), (next) =>
              next === seen ? Effect.fail(dead) : next._tag === "Failure" ? next : callOn(next.value, method, payload)))
        )
      })
    // Never builds the actor (`callOn`, not `call`): a dead actor's state is gone, and passivation
    // must not start a new actor. The next call rebuilds it from the last snapshot.
    snapshot = snapshotMethod === undefined
      ? Effect.void
      : Effect.suspend(() => current?._tag === "Success" ? callOn(current.value, snapshotMethod, undefined) : Effect.undefined).pipe(
        Effect.flatMap((state) =>
          state === undefined ? Effect.void : Effect.flatMap(
            Schema.encodeUnknownEffect(stateCodec!)(state),
            (json) => store.save(actor.name, address.entityId, JSON.stringify({ state: json, replies: [...replies] }))
          )
        ),
        Effect.catchCause((cause) =>
          Effect.logWarning(`actor ${actor.name}/${address.entityId}: state snapshot failed`, cause)
        )
      )
    let calls = 0
    const handlers: Record<
      string,
      (request: { readonly payload: unknown }) => Effect.Effect<unknown, unknown, Task.Runner<string>>
    > = {}
    for (const method of Object.keys(actor.methods)) {
      const durable = snapshotMethod !== undefined && method !== snapshotMethod
      const codec = durable ? replyCodecs(actor, method) : undefined
      const handle = (payload: unknown, key?: string) =>
        durable
          ? Effect.onExit(call(method, payload), (exit) => {
            if (key !== undefined) remember(replies, replyKey(method, key), codec!, exit)
            return ++calls % every === 0 ? snapshot : Effect.void
          })
          : call(method, payload)
      handlers[method] = (request) => handle(request.payload)
      handlers[persistedTag(method)] = (request) => {
        const { key, payload } = request.payload as { readonly key: string; readonly payload: unknown }
        // Replayed after its runner died, with its effect already in the saved state: answer the
        // reply saved with that state instead of running it again.
        const stored = durable ? replies.get(replyKey(method, key)) : undefined
        return stored === undefined ? handle(payload, key) : replayStored(actor, method, key, payload, codec!, stored)
      }
    }
    return handlers
  }) as Effect.Effect<any, never, Task.Runner<string> | Scope.Scope | Entity.CurrentAddress | StateStore>
  return entity.toLayer(build, {
    concurrency: actor.concurrent.size > 0 ? "unbounded" : 1,
    ...(hosted.maxIdleTime === undefined ? {} : { maxIdleTime: hosted.maxIdleTime })
  }) as Layer.Layer<never, never, Task.Runner<string> | Sharding | StateStore>
}

/**
 * The wait after the `failures`-th failed build in a row before the next may start: the restart
 * policy's `backoff`, doubling up to its `maxBackoff`, with `Actor.spawn`'s defaults (100 ms, 30 s).
 */
const initBackoffMillis = (policy: Actor.RestartPolicy | undefined, failures: number): number => {
  // An invalid duration makes each build die (`spawn` names the option): the default spaces those.
  const millis = (input: Duration.Input | undefined, fallback: number) => {
    const value = input === undefined ? fallback : durationMillis(input)
    return value >= 0 ? value : fallback
  }
  return Math.min(millis(policy?.maxBackoff, 30_000), millis(policy?.backoff, 100) * 2 ** (failures - 1))
}

/** The failure of a build whose host `init` threw: `ActorError` / `InitFailed` (`Defect`), naming the entity. */
const initThrew = (actor: Actor.Any, entityId: string, error: unknown): ActorError =>
  new ActorError({
    actorName: actor.name,
    actorId: -1,
    workerId: -1,
    input: renderInput(entityId),
    reason: new InitFailed({
      failure: "Defect",
      message: `the host's init threw for entity "${entityId}": ${uncaughtText(error)}`
    })
  })

/** A call that reached no actor because it is dead: the entity builds it again. */
const isDead = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "ActorError" &&
  (error as ActorError).reason._tag === "Unavailable" &&
  ((error as ActorError).reason as { readonly state?: string }).state === "Dead"

/** A persisted call's outcome as saved with a durable actor's state: JSON by the method's Schemas. */
type StoredReply = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown }

/**
 * A persisted call's reply, by its method and key: the cluster deduplicates a key per method (its
 * RPC), so the same key on two methods is two calls, and must not answer one with the other's reply.
 */
const replyKey = (method: string, key: string): string => `${method}\u0000${key}`

/** Replies kept per durable entity: the most recent keys, enough for any client's retry window. */
const maxStoredReplies = 1000

interface ReplyCodecs {
  readonly success: Schema.Codec<unknown, unknown>
  readonly error: Schema.Codec<unknown, unknown>
}

const replyCodecs = (actor: Actor.Any, method: string): ReplyCodecs => {
  const rpc = entityOf(actor).protocol.requests.get(method)! as unknown as {
    readonly successSchema: Schema.Codec<unknown, unknown>
    readonly errorSchema: Schema.Codec<unknown, unknown>
  }
  return { success: Schema.toCodecJson(rpc.successSchema), error: Schema.toCodecJson(rpc.errorSchema) }
}

/** Keeps a persisted call's outcome (a success or a declared failure; never a defect) for its key. */
const remember = (replies: Map<string, StoredReply>, key: string, codec: ReplyCodecs, exit: Exit.Exit<unknown, unknown>) => {
  let stored: StoredReply | undefined
  if (exit._tag === "Success") {
    const encoded = Schema.encodeUnknownExit(codec.success)(exit.value)
    if (encoded._tag === "Success") stored = { ok: true, value: encoded.value }
  } else {
    const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
    const encoded = failure === undefined ? undefined : Schema.encodeUnknownExit(codec.error)(failure.error)
    if (encoded?._tag === "Success") stored = { ok: false, error: encoded.value }
  }
  if (stored === undefined) return
  replies.delete(key)
  replies.set(key, stored)
  if (replies.size > maxStoredReplies) replies.delete(replies.keys().next().value!)
}

/**
 * A saved reply, decoded by the method's Schemas. One that no longer decodes (saved by an earlier
 * version of the method) fails its call with `TaskError` / `Defect` (`ReplyDecodeError`): a defect
 * here made the entity restart and the persisted call replay, again at each restart.
 */
const replayStored = (
  actor: Actor.Any,
  method: string,
  key: string,
  payload: unknown,
  codec: ReplyCodecs,
  stored: StoredReply
): Effect.Effect<unknown, unknown> => {
  const exit = stored.ok
    ? Schema.decodeUnknownExit(codec.success)(stored.value)
    : Schema.decodeUnknownExit(codec.error)(stored.error)
  if (exit._tag === "Failure") {
    return Effect.fail(
      new TaskError({
        taskName: `${actor.name}.${method}`,
        actor: actor.name,
        taskId: -1,
        workerId: -1,
        attempts: 0,
        input: renderInput(payload),
        reason: new Defect({
          remoteName: "ReplyDecodeError",
          message: `the reply saved for persisted call "${key}" does not decode by the method's ${
            stored.ok ? "success" : "error"
          } Schema (saved by an earlier version?): ${issueOf(exit).message}`,
          remoteStack: ""
        })
      })
    )
  }
  return stored.ok ? Effect.succeed(exit.value) : Effect.fail(exit.value)
}

/**
 * The last saved state of a durable entity and the replies saved with it; a snapshot that no
 * longer decodes is logged and ignored (the actor starts afresh).
 */
const loadState = (
  store: StateStore["Service"],
  actor: Actor.Any,
  entityId: string,
  codec: Schema.Codec<unknown, unknown>
): Effect.Effect<{ readonly state: unknown; readonly replies: ReadonlyArray<readonly [string, StoredReply]> } | undefined> =>
  Effect.flatMap(store.load(actor.name, entityId), (json) => {
    if (json === undefined) return Effect.undefined
    return Effect.try(() => JSON.parse(json) as { readonly state: unknown; readonly replies?: Array<[string, StoredReply]> }).pipe(
      Effect.flatMap((saved) =>
        Effect.map(Schema.decodeUnknownEffect(codec)(saved.state), (state) => ({ state, replies: saved.replies ?? [] }))
      ),
      Effect.catchCause((cause) =>
        Effect.as(
          Effect.logWarning(`actor ${actor.name}/${entityId}: saved state does not decode; starting afresh`, cause),
          undefined
        )
      )
    )
  })
