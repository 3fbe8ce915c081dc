/**
 * Pipelines: `Stream` stages that run on pools and actor pools, bounded, each with its own
 * concurrency, order and error policy — Ray Data's streaming stages in Effect terms.
 *
 * Contains the stages (`task`: a task on its pool; `actors`: a method on an actor pool, for
 * stateful steps such as a model on each replica), the error log of the skip-and-record policy
 * (`errorLog`, `StageFailure`) and `PipelineError` (the budget ran out).
 *
 * ```ts
 * const log = Pipeline.errorLog({ budget: 10 })
 * yield* Stream.fromIterable(files).pipe(
 *   Pipeline.task(Decode, { concurrency: 4, batch: 16 }),
 *   Pipeline.actors(embedders, "embed", { ordered: false }),
 *   Pipeline.task(Index, { onError: log }),
 *   Stream.runDrain)
 * ```
 *
 * **Bounded.** A stage holds at most `concurrency` batches (`task`) or calls (`actors`) in flight
 * and pulls from upstream only as results leave, so a slow stage backpressures every stage before
 * it and a pipeline over an unbounded source runs in constant memory. Shared arrays made by one
 * stage pass to the next as handles (their memory is not copied through the caller).
 *
 * **Errors.** By default a stage fails fast: the first failure interrupts the work in flight and
 * fails the stream with that error. With an `ErrorLog` as `onError`, a failed element is recorded
 * (`StageFailure`: the element, the stage and the typed error) and skipped; once more elements
 * failed than the log's budget allows (over every stage sharing the log), the stream fails with
 * `PipelineError`. Interruption is never recorded.
 *
 * **Worker to worker.** For stages whose elements should not visit the caller at all, connect
 * workers with a `Channel`: stage A's actors send into it (`Channel.sink`), stage B's take from it
 * (`Channel.toStream`); see `examples/channels`.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type * as Actor from "../core/Actor.ts"
import { PipelineError } from "../core/PipelineError.ts"
import type { Any, Name, Payload, Runner, Success } from "../core/Task.ts"
import { renderInput } from "../core/TaskError.ts"
import * as ActorPool from "./ActorPool.ts"
import * as Task from "./Task.ts"

export * from "../core/PipelineError.ts"

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/** One element a skip-and-record stage gave up on: what it was, where, and why. */
export interface StageFailure<A = unknown, E = unknown> {
  readonly stage: string
  readonly element: A
  readonly error: E
}

/**
 * Where skip-and-record stages put their failures, with the budget they share: the
 * `budget + 1`-th failure fails the pipeline with `PipelineError`.
 */
export interface ErrorLog {
  readonly budget: number
  /** The failures so far, in the order they happened. */
  readonly failures: ReadonlyArray<StageFailure>
}

export interface StageOptions {
  /** The stage's name in failure records. Default: the task's name, or `Actor.method`. */
  readonly name?: string | undefined
  /** Keep input order (default), or emit in completion order. */
  readonly ordered?: boolean | undefined
  /** `"fail"` (default): fail fast. An `ErrorLog`: record the failed element and go on, within its budget. */
  readonly onError?: "fail" | ErrorLog | undefined
}

export interface TaskStageOptions extends StageOptions {
  /** Batches in flight at once. Default 4. */
  readonly concurrency?: number | undefined
  /** Elements sent to the pool together (within `batchWindow`). Default 64. */
  readonly batch?: number | undefined
  /** How long a partial batch waits for more elements. Default 5 ms. */
  readonly batchWindow?: Duration.Input | undefined
}

export interface ActorStageOptions extends StageOptions {
  /** Calls in flight at once. Default: one per actor in the pool. */
  readonly concurrency?: number | undefined
}

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

/** An error log for skip-and-record stages: at most `budget` failures before the pipeline fails. */
export const errorLog = (options: { readonly budget: number }): ErrorLog => {
  if (!(options.budget >= 0)) throw new RangeError(`Pipeline.errorLog: budget must be ≥ 0, got ${options.budget}`)
  return { budget: options.budget, failures: [] }
}

// ---------------------------------------------------------------------------------------------
// Stages
// ---------------------------------------------------------------------------------------------

/**
 * A stage that runs `task` on every element on its pool: elements go in batches of `batch`, at
 * most `concurrency` batches in flight.
 *
 * **Details**: under fail-fast, a batch is one `Task.map` (`mapUnordered` when not ordered). Under
 * skip-and-record each element of a batch is its own `Task.run` (the pool still sends a batch's
 * runs together), so one failure costs only its element.
 */
