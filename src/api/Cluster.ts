/**
 * Actors and tasks across processes and machines, on Effect's own cluster engine (`effect/cluster`).
 *
 * Contains the caller's side (`handle`: a handle to the actor with a given entity id, called like
 * a local one, with `persist` for persisted calls; `pool`: a Layer under which the unchanged
 * `Task.run` / `map` / `mapUnordered` / `stream` spread a task's chunks over the runners; `map` and
 * `stream`, the same on a pool of their own), the runner's side (`host`: the actors and tasks a runner hosts on its own pool of
 * worker threads, durable actors' snapshots; `layerRunner`), and the cluster itself (`layerMemory`:
 * everything in this process, for development and unit tests; `layerPostgres`: runners and clients
 * sharing a PostgreSQL database; `failover`: lock settings).
 *
 * ```ts
 * // actors.ts, imported by runners and clients
 * export const Counter = Actor.make("Counter", { init: { start: Schema.Number }, methods: { add: … } })
 * export const Group = Task.group(Counter)
 * // host.ts, given to `effect-parallel runner --module ./host.ts`
 * export default Cluster.host(Group, {
 *   entry: new URL("./worker.ts", import.meta.url),
 *   actors: { Counter: { init: (entityId) => ({ start: 0 }) } }
 * })
 * // a client
 * const counter = yield* Cluster.handle(Counter, "user-42")     // requires Sharding
 * yield* counter.call("add", { n: 1 })
 * ```
 *
 * **Entities.** An actor definition is an entity type named after it whose RPCs are its methods
 * (the same Schemas). The cluster shards entity ids over the runners; the runner that owns an id
 * activates the entity on its first message by spawning the actor on its local pool with the init
 * arguments its host derives from the id (`init: (entityId) => …`), and stops it when the entity
 * is passivated (idle for `maxIdleTime`, or its shard moves). Actor state lives in the worker: it
 * follows a moved entity only for a durable actor (`snapshot` in the host), restored from its last
 * snapshot; any other starts from its init arguments on its new runner.
 *
 * **Ordering and delivery.** Calls to one entity are handled one at a time in arrival order
 * (all at once where the actor declares methods `concurrent`). A runner shut down gracefully
 * (SIGTERM) finishes the calls in flight before its shards move. A `call` is not persisted, but
 * a call whose runner became unreachable (killed) or gave it up (interrupted it: a call waiting for
 * its entity's activation on a runner shutting down, a runner past its drain timeout or that lost
 * its shard locks) is re-sent to the shard's next owner once there is one: such a call may run twice. A `persist`ed call is stored first,
 * replayed by the shard's next owner, and deduplicated by its idempotency key; on a durable actor
 * its effect is in the saved state exactly once.
 */
import type * as ClusterSharding from "effect/cluster/Sharding"
import type * as ShardingConfig from "effect/cluster/ShardingConfig"
import * as RunnerAddress from "effect/cluster/RunnerAddress"
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as SocketServer from "effect/socket/SocketServer"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type * as Actor from "../core/Actor.ts"
import type { ActorError } from "../core/ActorError.ts"
import { ClusterError } from "../core/ClusterError.ts"
import { InvalidOptions, PoolError, Unsupported } from "../core/PoolError.ts"
import type * as Task from "../core/Task.ts"
import { PayloadInvalid, renderInput, TaskError as TaskErrorClass } from "../core/TaskError.ts"
import type { TaskError } from "../core/TaskError.ts"
import { StateStore } from "../runtime/cluster/StateStore.ts"
import * as StateStores from "../runtime/cluster/StateStore.ts"
import type { ClusterPoolOptions, SendChunk } from "../runtime/cluster/ClusterPool.ts"
import type { ChunkReply } from "../runtime/cluster/TaskEntity.ts"
import { runnerKey } from "../runtime/client/PoolClient.ts"
import { durationMillis } from "../runtime/internal/duration.ts"
import { containsShared } from "../runtime/memory/Arena.ts"
import { EventHub } from "../runtime/observe/EventHub.ts"
import { codecOf, issueOf } from "../runtime/protocol/codec.ts"
import { poolClock } from "../runtime/protocol/protocol.ts"
import { checked, countOf, windowOf } from "./internal/batches.ts"
import type { HostedEntity } from "./internal/clusterEntities.ts"
import type * as Engine from "./internal/clusterEngine.ts"
import { resolveRestart } from "./internal/restart.ts"
import * as TaskApi from "./Task.ts"
import * as WorkerPool from "./WorkerPool.ts"

export { ClusterError, Interrupted, Undelivered } from "../core/ClusterError.ts"

