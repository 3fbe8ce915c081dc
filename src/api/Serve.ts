/**
 * Model serving over HTTP with dynamic batching (Ray Serve's `@serve.batch`, Triton's dynamic
 * batcher): a deployment is a model actor with a batch method, run as `replicas` actors that each
 * load the model once in their scoped constructor; a server Layer serves deployments on a port.
 *
 * Contains `batchMethod` (the method shape a deployment calls), `deployment`, `layer` (the
 * server) and `Server` (its URL and counters).
 *
 * ```ts
 * // definitions: the model actor, its batch method taking a Float32 matrix of items
 * export const Mnist = Actor.make("Mnist", { init: { modelPath: Schema.String }, methods: { predictBatch: Serve.batchMethod } })
 * // caller
 * const mnist = Serve.deployment("mnist", { actor: Mnist, method: "predictBatch", init: { modelPath },
 *   inputSize: 784, replicas: 2, batching: { maxBatchSize: 32, maxWait: "5 millis" }, maxQueued: 512, timeout: "2 seconds" })
 * Serve.layer([mnist], { port: 8080 }).pipe(Layer.provide(WorkerPool.layer(Models, { entry, size: 2 })))
 * ```
 *
 * **Routes**: `POST /v1/models/<name>/predict` (JSON `{"inputs": [[…]]}` or `{"input": […]}`, or an
 * `application/octet-stream` body of Float32 items; answers `{"outputs": [[…]]}` (NaN and the
 * infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`) or Float32 bytes as
 * `Accept` prefers, the body's own format on a tie or without one; `406` when it allows neither),
 * `GET /healthz`, `GET /readyz`,
 * `GET /metrics` (Prometheus text), `GET /openapi.json`, `GET /docs`.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type { Any, Handle, Init, MethodName, Methods, RestartPolicy } from "../core/Actor.ts"
import type { ReadonlySharedMatrix } from "../core/SharedArray.ts"
import * as SharedArraySchemas from "../core/SharedArray.ts"
import { InvalidDeployment, InvalidOptions, ListenFailed, ServeError } from "../core/ServeError.ts"
import type * as Task from "../core/Task.ts"
import { transportOf } from "../runtime/client/ActorHandle.ts"
import { unavailable } from "../runtime/client/call.ts"
import { durationMillis, maxTimerMillis } from "../runtime/internal/duration.ts"
import { Batcher, type Outcome, type Pending } from "../runtime/serve/Batcher.ts"
import type { DeploymentRuntime, DeploymentStatus, ServingState } from "../runtime/serve/Routes.ts"
import { DeploymentMetrics } from "../runtime/serve/ServeMetrics.ts"
import * as Actor from "./Actor.ts"
import * as SharedArray from "./SharedArray.ts"

export type { DeploymentStatus } from "../runtime/serve/Routes.ts"

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/**
 * The batch method of a served model, for `Actor.make`'s `methods`: a `rows × inputSize` Float32
 * matrix in shared memory in (one row per item, read in place by the replica), a
 * `rows × outputSize` matrix out, moved back without a copy.
 */
export const batchMethod = {
  payload: SharedArraySchemas.Float32Matrix,
  success: SharedArraySchemas.matrix("Float32", { memory: "moved" })
} as const

/** What a batch method returns: one row of `cols` numbers per item, in order. */
export interface BatchResult {
  readonly rows: number
  readonly cols: number
  readonly data: Float32Array
}

/** The methods of `A` that take a Float32 matrix and return one: what a deployment can call. */
export type BatchMethodName<A extends Any> = {
  [K in MethodName<A>]: ReadonlySharedMatrix<"Float32"> extends Task.Payload<Methods<A>[K]>
    ? Task.Success<Methods<A>[K]> extends BatchResult ? K : never
    : never
}[MethodName<A>]

