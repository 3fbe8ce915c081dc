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
 * **Fusion.** `fuse(A, B, C)` is one stage that runs consecutive tasks of one pool in a single
 * visit to a worker per element (Ray Data's operator fusion): the element never returns to the
 * caller between them, so large intermediate values (images, arrays) are neither moved nor copied,
 * and they stay in the worker's cache. Failures still name the stage (the task) that failed.
 *
 * **Worker to worker.** For stages whose elements should not visit the caller at all, connect
 * workers with a `Channel`: stage A's actors send into it (`Channel.sink`), stage B's take from it
 * (`Channel.toStream`); see `examples/channels`.
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type * as Actor from "../core/Actor.ts"
import * as Fusion from "../core/Fusion.ts"
import { PipelineError } from "../core/PipelineError.ts"
import type { Any, Name, Payload, Runner, Success } from "../core/Task.ts"
import { maxInputRendering, renderInput, TaskError } from "../core/TaskError.ts"
import { runnerKey } from "../runtime/client/PoolClient.ts"
import * as ActorPool from "./ActorPool.ts"
import { batches, checked, concurrencyOf, countOf, shiftIndex, windowOf, withOffsets } from "./internal/batches.ts"
import { runMany } from "./internal/runMany.ts"
import * as Task from "./Task.ts"

export * from "../core/PipelineError.ts"
export { fuse, type Fused } from "../core/Fusion.ts"

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/** One element a skip-and-record stage gave up on: what it was, where, and why. */
export interface StageFailure<A = unknown, E = unknown> {
  readonly stage: string
  /**
   * The element the stage took (a fused stage: the element it took, not its failed task's input).
   * An element that moved to a worker (a `memory: "moved"` array) is its own view, now detached:
   * empty (`Float64Array(0)`); `input` says what it was.
   */
  readonly element: A
  /**
   * The element rendered as `TaskError.input` is (bounded, at most 200 characters), when it was
   * recorded: a moved array shows as `Moved { kind: 'Float64Array', length: 3 }` (its length when sent).
   */
  readonly input: string
  readonly error: E
}

/**
 * Where skip-and-record stages put their failures, with the budget they share: the
 * `budget + 1`-th failure fails the pipeline with `PipelineError`.
 *
 * **Gotchas**: the log then holds that failure last and records no more: elements that fail
 * while the pipeline stops (still in flight in other batches or stages) fail with the same
 * `PipelineError` unrecorded, as does every failure of a later pipeline given the spent log.
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

/**
 * A stage's counts (`concurrency`, `batch`) are positive integers or `Infinity`, its `batchWindow` a
 * duration `>= 0`; anything else (0, negative, fractional, `NaN`, not a duration) makes the stage die
 * with a `RangeError` naming the stage and the option when the stream runs, rather than be rounded
 * to something that was not asked for (or throw where the pipeline is written).
 */
export interface TaskStageOptions extends StageOptions {
  /** Batches in flight at once. Default 4; `Infinity`: no limit. */
  readonly concurrency?: number | undefined
  /**
   * Elements sent to the pool together (within `batchWindow`). Default 64; `Infinity`: all of the
   * window's. Left out, the pool may also cut a batch into messages of ~2 ms of work (8 ms on
   * processes) once it knows what the task costs, so a batch of costly elements spreads over the
   * workers; set, it bounds the messages and the cost does not.
   */
  readonly batch?: number | undefined
  /** How long a partial batch waits for more elements. Default 5 ms; `Infinity`: until it is full or the source ends. */
  readonly batchWindow?: Duration.Input | undefined
}

export interface ActorStageOptions extends StageOptions {
  /** Calls in flight at once. Default: one per actor in the pool; `Infinity`: no limit; else a positive integer (see `TaskStageOptions`). */
  readonly concurrency?: number | undefined
}

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

/**
 * An error log for skip-and-record stages: at most `budget` failures before the pipeline fails.
 *
 * **Details**: `budget` is an integer `>= 0` (`0`: the first failure fails the pipeline), or
 * `Infinity` for no limit (every failure is recorded and skipped, the pipeline never fails for
 * them). Anything else (negative, fractional, `NaN`) makes each stage given the log die with a
 * `RangeError` naming the stage when the stream runs, as a stage's own bad counts do: never a
 * throw where the pipeline is written, never rounded.
 */
export const errorLog = (options: { readonly budget: number }): ErrorLog => ({ budget: options.budget, failures: [] })

// ---------------------------------------------------------------------------------------------
// Stages
// ---------------------------------------------------------------------------------------------

/**
 * A stage that runs `task` on every element on its pool: elements go in batches of `batch`, at
 * most `concurrency` batches in flight. `task` may be a fused chain (`fuse(A, B, C)`): each
 * element then runs every stage on one worker.
 *
 * **Details**: under fail-fast, a batch is one `Task.map` (`mapUnordered` when not ordered). Under
 * skip-and-record each element of a batch is its own `Task.run` (the pool still sends a batch's
 * runs together), so one failure costs only its element.
 *
 * **Gotchas** (fused): a failure is recorded with the name of the stage's task that failed (the
 * stages' names joined with `+` when the worker was lost or the pool closed) and, as its element,
 * the element the fused stage took. Stages that no one pool serves, or that a pool serves which
 * cannot run a chain in one visit (`Cluster.pool`), run unfused, one after the
 * other, with these options each.
 */
export const task: {
  <F extends Fusion.AnyFused>(
    fused: F,
    options?: FusedStageOptions
  ): <E, R>(
    self: Stream.Stream<Fusion.In<F>, E, R>
  ) => Stream.Stream<Fusion.Out<F>, E | Fusion.StageError<Fusion.Stages<F>> | TaskError | PipelineError, R | RunnerOf<Fusion.Stages<F>>>
  <T extends Any>(
    task: T,
    options?: TaskStageOptions
  ): <E, R>(self: Stream.Stream<Payload<T>, E, R>) => Stream.Stream<Success<T>, E | Task.Failure<T> | PipelineError, R | Runner<Name<T>>>
} = ((task: Any, options?: TaskStageOptions) => (self: Stream.Stream<unknown, unknown, unknown>) =>
  checked(() => Fusion.isFused(task) ? fusedStage(task, options)(self) : taskStage(task, options)(self))) as any

/** The options of a fused stage: those of a task stage, the name aside (failures name the stage's tasks). */
export type FusedStageOptions = Omit<TaskStageOptions, "name">

/** A pool serving each of `Stages` (a union of tasks). */
export type RunnerOf<Stages> = Stages extends Any ? Runner<Name<Stages>> : never

const taskStage = <T extends Any>(
  task: T,
  options?: TaskStageOptions
) =>
<E, R>(self: Stream.Stream<Payload<T>, E, R>): Stream.Stream<Success<T>, E | Task.Failure<T> | PipelineError, R | Runner<Name<T>>> => {
  const stage = options?.name ?? task.name
  const call = `Pipeline.task(${stage})`
  const batch = countOf(options?.batch, 64, `${call}: batch`)
  const ordered = options?.ordered ?? true
  const onError = logOf(options?.onError, call)
  const grouped = batches(self, batch, windowOf(options?.batchWindow, `${call}: batchWindow`))
  const concurrency = concurrencyOf(countOf(options?.concurrency, 4, `${call}: concurrency`))
  // A batch is one submission (`batch` may be Infinity: its length, not `batch`), split over the
  // ready workers (Dispatcher rule 1); unless the caller chose `batch`, the pool also cuts it into
  // messages of ~2 ms of work once it knows the task's cost (rule 12), as `Task.stream` does.
  const chunkAuto = options?.batch === undefined
  if (onError === "fail") {
    return grouped.pipe(
      withOffsets,
      Stream.mapEffect(
        ([first, chunk]) =>
          runMany(task, chunk, { chunkSize: chunk.length, whenFull: "wait" }, ordered, call, first, chunkAuto),
        { concurrency, unordered: !ordered }
      ),
      Stream.flattenIterable
    )
  }
  return grouped.pipe(
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
 * A fused stage: when one pool serves every stage, the fused task runs on it as a task stage
 * would (its failures turned back into the failed stage's); otherwise its stages run unfused.
 */
const fusedStage = (fused: Fusion.AnyFused, options?: FusedStageOptions) =>
(self: Stream.Stream<unknown, unknown, unknown>): Stream.Stream<unknown, unknown, unknown> => {
  // Read here, where the stage is built, so that a refused option is the stage's defect (`checked`).
  const call = `Pipeline.task(${Fusion.chainName(fused)})`
  const batch = countOf(options?.batch, 64, `${call}: batch`)
  const concurrency = concurrencyOf(countOf(options?.concurrency, 4, `${call}: concurrency`))
  const window = windowOf(options?.batchWindow, `${call}: batchWindow`)
  const onError = logOf(options?.onError, call)
  return Stream.unwrap(Effect.map(Effect.context<never>(), (context) => {
    const pools = fused.stages.map((stage) => Context.getOrUndefined(context, runnerKey(stage.name)))
    if (pools[0] === undefined || pools.some((pool) => pool !== pools[0]) || pools[0].fuses !== true) {
      // No one pool serves them all (or none is provided: the unfused stages say which is missing),
      // or the pool cannot run a chain in one visit (a cluster pool).
      return fused.stages.reduce((stream, stage) => taskStage(stage, options)(stream), self)
    }
    const pool = pools[0]
    const ordered = options?.ordered ?? true
    const onPool = <A, E>(effect: Effect.Effect<A, E, any>) => Effect.provideService(effect, runnerKey(fused.name), pool)
    const grouped = batches(self, batch, window)
    // As a task stage's: rule 12 may cut a batch into messages by cost unless `batch` was chosen.
    const chunkAuto = options?.batch === undefined
    if (onError === "fail") {
      return grouped.pipe(
        withOffsets,
        Stream.mapEffect(
          ([first, chunk]) =>
            Effect.mapError(
              onPool(runMany(fused, chunk, { chunkSize: chunk.length, whenFull: "wait" }, ordered, call, 0, chunkAuto)),
              (error) => shiftIndex(first)(unfused(fused, error).error)
            ),
          { concurrency, unordered: !ordered }
        ),
        Stream.flattenIterable
      )
    }
    return grouped.pipe(
      Stream.mapEffect(
        (chunk) =>
          Effect.forEach(chunk, (element) => {
            const run = onPool(Task.run(fused, ...([element, { whenFull: "wait" }] as any)) as Effect.Effect<unknown, unknown>)
            return Effect.catch(run, (error) => {
              const failed = unfused(fused, error)
              return recording(onError, failed.stage, element, Effect.fail(failed.error))
            })
          }, { concurrency: "unbounded" }),
        { concurrency, unordered: !ordered }
      ),
      Stream.flattenIterable,
      Stream.filter((value) => value !== skipped)
    )
  }))
}

/** A fused task's failure as its stage's: that stage's name and error. */
const unfused = (fused: Fusion.AnyFused, error: unknown): { readonly stage: string; readonly error: unknown } => {
  if (error instanceof Fusion.FusedStageError) {
    return { stage: error.stage < 0 ? Fusion.chainName(fused) : fused.stages[error.stage]!.name, error: error.error }
  }
  // Rejected on the caller's side before it was sent: the first stage's payload.
  if (error instanceof TaskError && error.taskName === fused.name) {
    const first = fused.stages[0]!.name
    return { stage: first, error: new TaskError({ ...error, taskName: first }) }
  }
  return { stage: Fusion.chainName(fused), error }
}

/** An element as a method's payload: a payload-less method's `{}` as it is (`submit`'s argument list types it apart). */
const submitElement = <A extends Actor.Any, K extends Actor.MethodName<A>>(
  pool: ActorPool.ActorPool<A>,
  method: K,
  element: Task.Payload<Actor.Methods<A>[K]>
) => ActorPool.submit(pool, method, ...([element] as Task.PayloadArg<Actor.Methods<A>[K]>))

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
  const stage = options?.name ?? `${pool.handles[0]!.actor.name}.${method}`
  let concurrency: number | "unbounded"
  let onError: "fail" | ErrorLog
  try {
    concurrency = concurrencyOf(countOf(options?.concurrency, pool.handles.length, `Pipeline.actors(${stage}): concurrency`))
    onError = logOf(options?.onError, `Pipeline.actors(${stage})`)
  } catch (error) {
    return Stream.die(error)
  }
  if (onError === "fail") {
    return self.pipe(
      Stream.mapEffect((element) => submitElement(pool, method, element), { concurrency, unordered: !ordered })
    )
  }
  return self.pipe(
    Stream.mapEffect((element) => recording(onError, stage, element, submitElement(pool, method, element)), {
      concurrency,
      unordered: !ordered
    }),
    Stream.filter((value) => value !== skipped)
  ) as any
}

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

/**
 * A stage's `onError`, an error log's budget checked: an integer `>= 0` or `Infinity`. Anything
 * else throws a `RangeError` naming `stage`, which the stage turns into its defect, as its counts
 * (`countOf`): `2.5` failed the pipeline at the third failure, as `2`, and a negative or `NaN`
 * at the first, neither what was asked.
 */
const logOf = (onError: "fail" | ErrorLog | undefined, stage: string): "fail" | ErrorLog => {
  if (onError === undefined || onError === "fail") return "fail"
  const budget = onError.budget
  if (budget === Infinity || (Number.isInteger(budget) && budget >= 0)) return onError
  throw new RangeError(
    `${stage}: onError's budget (Pipeline.errorLog) must be an integer >= 0, or Infinity for no limit; got ${String(budget)}`
  )
}

/** What a skip-and-record stage emits for an element it gave up on; filtered out right after. */
const skipped: unique symbol = Symbol.for("effect-parallel/Pipeline/skipped")

/**
 * Runs `effect`; a failure is recorded in `log` and skipped, or fails the stage past the budget.
 * Once one failure went over the budget the log is spent: failures of elements still in flight
 * (other batches, other stages sharing the log) fail with that same `PipelineError` and are not
 * recorded, so the log holds exactly the `failures` the error counts.
 */
const recording = <A, B, E, R>(
  log: ErrorLog,
  stage: string,
  element: A,
  effect: Effect.Effect<B, E, R>
): Effect.Effect<B | typeof skipped, PipelineError, R> =>
  Effect.flatMap(Effect.result(effect), (result): Effect.Effect<B | typeof skipped, PipelineError> => {
    if (Result.isSuccess(result)) return Effect.succeed(result.success)
    const spent = exceeded.get(log)
    if (spent !== undefined) return Effect.fail(spent)
    const failures = log.failures as Array<StageFailure>
    failures.push({ stage, element, input: renderInput(element), error: result.failure })
    if (failures.length <= log.budget) return Effect.succeed(skipped)
    const error = new PipelineError({
      stage,
      budget: log.budget,
      failures: failures.length,
      last: renderFailure(result.failure)
    })
    exceeded.set(log, error)
    return Effect.fail(error)
  })

/** The error of each log that went over its budget. */
const exceeded = new WeakMap<ErrorLog, PipelineError>()

/**
 * The last failure, for `PipelineError.last`. Inspected as it is, an `Error` shows its stack first
 * and the bound cut it before the fields that say what failed (`{ Unlucky: \n    at …`): it is its
 * name and message instead, or its fields when its message is empty.
 */
const renderFailure = (failure: unknown): string => {
  if (!(failure instanceof Error)) return renderInput(failure)
  let text: string
  try {
    text = failure.message !== "" ? `${failure.name}: ${failure.message}` : `${failure.name} ${renderInput({ ...failure })}`
  } catch {
    return renderInput(failure)
  }
  return text.length <= maxInputRendering ? text : `${text.slice(0, maxInputRendering - 1)}…`
}