/** The cluster client a handle requires: `effect/cluster`'s `Sharding`. */
export type Sharding = ClusterSharding.Sharding

/**
 * Where durable actors' state snapshots live (`layerMemory` and `layerPostgres` provide one;
 * `layerStateMemory` / `layerStateSql` for a cluster Layer of your own).
 */
export { StateStore }
export const layerStateMemory: Layer.Layer<StateStore> = StateStores.layerMemory
export const layerStateSql = StateStores.layerSql

/** What a runner needs from its cluster Layer: routing (`Sharding`) and a `StateStore`. */
export type Services = Sharding | StateStore

let engineLoad: Promise<typeof Engine> | undefined
/**
 * effect/cluster's entities and runners, loaded when a cluster is first used rather than when this
 * module is: task-definition files import the package's root, so every worker thread would load
 * them (+3.6 MB of each worker's heap, ~50–90 ms of its start, measured), and a larger heap makes
 * every full collection of a worker that allocates slower.
 */
const engine: Effect.Effect<typeof Engine> = Effect.promise(() => engineLoad ??= import("./internal/clusterEngine.ts"))

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/**
 * How a call to an actor on the cluster fails besides its declared error: what a local call can
 * fail with, the actor's init error (the calls that waited for a build of the actor that failed carry
 * it; the next call builds it again), or
 * `ClusterError` when the cluster could not deliver it.
 */
export type CallFailure<A extends Actor.Any> = TaskError | ActorError | Actor.InitError<A> | ClusterError

/** A handle to the actor with entity id `entityId`, wherever in the cluster it runs. */
export interface Handle<A extends Actor.Any> {
  readonly actor: A
  readonly entityId: string
  /**
   * Calls a method and waits for its outcome.
   *
   * **Gotchas**: a call in flight on a runner that dies, or that interrupts it (shutting down,
   * lost its shard), is re-sent to the shard's next owner, so it may run twice; use `persist` on a
   * durable actor for effects that must happen once. `ClusterError` / `Interrupted` only after
   * runners interrupted it 4 times in a row.
   */
  readonly call: <K extends Actor.MethodName<A>>(
    method: K,
    ...payload: Task.PayloadArg<Actor.Methods<A>[K]>
  ) => Effect.Effect<Task.Success<Actor.Methods<A>[K]>, Task.Error<Actor.Methods<A>[K]> | CallFailure<A>>
  /**
   * Calls a method as a **persisted** message with an idempotency key: the call is saved in the
   * cluster's message storage before it is delivered, so a runner lost while holding it does not
   * lose it — the shard's next owner replays it and the caller gets that answer. A second call with
   * the same key (a client retrying after a timeout or its own restart) is not run again: it
   * answers the first one's stored reply.
   *
   * **Durable actors** (`snapshot` in the host, `snapshotEvery` 1): the call's reply is saved with
   * the state it produced, in the same snapshot, before it is answered; a replay finds it there and
   * answers it without running again. Its effect is in the state exactly once. A saved reply that
   * the method's Schemas no longer decode (an earlier version saved it) fails the call with
   * `TaskError` / `Defect` (`remoteName` `ReplyDecodeError`).
   *
   * **Gotchas**: for other actors, at least once: a call replayed after its runner died mid-call
   * may run twice. With `snapshotEvery` above 1 a call answered after the last snapshot is lost
   * with its runner (its reply is stored, so it is not replayed). Needs message storage
   * (`layerPostgres`, `layerMemory`); each call costs storage writes and a reply poll (≈ 0.2 s
   * `entityReplyPollInterval` for a client that is not the runner).
   */
  readonly persist: <K extends Actor.MethodName<A>>(
    key: string,
    method: K,
    ...payload: Task.PayloadArg<Actor.Methods<A>[K]>
  ) => Effect.Effect<Task.Success<Actor.Methods<A>[K]>, Task.Error<Actor.Methods<A>[K]> | CallFailure<A>>
  /**
   * Sends a message without waiting for its outcome: completes once the owning runner has
   * accepted it. Fails only when its payload fails its Schema (`TaskError` / `PayloadInvalid`) or
   * it could not be delivered (`ClusterError`); later failures are the runner's to log.
   */
  readonly tell: <K extends Actor.MethodName<A>>(
    method: K,
    ...payload: Task.PayloadArg<Actor.Methods<A>[K]>
  ) => Effect.Effect<void, TaskError | ClusterError>
}

/**
 * How a runner hosts one actor: its init arguments from the entity id, its lifetime, and for a
 * durable actor the method that snapshots its state.
 */
export type HostedActor<A extends Actor.Any> = HostedLifetime & (Ephemeral<A> | Durable<A>)