export interface Batching {
  /** Most items in one batch, and in one request (more is a 400). Default 32. */
  readonly maxBatchSize?: number | undefined
  /**
   * How long a batch may collect requests, counted from its first, while every replica is busy;
   * then it goes to the least busy replica's mailbox. A request that finds a replica idle goes at
   * once. Default 5 ms; at most 24 days (a timer's range).
   */
  readonly maxWait?: Duration.Input | undefined
  /** Batches in flight per replica (one running, the rest in its mailbox). Default 2. */
  readonly maxBatchesPerReplica?: number | undefined
}

export interface DeploymentOptions<A extends Any, K extends BatchMethodName<A>> {
  readonly actor: A
  readonly method: K
  /** Each replica's constructor arguments. */
  readonly init: Init<A>
  /** Numbers per item: the width of the batch matrix, checked on every request. */
  readonly inputSize: number
  /** Actors serving the model, one per worker while there are enough. Default 1. */
  readonly replicas?: number | undefined
  readonly batching?: Batching | undefined
  /** Requests waiting for a batch before the next is refused with 503. Default 512. */
  readonly maxQueued?: number | undefined
  /**
   * Admission by expected wait: a request is refused at once with 503 and `Retry-After` (as when
   * the queue is full) when the items queued and running ahead of it would take the replicas
   * longer than this, at the time per item measured over the last batches (Batcher rule 7).
   * Default: the `timeout` — a request that would miss its deadline is refused now rather than
   * answered 504 later, after it took a place in the queue.
   *
   * **When to use**: a latency target. `maxQueued` bounds memory, but how long a queue of a given
   * length takes depends on the model and the machine; this bounds the wait itself, so accepted
   * requests keep their latency under overload and the rest are refused fast.
   *
   * **Gotchas**: the estimate is the replicas' recent pace, seen from the server: a model whose
   * time per item varies much from batch to batch is refused earlier or later than the bound.
   */
  readonly maxExpectedWait?: Duration.Input | undefined
  /** A request's deadline, from its arrival to its answer; past it, 504. Default 30 s. */
  readonly timeout?: Duration.Input | undefined
  /** Restart policy of each replica. Default `{ maxRestarts: 3 }`. */
  readonly restart?: RestartPolicy | undefined
  /**
   * A batch whose replica died is sent once more, to another ready replica, instead of failing
   * with 503. Default false: at most once, as for every actor call.
   */
  readonly retryOnReplicaLoss?: boolean | undefined
}

/** A model deployment: what `layer` serves at `/v1/models/<name>/predict`. */
export interface Deployment<A extends Any = Any> {
  readonly name: string
  readonly actor: A
  readonly method: string
  readonly init: unknown
  readonly inputSize: number
  readonly replicas: number
  readonly maxBatchSize: number
  readonly maxWaitMillis: number
  readonly maxBatchesPerReplica: number
  readonly maxQueued: number
  readonly maxExpectedWaitMillis: number
  readonly timeoutMillis: number
  readonly restart: RestartPolicy
  readonly retryOnReplicaLoss: boolean
}

export interface ServerOptions {
  /**
   * Default 8080; 0 picks a free port (read it from `Server`). Not an integer from 0 to 65535:
   * `ListenFailed`, as a port in use.
   */
  readonly port?: number | undefined
  /** Default 127.0.0.1: loopback only. */
  readonly host?: string | undefined
  /**
   * How long closing waits for accepted requests to be answered before it cuts them. Default 30 s.
   */
  readonly drainTimeout?: Duration.Input | undefined
}

/** Counters of one deployment. */
export interface DeploymentStats {
  readonly queued: number
  readonly batchesInFlight: number
  readonly batches: number
  readonly items: number
  /** Answered predict requests by HTTP status. */
  readonly answered: Readonly<Record<number, number>>
  readonly status: DeploymentStatus
}

/** A running server: its URL and each deployment's counters. */
export class Server extends Context.Service<Server, {
  readonly url: string
  readonly stats: (deployment: string) => DeploymentStats | undefined
}>()("effect-parallel/Serve/Server") {}

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