export const task = <T extends Any>(
  task: T,
  options?: TaskStageOptions
) =>
<E, R>(self: Stream.Stream<Payload<T>, E, R>): Stream.Stream<Success<T>, E | Task.Failure<T> | PipelineError, R | Runner<Name<T>>> => {
  const batch = positiveInt(options?.batch, 64)
  const ordered = options?.ordered ?? true
  const onError = options?.onError ?? "fail"
  const stage = options?.name ?? task.name
  const batches = self.pipe(Stream.groupedWithin(batch, options?.batchWindow ?? Duration.millis(5)))
  const concurrency = positiveInt(options?.concurrency, 4)
  if (onError === "fail") {
    return batches.pipe(
      Stream.mapEffect(
        (chunk) =>
          ordered
            ? Task.map(task, chunk, { chunkSize: batch, whenFull: "wait" })
            : Task.mapUnordered(task, chunk, { chunkSize: batch, whenFull: "wait" }),
        { concurrency, unordered: !ordered }
      ),
      Stream.flattenIterable
    )
  }
  return batches.pipe(
    Stream.mapEffect(
      (chunk) =>
        Effect.forEach(chunk, (element) => recording(onError, stage, element, Task.run(task, ...([element, { whenFull: "wait" }] as any))), {
          concurrency: "unbounded"
        }),
      { concurrency, unordered: !ordered }
    ),
    Stream.flattenIterable,
    Stream.filter((value): value is Success<T> => value !== skipped)
  ) as Stream.Stream<Success<T>, E | Task.Failure<T> | PipelineError, R | Runner<Name<T>>>
}

/**
 * A stage that calls `method` of the actors in `pool` on every element, each call to the least
 * busy actor: for stateful steps (a model loaded once per replica). At most `concurrency` calls in
 * flight (default: one per actor).
 */
export const actors = <A extends Actor.Any, K extends Actor.MethodName<A>>(
  pool: ActorPool.ActorPool<A>,
  method: K,
  options?: ActorStageOptions
) =>
<E, R>(
  self: Stream.Stream<Payload<ActorPool.Method<A, K>>, E, R>
): Stream.Stream<
  Success<ActorPool.Method<A, K>>,
  E | Task.Error<ActorPool.Method<A, K>> | Actor.CallFailure | PipelineError,
  R
> => {
  const ordered = options?.ordered ?? true
  const onError = options?.onError ?? "fail"
  const stage = options?.name ?? `${pool.handles[0]!.actor.name}.${method}`
  const concurrency = positiveInt(options?.concurrency, pool.handles.length)
  if (onError === "fail") {
    return self.pipe(
      Stream.mapEffect((element) => ActorPool.submit(pool, method, element), { concurrency, unordered: !ordered })
    )
  }
  return self.pipe(
    Stream.mapEffect((element) => recording(onError, stage, element, ActorPool.submit(pool, method, element)), {
      concurrency,
      unordered: !ordered
    }),
    Stream.filter((value) => value !== skipped)
  ) as any
}

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

/** What a skip-and-record stage emits for an element it gave up on; filtered out right after. */
const skipped: unique symbol = Symbol.for("effect-parallel/Pipeline/skipped")

/** Runs `effect`; a failure is recorded in `log` and skipped, or fails the stage past the budget. */
const recording = <A, B, E, R>(
  log: ErrorLog,
  stage: string,
  element: A,
  effect: Effect.Effect<B, E, R>
): Effect.Effect<B | typeof skipped, PipelineError, R> =>
  Effect.flatMap(Effect.result(effect), (result): Effect.Effect<B | typeof skipped, PipelineError> => {
    if (Result.isSuccess(result)) return Effect.succeed(result.success)
    const failures = log.failures as Array<StageFailure>
    failures.push({ stage, element, error: result.failure })
    if (failures.length <= log.budget) return Effect.succeed(skipped)
    return Effect.fail(
      new PipelineError({
        stage,
        budget: log.budget,
        failures: failures.length,
        last: renderInput(result.failure)
      })
    )
  })

const positiveInt = (value: number | undefined, fallback: number): number =>
  value === undefined || !Number.isFinite(value) ? fallback : Math.max(1, Math.floor(value))