export interface HostedLifetime {
  /**
   * Passivates (stops) the actor after this long without a message. Default: the cluster's (1 minute).
   * A duration `>= 0` (`Infinity`: never); anything else makes `host` throw a `RangeError`.
   */
  readonly maxIdleTime?: Duration.Input | undefined
  /**
   * Rebuilds the actor in its runner's pool after its worker dies (see `Actor.spawn`). An init
   * failure of a first build is not retried by the policy, as locally (`Actor.spawn` fails): it
   * fails the calls that waited for that build, and the first call after a backoff builds the actor
   * again. Calls within the backoff fail at once with that init failure, without running the init:
   * it is this policy's `backoff` (default 100 ms), doubling with each failed build in a row up to
   * `maxBackoff` (default 30 s), with or without a policy.
   */
  readonly restart?: Actor.RestartPolicy | undefined
}

/** An actor whose state starts afresh on each activation. */
export interface Ephemeral<A extends Actor.Any> {
  readonly snapshot?: undefined
  /**
   * The actor's init arguments for an entity id. Called on the runner that builds the actor, each
   * time it does: on the entity's first call (again after a move, or after it was idle for
   * `maxIdleTime`), and on the next call after its init failed or it died. A throw fails that
   * build: the calls that waited for it fail with `ActorError` / `InitFailed` (`Defect`).
   */
  readonly init: (entityId: string) => Actor.Init<A>
}

/**
 * A durable actor: the method `snapshot` (no payload) answers its state, whose Schema is that
 * method's success Schema. The runner saves the state (as JSON, in the cluster's storage) after
 * every `snapshotEvery` calls — before it answers the call that completes the count — and when the
 * entity is passivated; the next activation, on any runner, gets the last saved state in `init`.
 *
 * **Gotchas**: with `snapshotEvery` above 1 (or a runner killed between a call and its snapshot)
 * the calls since the last snapshot are lost with the runner: the entity resumes from the
 * snapshot. A snapshot that fails is logged and the call still answers.
 */
export type Durable<A extends Actor.Any> = {
  readonly [K in Actor.MethodName<A>]: {
    readonly snapshot: K
    /**
     * Calls between snapshots, a positive integer (`Infinity`: only at passivation). Default 1:
     * every call's effect on the state is saved before it is answered.
     */
    readonly snapshotEvery?: number | undefined
    /** The init arguments for an entity id and its last saved state (undefined the first time). */
    readonly init: (entityId: string, restored: Task.Success<Actor.Methods<A>[K]> | undefined) => Actor.Init<A>
  }
}[Actor.MethodName<A>]

/**
 * What a runner hosts: a task group's actors, served by a worker entry on the runner's local pool.
 * A runner module (`effect-parallel runner --module`) default-exports one.
 */
export interface Host<Names extends string = string> {
  readonly [HostTypeId]: HostTypeId
  readonly group: Task.Group<Task.Any, Actor.Any>
  readonly pool: WorkerPool.Options
  readonly actors: { readonly [name: string]: HostedActor<Actor.Any> }
  /** Phantom: the names of the hosted actors. */
  readonly names?: Names
}
export const HostTypeId = "~effect-parallel/Cluster/Host" as const
export type HostTypeId = typeof HostTypeId

export const isHost = (u: unknown): u is Host => typeof u === "object" && u !== null && HostTypeId in u

// ---------------------------------------------------------------------------------------------
// Caller's side
// ---------------------------------------------------------------------------------------------

/**
 * A handle to the actor `actor` with entity id `entityId`. Nothing starts here: the runner that
 * owns the id activates the actor on the first call.
 *
 * **When to use**: actors that must outlive one process or one machine, or more actors than
 * one machine can hold. A call crosses a socket, its runner's event loop and a worker thread
 * (≈ 0.35–0.6 ms at the median on loopback against ≈ 20–30 µs on a local pool): send coarse calls.
 *
 * **Gotchas**: fails with `PoolError` / `Unsupported` (`sharesMemory`) for an actor whose methods
 * carry shared memory (a shared array or a channel in a payload, success or error): calls cross as
 * JSON, where shared memory has no form, so such calls could never share it.
 */