/**
 * A deployment named `name` (the URL segment: letters, digits, `.`, `_`, `-`). Options are
 * checked when `layer` builds, into `ServeError` / `InvalidDeployment` naming the option.
 */
export const deployment = <A extends Any, K extends BatchMethodName<A>>(
  name: string,
  options: DeploymentOptions<A, K>
): Deployment<A> => ({
  name,
  actor: options.actor,
  method: options.method,
  init: options.init,
  inputSize: options.inputSize,
  replicas: options.replicas ?? 1,
  maxBatchSize: options.batching?.maxBatchSize ?? 32,
  maxWaitMillis: millis(options.batching?.maxWait, 5),
  maxBatchesPerReplica: options.batching?.maxBatchesPerReplica ?? 2,
  maxQueued: options.maxQueued ?? 512,
  maxExpectedWaitMillis: millis(options.maxExpectedWait, millis(options.timeout, 30_000)),
  timeoutMillis: millis(options.timeout, 30_000),
  restart: options.restart ?? { maxRestarts: 3 },
  retryOnReplicaLoss: options.retryOnReplicaLoss ?? false
})

/**
 * Serves `deployments` on a port for as long as the Layer lives; provides `Server`.
 *
 * **Details**: the server listens at once; each deployment's replicas are spawned on their
 * actors' pool (which the Layer needs, e.g. `WorkerPool.layer`) meanwhile, and `/readyz` answers
 * 200 once every deployment has a replica ready. A replica whose constructor fails leaves its
 * deployment unready with the failure in `/readyz`; it does not fail the Layer.
 *
 * **Gotchas**: closing drains. `/readyz` and new predictions answer 503 at once, the port stops
 * accepting connections, every accepted request is answered (within `drainTimeout`), then the
 * replicas stop and release their models. Needs `@effect/platform-node` (an optional peer
 * dependency), loaded only here.
 */
export const layer = <const Ds extends ReadonlyArray<Deployment>>(
  deployments: Ds,
  options?: ServerOptions
): Layer.Layer<Server, ServeError, Task.Runner<Ds[number]["actor"]["name"]>> =>
  Layer.effect(Server)(Effect.gen(function*() {
    const names = new Set<string>()
    for (const d of deployments) {
      yield* validate(d)
      if (names.has(d.name)) return yield* invalid(d, ["name"], "two deployments have this name")
      names.add(d.name)
    }
    const port = options?.port ?? 8080
    if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
      // Node's listen throws on it: a defect that the typed error below would not catch.
      const message = `port must be an integer from 0 to 65535, got ${String(port)}`
      return yield* new ServeError({ reason: new ListenFailed({ port, message }) })
    }
    const drainMillis = millis(options?.drainTimeout, 30_000)
    // NaN or below zero cut every accepted request at once (no drain at all); past a timer's range
    // Node fires it at once too.
    if (!(drainMillis >= 0 && drainMillis <= maxTimerMillis)) {
      const message = `drainTimeout must be a duration from 0 to ${maxTimerMillis} ms, got ${String(options?.drainTimeout)}`
      return yield* new ServeError({ reason: new InvalidOptions({ path: ["drainTimeout"], message }) })
    }
    const scope = yield* Effect.scope
    // Replicas live in a scope made before the server's, so they are released after it drains.
    const replicaScope = yield* Scope.fork(scope, "parallel")
    const context = yield* Effect.context<never>()
    const runtimes = new Map<string, DeploymentRuntime>()
    const counters = new Map<string, { batches: number; items: number }>()
    for (const d of deployments) {
      const made = yield* makeDeployment(d, context, replicaScope)
      runtimes.set(d.name, made.runtime)
      counters.set(d.name, made.counters)
    }
    const state: ServingState = { deployments: runtimes, draining: false }
    const http = yield* Effect.orDie(Effect.tryPromise({
      try: () => import("../runtime/serve/NodeServer.ts"),
      catch: (error) =>
        new Error(`serving models needs @effect/platform-node (npm install @effect/platform-node): ${String(error)}`)
    }))
    const url = yield* http.start(state, { port, host: options?.host ?? "127.0.0.1", drainTimeoutMillis: drainMillis }).pipe(
      Effect.mapError((error) => new ServeError({ reason: new ListenFailed({ port, message: String(error.cause ?? error) }) }))
    )
    return {
      url,
      stats: (name) => {
        const runtime = runtimes.get(name)
        const counter = counters.get(name)
        if (runtime === undefined || counter === undefined) return undefined
        const batcher = runtime.batcher.stats()
        return {
          queued: batcher.queued,
          batchesInFlight: batcher.inFlight.reduce((a, b) => a + b, 0),
          batches: counter.batches,
          items: counter.items,
          answered: runtime.metrics.answeredByStatus(),
          status: runtime.status()
        }
      }
    }
  })) as Layer.Layer<Server, ServeError, Task.Runner<Ds[number]["actor"]["name"]>>

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