export const handle = <A extends Actor.Any>(actor: A, entityId: string): Effect.Effect<Handle<A>, PoolError, Sharding> =>
  Effect.flatMap(engine, ({ catchRemoteInterrupt, entityOf, persistedTag, toCallFailure }) => {
    const shared = sharedMethod(actor)
    if (shared !== undefined) {
      return Effect.fail(
        new PoolError({ reason: new Unsupported({ capability: "sharesMemory", message: sharedMessage(actor, shared) }) })
      )
    }
    return Effect.map(entityOf(actor).client, (makeClient) => {
      const client = makeClient(entityId) as unknown as Record<
        string,
        (payload: unknown, options?: { readonly discard?: boolean }) => Effect.Effect<unknown, unknown>
      >
      const send = (method: string, given: unknown, discard: boolean, key?: string) => {
        const rpc = client[key === undefined ? method : persistedTag(method)]
        if (rpc === undefined || !(method in actor.methods)) {
          return Effect.die(new Error(`actor ${actor.name} has no method "${method}"`))
        }
        // A payload left out is what its Schema takes for none (`{}` for a struct of optional
        // fields), as on a local handle.
        const payload = given === undefined ? codecOf(actor.methods[method]!).absentPayload : given
        const invalid = payloadInvalid(actor.methods[method]!, payload, actor.name)
        if (invalid !== undefined) return Effect.fail(invalid)
        const message = key === undefined ? payload : { key, payload }
        return catchRemoteInterrupt(
          actor.name,
          entityId,
          method,
          Effect.mapError(
            discard ? rpc(message, { discard: true }) : rpc(message),
            (error) => toCallFailure(actor.name, entityId, method, error)
          )
        )
      }
      return {
        actor,
        entityId,
        call: (method: string, payload?: unknown) => send(method, payload, false),
        persist: (key: string, method: string, payload?: unknown) => send(method, payload, false, key),
        tell: (method: string, payload?: unknown) => Effect.asVoid(send(method, payload, true))
      } as unknown as Handle<A>
    })
  })

/** Options of a cluster-backed pool (`pool`). */
export interface PoolOptions {
  /**
   * The cluster's worker threads, as `Task.map` sees them when it picks a chunk size (about four
   * chunks per worker, at most 256 tasks each). Default 8.
   */
  readonly size?: number | undefined
  /** Chunks in flight at once over the whole cluster. Default twice `size`. */
  readonly concurrency?: number | undefined
  /**
   * Times a task is re-sent after it was lost with its runner (the cluster could not deliver its
   * chunk or the reply, or the runner interrupted it) or with its worker on the runner (past that
   * runner's own pool `retries`). Re-sent alone, to the next lane. Default 0: such a task fails with
   * `TaskError` / `WorkerLost`. Counts this pool's sends only: the runner pool's retries do not use
   * them up, so a task runs at most (`retries` + 1) × (that pool's `retries` + 1) times; the
   * error's `attempts` counts every run.
   */
  readonly retries?: number | undefined
}

/**
 * A pool whose workers are the cluster's runners, for the tasks of `group`: with it provided,
 * `Task.run`, `Task.map`, `Task.mapUnordered` and `Task.stream` run unchanged across runners.
 * Each submission is cut into chunks (as on a local pool); each chunk goes to one of 64 lane
 * entities, sharded over the runners that host the group (`layerRunner`), and runs on that
 * runner's local pool.
 *
 * ```ts
 * const cubes = yield* Task.map(Cube, inputs)         // Runner<"Cube">
 * program.pipe(Effect.provide(Cluster.pool(Group, { retries: 1 })), Effect.provide(Cluster.layerPostgres({ url })))
 * ```
 *
 * **Details**: the same ordering (`map` in input order, `mapUnordered` in completion order), the
 * same errors (the declared error as itself; `TaskError` with the worker and task ids of the
 * runner's pool, the runner in `runner`, the failing input), the same fail-fast (the first failure
 * cancels the chunks in flight on their runners), timeouts enforced in the runners' workers.
 * A task lost with its runner or worker is re-sent per `retries`; only those tasks.
 *
 * **Gotchas**: each chunk costs a cluster round trip (≈ 1 ms): give chunks work (`chunkSize`).
 * Payloads, successes and declared errors cross as JSON by their Schemas' encoded forms; tasks
 * with shared arrays cannot (`PoolError` / `Unsupported`). A chunk in flight on a runner that
 * dies may run twice: effect/cluster's client re-sends it to the shard's next owner. Tasks of a
 * group no runner hosts fail only after the cluster's `entityRegistrationTimeout` (1 minute).
 * Traces are not carried to the runners.
 */