/** `NaN` for no duration (a NaN `maxExpectedWait` read as zero refused every request). */
const millis = (input: Duration.Input | undefined, fallback: number): number =>
  input === undefined ? fallback : durationMillis(input)

const invalid = (d: Deployment, path: ReadonlyArray<string>, message: string) =>
  Effect.fail(new ServeError({ reason: new InvalidDeployment({ deployment: d.name, path: [...path], message }) }))

const validate = (d: Deployment): Effect.Effect<void, ServeError> => {
  const positiveInt = (value: number) => Number.isSafeInteger(value) && value > 0
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(d.name)) {
    return invalid(d, ["name"], `${JSON.stringify(d.name)} is not a URL segment (letters, digits, ".", "_", "-")`)
  }
  if (!(d.method in d.actor.methods)) return invalid(d, ["method"], `actor ${d.actor.name} has no method ${d.method}`)
  const checks: ReadonlyArray<readonly [ReadonlyArray<string>, boolean, string]> = [
    [["inputSize"], positiveInt(d.inputSize), `must be a positive integer, got ${d.inputSize}`],
    [["replicas"], positiveInt(d.replicas), `must be a positive integer, got ${d.replicas}`],
    [["batching", "maxBatchSize"], positiveInt(d.maxBatchSize), `must be a positive integer, got ${d.maxBatchSize}`],
    // The batcher waits with one setTimeout, which fires at once past 2^31 - 1 ms (24.8 days).
    [
      ["batching", "maxWait"],
      d.maxWaitMillis >= 0 && d.maxWaitMillis <= maxTimerMillis,
      "must be a duration from 0 to 24 days"
    ],
    [
      ["batching", "maxBatchesPerReplica"],
      positiveInt(d.maxBatchesPerReplica),
      `must be a positive integer, got ${d.maxBatchesPerReplica}`
    ],
    [["maxQueued"], positiveInt(d.maxQueued), `must be a positive integer, got ${d.maxQueued}`],
    [["maxExpectedWait"], d.maxExpectedWaitMillis >= 0, "must be a duration (Infinity turns it off)"],
    [["timeout"], Number.isFinite(d.timeoutMillis) && d.timeoutMillis > 0, "must be a finite positive duration"],
    // Checked here, not left to Actor.spawn: its RangeError would die in the background spawn,
    // leaving the deployment unready with no failure in /readyz.
    [
      ["restart", "maxRestarts"],
      (Number.isInteger(d.restart.maxRestarts) && d.restart.maxRestarts >= 0) || d.restart.maxRestarts === Infinity,
      `must be a whole number >= 0, or Infinity; got ${String(d.restart.maxRestarts)}`
    ],
    [["restart", "backoff"], millis(d.restart.backoff, 0) >= 0, `must be a duration >= 0, got ${String(d.restart.backoff)}`],
    [
      ["restart", "maxBackoff"],
      millis(d.restart.maxBackoff, 0) >= 0,
      `must be a duration >= 0, got ${String(d.restart.maxBackoff)}`
    ]
  ]
  for (const [path, ok, message] of checks) if (!ok) return invalid(d, path, message)
  return Effect.void
}