export const pool = <Tasks extends Task.Any, Actors>(
  group: Task.Group<Tasks, Actors>,
  options?: PoolOptions
): Layer.Layer<Task.Runner<Tasks["name"]>, PoolError, Sharding> =>
  Layer.effectContext(Effect.gen(function*() {
    const resolved = yield* resolvePoolOptions(options)
    const { ClusterPool, taskEntityOf, toCallFailure } = yield* engine
    const tasks = new Map<string, { readonly task: Task.Any; readonly send: SendChunk }>()
    for (const task of Object.values(group.tasks) as ReadonlyArray<Task.Any>) {
      if (containsShared(task.payload) || containsShared(task.success)) {
        return yield* Effect.fail(
          new PoolError({
            reason: new Unsupported({
              capability: "sharesMemory",
              message: `task ${task.name} carries shared arrays, which cannot cross to the cluster's runners`
            })
          })
        )
      }
      const makeClient = yield* taskEntityOf(task).client
      const entityType = `Task/${task.name}`
      const send: SendChunk = (lane, payloads, timeoutMillis) => {
        const client = makeClient(lane) as unknown as {
          readonly run: (payload: { readonly payloads: ReadonlyArray<unknown>; readonly timeoutMillis: number }) => Effect.Effect<
            ChunkReply,
            unknown
          >
        }
        return Effect.mapError(client.run({ payloads, timeoutMillis }), (error) => toCallFailure(entityType, lane, "run", error))
      }
      tasks.set(task.name, { task, send })
    }
    const fork = yield* FiberSet.makeRuntime<never, ChunkReply, unknown>()
    const client = new ClusterPool(tasks, resolved, fork, new EventHub(now))
    // Added after the fibers' set, so it runs first: queued tasks fail `Closed` before the chunks
    // in flight are interrupted (ClusterPool rule 5).
    yield* Effect.addFinalizer(() => Effect.sync(() => client.close()))
    let context = Context.empty() as Context.Context<any>
    for (const name of tasks.keys()) context = Context.add(context, runnerKey(name), client)
    return context as Context.Context<Task.Runner<Tasks["name"]>>
  }))

/** Options of `map` and `stream` across runners. */
export interface MapOptions {
  /**
   * Inputs per chunk (one cluster message each). Default 64. A positive integer or `Infinity`:
   * anything else dies with a `RangeError` naming it and the function called.
   */
  readonly chunkSize?: number | undefined
  /** Chunks in flight at once over the whole cluster. Default 8. */
  readonly concurrency?: number | undefined
  /** Times a task lost with its runner or worker is re-sent (see `PoolOptions.retries`). Default 0. */
  readonly retries?: number | undefined
}

/**
 * `Task.map` across the cluster's runners, on a `pool` of its own: the inputs go in chunks of
 * `chunkSize` to the runners that host `task`'s group, each chunk runs on its runner's local pool,
 * and the successes come back in input order. Fails as `Task.map` on `pool` does, and with
 * `PoolError` where `pool` would (invalid options; `Unsupported` for a task with shared arrays).
 *
 * **When to use**: a one-off map where providing `pool` is not worth it; with `pool` provided,
 * `Task.map` itself does the same.
 */
export const map = <T extends Task.Any>(
  task: T,
  inputs: Iterable<Task.Payload<T>>,
  options?: MapOptions
): Effect.Effect<Array<Task.Success<T>>, Task.Error<T> | TaskError | PoolError, Sharding> =>
  Effect.suspend(() => {
    // Read here, so a refused chunk size names `Cluster.map`, not the `Task.map` it runs.
    let chunkSize: number
    try {
      chunkSize = countOf(options?.chunkSize, 64, `Cluster.map(${task.name}): chunkSize`)
    } catch (error) {
      return Effect.die(error)
    }
    return Effect.provide(
      TaskApi.map(task, inputs, { chunkSize }),
      pool(TaskApi.group(task), { concurrency: options?.concurrency ?? 8, retries: options?.retries })
    )
  }) as Effect.Effect<Array<Task.Success<T>>, Task.Error<T> | TaskError | PoolError, Sharding>

/**
 * `Task.stream` across the cluster's runners, on a `pool` of its own: a `Stream` stage that groups
 * elements into chunks (`chunkSize` within `chunkWindow`), runs each chunk on a runner, with at
 * most `concurrency` chunks in flight, and emits the successes in order. Upstream is pulled only
 * as results leave (backpressure); the first failure fails the stream. Fails with `PoolError` where
 * `pool` would.
 */
export const stream = <T extends Task.Any>(task: T, options?: MapOptions & {
  /** How long a partial chunk waits for more elements before it is sent. Default 5 ms; not a duration `>= 0`: dies with a `RangeError`. */
  readonly chunkWindow?: Duration.Input | undefined
}) =>
<E, R>(
  self: Stream.Stream<Task.Payload<T>, E, R>
): Stream.Stream<Task.Success<T>, E | Task.Error<T> | TaskError | PoolError, R | Sharding> => {
  const concurrency = options?.concurrency ?? 8
  // Read here, so a refused chunk size or window names `Cluster.stream`, not the `Task.stream` it runs.
  return checked(() =>
    self.pipe(
      TaskApi.stream(task, {
        chunkSize: countOf(options?.chunkSize, 64, `Cluster.stream(${task.name}): chunkSize`),
        chunkWindow: windowOf(options?.chunkWindow, `Cluster.stream(${task.name}): chunkWindow`),
        concurrency
      }),
      Stream.provide(pool(TaskApi.group(task), { concurrency, retries: options?.retries }))
    )
  ) as Stream.Stream<Task.Success<T>, E | Task.Error<T> | TaskError | PoolError, R | Sharding>
}

// ---------------------------------------------------------------------------------------------
// Runner's side
// ---------------------------------------------------------------------------------------------

/**
 * What a runner hosts: the actors of `group`, their worker entry and local pool options, and for
 * each actor how its init arguments come from the entity id.
 *
 * **Details**: every actor of the group must be listed (one whose methods carry shared memory is
 * refused: an `Error`, as `handle` refuses it; so is a `restart` policy or `maxIdleTime` that is
 * not one: a `RangeError` naming the actor); their tasks are served by the same pool
 * (`pool.size` worker threads, default one per core), so CPU-bound methods never stall the
 * runner's event loop — which must stay responsive to keep its shard locks.
 */
export const host = <Tasks extends Task.Any, Actors extends Actor.Any>(
  group: Task.Group<Tasks, Actors>,
  options: WorkerPool.Options & {
    readonly actors: NoInfer<{ readonly [A in Actors as A["name"]]: HostedActor<A> }>
  }
): Host<Actors["name"]> => {
  const { actors, ...pool } = options
  for (const [name, actor] of Object.entries(group.actors) as ReadonlyArray<[string, Actor.Any]>) {
    const hosted = (actors as Record<string, HostedActor<Actor.Any> | undefined>)[name]
    if (typeof hosted?.init !== "function") throw new Error(`Cluster.host: no init for actor "${name}"`)
    const shared = sharedMethod(actor)
    if (shared !== undefined) throw new Error(`Cluster.host: ${sharedMessage(actor, shared)}`)
    checkLifetime(actor, hosted)
    if (hosted.snapshot !== undefined) checkDurable(actor, hosted as Durable<Actor.Any>)
  }
  return {
    [HostTypeId]: HostTypeId,
    group: group as unknown as Task.Group<Task.Any, Actor.Any>,
    pool,
    actors: actors as { readonly [name: string]: HostedActor<Actor.Any> }
  }
}

/**
 * A runner: the host's local pool, then the cluster (`layerPostgres`, or `layerMemory`), then the
 * host's entities registered with it. Built in that order so that at shutdown the entities drain
 * first (calls in flight finish, for up to the cluster's `entityTerminationTimeout`), the cluster
 * hands the shards over, and only then the pool's workers stop.
 */
export const layerRunner = <Names extends string, E, R>(
  host: Host<Names>,
  cluster: Layer.Layer<Services, E, R>
): Layer.Layer<Services, E | PoolError, R> =>
  Layer.unwrap(Effect.map(engine, ({ layerEntity, layerTaskEntity }) => {
    const entities = [
      ...Object.values(host.group.actors).map((actor) => layerEntity(actor, host.actors[actor.name]! as HostedEntity)),
      ...Object.values(host.group.tasks).map(layerTaskEntity)
    ].reduce(
      (merged, entity) => Layer.merge(merged, entity),
      Layer.empty as Layer.Layer<never, never, Task.Runner<string> | Services>
    )
    return entities.pipe(
      Layer.provideMerge(cluster),
      Layer.provideMerge(WorkerPool.layer(host.group, host.pool) as Layer.Layer<Task.Runner<string>, PoolError>)
    ) as unknown as Layer.Layer<Services, E | PoolError, R>
  }))

/**
 * The whole cluster in this process, in memory (`effect/cluster`'s `TestRunner`): for development
 * and unit tests. Messages still go through their Schemas, as they would between processes.
 */
export const layerMemory: Layer.Layer<Services> = Layer.unwrap(
  Effect.map(engine, ({ TestRunner }) => Layer.merge(TestRunner.layer, StateStores.layerMemory))
)