/** Spawns the replicas (in the background, in `replicaScope`) and wires the batcher to them. */
const makeDeployment = (d: Deployment, context: Context.Context<never>, replicaScope: Scope.Scope) =>
  Effect.gen(function*() {
    const handles: Array<Handle<Any> | undefined> = Array.from({ length: d.replicas }, () => undefined)
    const failures: Array<string> = []
    const counters = { batches: 0, items: 0 }
    const runFork = yield* FiberSet.makeRuntime<Task.Runner<string>>()
    const status = (): DeploymentStatus => ({
      replicas: d.replicas,
      ready: handles.filter((h) => h !== undefined).length,
      failures: [...failures]
    })

    const settleAll = (batch: ReadonlyArray<Pending>, outcome: (pending: Pending, offset: number) => Outcome) => {
      let offset = 0
      for (const pending of batch) {
        if (pending.state === "dispatched") {
          pending.state = "settled"
          pending.settle(outcome(pending, offset))
        }
        offset += pending.rows
      }
    }

    const callReplica = (replica: number, items: number, batch: ReadonlyArray<Pending>) =>
      Effect.scoped(Effect.gen(function*() {
        const matrix = yield* SharedArray.makeMatrixUninitialized("Float32", items, d.inputSize)
        const data = matrix.data
        let at = 0
        for (const pending of batch) {
          data.set(pending.input, at)
          at += pending.input.length
        }
        const handle = handles[replica]!
        return (yield* handle.call(d.method as never, matrix as never)) as unknown as BatchResult
      }))

    /**
     * Out of restarts: the replica serves no more batches, and /readyz says why. Called as the actor
     * dies (its pool's `onDead`), and after each attempt of a batch for a runner without it.
     */
    const retireIfDead = (replica: number, cause: Cause.Cause<unknown>) => {
      if (!isDead(cause) || handles[replica] === undefined) return
      handles[replica] = undefined
      batcher.setReady(replica, false)
      failures.push(`replica ${replica}: ${String(Cause.squash(cause))}`)
      // No replica left to send the queue to: its requests would wait for their deadline (504),
      // while one arriving now is answered 503 at once (not ready). They are answered alike.
      if (handles.every((h) => h === undefined)) {
        batcher.failQueued({ status: 503, message: `model ${d.name} is not ready: ${failures[failures.length - 1]}` })
      }
    }

    const runBatch = (replica: number, batch: ReadonlyArray<Pending>): Effect.Effect<void, never, Task.Runner<string>> =>
      Effect.gen(function*() {
        const startedAt = performance.now()
        let items = 0
        for (const pending of batch) {
          items += pending.rows
          metrics.queueWait.record(startedAt - pending.arrivedAt)
        }
        metrics.recordBatch(items)
        counters.batches++
        counters.items += items
        let exit = yield* Effect.exit(callReplica(replica, items, batch))
        // The replica the last attempt ran on: each attempt's failure is its own replica's.
        let ranOn = replica
        if (Exit.isFailure(exit)) retireIfDead(replica, exit.cause)
        if (Exit.isFailure(exit) && d.retryOnReplicaLoss && isReplicaLoss(exit.cause)) {
          // Batcher rule 6: to the least busy other replica, counted there while it runs.
          const other = batcher.reroute(replica, items)
          if (other !== undefined && handles[other] !== undefined) {
            ranOn = other
            exit = yield* Effect.exit(
              callReplica(other, items, batch).pipe(Effect.ensuring(Effect.sync(() => batcher.batchDone(other))))
            )
            if (Exit.isFailure(exit)) retireIfDead(other, exit.cause)
          } else if (other !== undefined) {
            batcher.batchDone(other)
          }
        }
        metrics.batchRun.record(performance.now() - startedAt)
        if (Exit.isSuccess(exit)) {
          const result = exit.value
          if (result.rows !== items || result.data.length !== result.rows * result.cols) {
            const message = `${d.actor.name}.${d.method} returned ${result.rows}×${result.cols} for ${items} items`
            settleAll(batch, () => ({ _tag: "Failure", status: 500, message }))
          } else {
            const width = result.cols
            settleAll(batch, (pending, offset) => ({
              _tag: "Success",
              output: result.data.subarray(offset * width, (offset + pending.rows) * width),
              width
            }))
          }
        } else {
          const lost = isReplicaLoss(exit.cause)
          const message = lost
            ? `replica ${ranOn} of ${d.name} was lost during this batch (${Cause.squash(exit.cause)}); it is being restarted`
            : `${d.actor.name}.${d.method} failed: ${String(Cause.squash(exit.cause))}`
          settleAll(batch, () => ({ _tag: "Failure", status: lost ? 503 : 500, message }))
        }
      }).pipe(Effect.ensuring(Effect.sync(() => batcher.batchDone(replica))))

    const batcher = new Batcher({
      maxBatchSize: d.maxBatchSize,
      maxWaitMillis: d.maxWaitMillis,
      maxQueued: d.maxQueued,
      maxExpectedWaitMillis: d.maxExpectedWaitMillis,
      maxBatchesPerReplica: d.maxBatchesPerReplica,
      replicas: d.replicas,
      dispatch: (replica, batch) => void runFork(runBatch(replica, batch))
    })
    const metrics = new DeploymentMetrics(d.name, () => batcher.stats(), context)
    // After the server drained (this finalizer was added before it): answer whatever is left.
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => Promise.race([batcher.idle(), new Promise((resolve) => setTimeout(resolve, 1_000).unref())])).pipe(
        Effect.andThen(Effect.sync(() => {
          batcher.close({ status: 503, message: "the server is shutting down" })
          metrics.close()
        }))
      )
    )

    for (let replica = 0; replica < d.replicas; replica++) {
      yield* Actor.spawn(d.actor, d.init as never, { worker: replica, restart: d.restart }).pipe(
        Effect.matchEffect({
          onSuccess: (handle) =>
            Effect.gen(function*() {
              handles[replica] = handle
              batcher.setReady(replica, true)
              // Retired as it dies, not at the next batch sent to it: that batch would fail
              // (a 503 without retryOnReplicaLoss) while another replica could take it.
              const unwatch = transportOf(handle).onDead?.(
                handle.id,
                () => retireIfDead(replica, Cause.fail(unavailable({ name: d.actor.name, id: handle.id }, "Dead")))
              )
              if (unwatch !== undefined) yield* Effect.addFinalizer(() => Effect.sync(unwatch))
            }),
          onFailure: (error) => Effect.sync(() => void failures.push(`replica ${replica}: ${String(error)}`))
        }),
        Effect.provideService(Scope.Scope, replicaScope),
        Effect.forkIn(replicaScope)
      )
    }
    const runtime: DeploymentRuntime = {
      name: d.name,
      inputSize: d.inputSize,
      maxItems: d.maxBatchSize,
      timeoutMillis: d.timeoutMillis,
      batcher,
      metrics,
      status
    }
    return { runtime, counters }
  })

const isDead = (cause: Cause.Cause<unknown>): boolean => {
  const error = Cause.squash(cause) as { _tag?: string; reason?: { _tag?: string } }
  return error?._tag === "ActorError" && error.reason?._tag === "Unavailable"
}

/** The batch's replica died under it, or is dead: what `retryOnReplicaLoss` retries and 503 reports. */
const isReplicaLoss = (cause: Cause.Cause<unknown>): boolean => {
  const error = Cause.squash(cause) as { _tag?: string; reason?: { _tag?: string } }
  return (error?._tag === "TaskError" && error.reason?._tag === "WorkerLost") ||
    (error?._tag === "ActorError" && error.reason?._tag === "Unavailable")
}