/** Options of a cluster on PostgreSQL. */
export interface PostgresOptions {
  /** `postgres://user:password@host:port/database` (see `scripts/setup-postgres.sh`). */
  readonly url: string
  /**
   * Where this runner listens for other runners and clients. Absent: a client only, which
   * calls entities and hosts none.
   */
  readonly runner?: { readonly host: string; readonly port: number } | undefined
  /**
   * `effect/cluster`'s settings (lock and polling intervals); the same on every process. For
   * failover faster than the 35 s default, lower `shardLockExpiration` (with
   * `shardLockRefreshInterval` at most a third of it): see `failover`.
   */
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Service"]> | undefined
}

/**
 * Settings that bring a killed runner's entities back on another runner within a few seconds:
 * its shard locks expire after `shardLockExpiration` (default 35 s) and the survivors look for
 * free shards every `refreshAssignmentsInterval` (default 3 s).
 *
 * **Gotchas**: a runner whose event loop stalls longer than the lock expiry loses its shards
 * while alive; keep CPU-bound work in the pool's workers (what `host` does).
 */
export const failover = (seconds: number): Partial<ShardingConfig.ShardingConfig["Service"]> => {
  // Locks are refreshed every 250 ms at the fastest: a shorter expiry would let them lapse between
  // refreshes, and shards would move between live runners without end.
  if (!(seconds >= 1 && Number.isFinite(seconds))) {
    throw new RangeError(`Cluster.failover: seconds must be a number of at least 1, got ${seconds}`)
  }
  return failoverSettings(seconds)
}

const failoverSettings = (seconds: number): Partial<ShardingConfig.ShardingConfig["Service"]> => ({
  shardLockExpiration: Duration.seconds(seconds),
  shardLockRefreshInterval: Duration.millis(Math.max(250, Math.floor((seconds * 1000) / 4))),
  refreshAssignmentsInterval: Duration.millis(Math.max(250, Math.min(1000, Math.floor((seconds * 1000) / 4)))),
  sendRetryInterval: Duration.millis(50)
})

/**
 * Runners and clients on PostgreSQL: shard locks, runner registry and persisted messages in the
 * database (`@effect/sql-pg`), calls between processes over sockets
 * (`@effect/platform-node`'s `NodeClusterSocket`). Both are optional peers, loaded when this
 * Layer is built; the Layer dies saying which to install when one is missing. It fails with
 * `SqlError` when the database cannot be reached (down, a refused login, a URL that is not one).
 */
export const layerPostgres = (
  options: PostgresOptions
): Layer.Layer<Services, Config.ConfigError | SocketServer.SocketServerError | SqlError> => {
  const port = options.runner?.port
  // The port is also the address the runner registers: 0 would listen on a port of the OS's choice
  // while the other processes send this runner's shards to port 0.
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw new RangeError(`Cluster.layerPostgres: runner.port must be a port number from 1 to 65535, got ${port}`)
  }
  return Layer.unwrap(Effect.gen(function*() {
    // Each peer loaded on its own, so the error names the install that brings the missing one.
    const peer = <A>(name: string, load: () => Promise<A>) =>
      Effect.tryPromise({
        try: load,
        catch: (cause) =>
          new Error(
            `Cluster.layerPostgres needs the optional peers @effect/platform-node and @effect/sql-pg; ${name} is missing (npm install ${name}): ${
              String(cause)
            }`
          )
      }).pipe(Effect.orDie)
    const [{ layer: socketLayer }, { layer: pgLayer }] = yield* Effect.all([
      peer("@effect/platform-node", () => import("@effect/platform-node/NodeClusterSocket")),
      peer("@effect/sql-pg", () => import("@effect/sql-pg/PgClient"))
    ], { concurrency: 2 })
    const runner = options.runner
    const cluster = socketLayer({
      storage: "sql",
      clientOnly: runner === undefined,
      shardingConfig: {
        ...options.shardingConfig,
        // A RunnerAddress (not a plain object): the runner finds its own shards by Equal.
        runnerAddress: runner === undefined ? Option.none() : Option.some(RunnerAddress.make(runner.host, runner.port))
      }
    }) as Layer.Layer<Sharding, Config.ConfigError | SocketServer.SocketServerError, import("effect/sql/SqlClient").SqlClient>
    // Reached once first, so an unreachable database, a refused login or a bad URL fails the Layer
    // with its SqlError: effect/cluster's migrations and the state store's table check die on one.
    const sql = Layer.effectDiscard(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`)).pipe(
      Layer.provideMerge(pgLayer({ url: Redacted.make(options.url) }))
    )
    return Layer.merge(cluster, StateStores.layerSql).pipe(Layer.provide(sql))
  }))
}

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

/**
 * The caller's side checks a payload against its Schema before sending it, so a bad one fails
 * with `TaskError` / `PayloadInvalid` naming the path, as locally, instead of a transport defect.
 */
const payloadInvalid = (task: Task.Any, payload: unknown, actor?: string): TaskError | undefined => {
  const exit = encoders(task)(payload)
  if (exit._tag === "Success") return undefined
  const issue = issueOf(exit)
  return new TaskErrorClass({
    taskName: task.name,
    taskId: -1,
    workerId: -1,
    attempts: 0,
    input: renderInput(payload),
    reason: new PayloadInvalid({ path: [...issue.path], message: issue.message }),
    ...(actor === undefined ? {} : { actor })
  })
}

const encoderCache = new WeakMap<Task.Any, (payload: unknown) => Exit.Exit<unknown, Schema.SchemaError>>()
const encoders = (task: Task.Any) => {
  let encode = encoderCache.get(task)
  if (encode === undefined) {
    encode = Schema.encodeUnknownExit(task.payload as Schema.Codec<unknown, unknown>)
    encoderCache.set(task, encode)
  }
  return encode
}

const now = poolClock

const sharedMethods = new WeakMap<Actor.Any, string | null>()
/**
 * The first method of `actor` whose payload, success or error may carry shared memory, which a
 * cluster call cannot carry (it crosses as JSON, where a shared array has no form).
 */
const sharedMethod = (actor: Actor.Any): string | undefined => {
  let found = sharedMethods.get(actor)
  if (found === undefined) {
    found = Object.entries(actor.methods).find(([, method]) =>
      containsShared(method.payload) || containsShared(method.success) || containsShared(method.error)
    )?.[0] ?? null
    sharedMethods.set(actor, found)
  }
  return found ?? undefined
}

const sharedMessage = (actor: Actor.Any, method: string): string =>
  `actor "${actor.name}"'s method "${method}" carries shared memory (a shared array or a channel), which cannot cross to the cluster's runners`

/**
 * A hosted actor's lifetime, checked when the host is made: the runner reads it only when an entity
 * is registered or built, where a restart policy that is not one made every build die, so the entity
 * restarted and replayed the call without end (the caller waited forever), and a `maxIdleTime` that
 * is no duration stopped the runner ("Invalid Input") or, negative or NaN, was taken as one.
 */
const checkLifetime = (actor: Actor.Any, hosted: HostedLifetime): void => {
  const restart = resolveRestart(`Cluster.host(${actor.name})`, hosted.restart)
  if (restart instanceof RangeError) throw restart
  const idle = hosted.maxIdleTime
  if (idle !== undefined && !(durationMillis(idle) >= 0)) {
    throw new RangeError(`Cluster.host(${actor.name}): maxIdleTime must be a duration >= 0, got ${String(idle)}`)
  }
}

/**
 * A durable actor's snapshot settings, checked when the host is made: a snapshot method the runner
 * cannot call without a payload, or a `snapshotEvery` the count never reaches (NaN), would leave
 * the state unsaved, each snapshot failing with a logged warning or never taken.
 */
const checkDurable = (actor: Actor.Any, hosted: Durable<Actor.Any>): void => {
  const method = Object.hasOwn(actor.methods, hosted.snapshot) ? actor.methods[hosted.snapshot] : undefined
  if (method === undefined) {
    throw new Error(`Cluster.host: actor "${actor.name}" has no method "${hosted.snapshot}" to snapshot its state`)
  }
  if (encoders(method)(codecOf(method).absentPayload)._tag === "Failure") {
    throw new Error(
      `Cluster.host: actor "${actor.name}"'s snapshot method "${hosted.snapshot}" must take no payload (the runner calls it without one)`
    )
  }
  const every = hosted.snapshotEvery
  if (every !== undefined && !(every >= 1 && (Number.isInteger(every) || every === Infinity))) {
    throw new RangeError(`Cluster.host: actor "${actor.name}"'s snapshotEvery must be a positive integer, got ${every}`)
  }
}

const resolvePoolOptions = (options: PoolOptions | undefined): Effect.Effect<ClusterPoolOptions, PoolError> => {
  const invalid = (path: string, message: string) =>
    Effect.fail(new PoolError({ reason: new InvalidOptions({ path: [path], message }) }))
  const size = options?.size ?? 8
  if (!Number.isInteger(size) || size < 1) return invalid("size", `size must be a positive integer, got ${size}`)
  const concurrency = options?.concurrency ?? size * 2
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    return invalid("concurrency", `concurrency must be a positive integer, got ${concurrency}`)
  }
  const retries = options?.retries ?? 0
  if (!Number.isInteger(retries) || retries < 0) return invalid("retries", `retries must be a non-negative integer, got ${retries}`)
  return Effect.succeed({ size, concurrency, retries })
}
