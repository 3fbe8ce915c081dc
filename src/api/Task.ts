/**
 * Tasks: named, Schema-typed units of work that run on a pool of workers.
 *
 * The definitions (`make`, `group`, `Task`, `Group`, `Runner`: see `core/Task.ts`), and the ways
 * to call them: `run` (one task), `map` (input order kept), `mapUnordered` (completion order)
 * and `stream` (a `Stream` stage). Every call is bounded (a pool holds at most a few chunks per
 * worker in flight) and chunked automatically.
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Stream from "effect/Stream"
import type { Any, Error, Name, Payload, PayloadArg, Runner, Success } from "../core/Task.ts"
import type { TaskError } from "../core/TaskError.ts"
import { type CallOptions, one, timeoutMillisOf } from "../runtime/client/call.ts"
import { runnerKey } from "../runtime/client/PoolClient.ts"
import { batches, checked, concurrencyOf, countOf, windowOf, withOffsets } from "./internal/batches.ts"
import { noPool, runMany, whenFullOf } from "./internal/runMany.ts"

export * from "../core/Task.ts"

// ---------------------------------------------------------------------------------------------
// Calling
// ---------------------------------------------------------------------------------------------

export interface RunOptions extends CallOptions {
  /** When the pool's queue is full (`maxQueued`): wait for room, or fail at once. Default: the pool's `whenFull`. */
  readonly whenFull?: "wait" | "fail" | undefined
}

export interface MapOptions extends RunOptions {
  /**
   * Tasks per message. Default: enough for about four chunks per worker, at most 256, so small
   * tasks amortize the per-message cost and large ones still spread over every worker; once the
   * pool knows what the task costs, also no more than ~2 ms of work a message (8 ms on processes),
   * so a map whose costly inputs come first or last still ends with every worker busy. `1` sends
   * each task in a message of its own; `Infinity`, as many as the pool's fair share allows.
   * Anything but a positive integer or `Infinity` dies with a `RangeError` naming it.
   */
  readonly chunkSize?: number | undefined
  /** Show a progress bar on stderr when it is a terminal; silent otherwise. */
  readonly progress?: boolean | undefined
}

export interface StreamOptions extends CallOptions {
  /**
   * Elements grouped into one submission (within `chunkWindow`). Default 64; `Infinity`: all of the
   * window's. Left out, the pool may also cut a chunk into messages of ~2 ms of work once it knows
   * what the task costs (so a chunk of costly elements spreads over the workers); set, it bounds
   * the messages and the cost does not. Like `concurrency`, a positive integer or `Infinity`:
   * anything else makes the stage die with a `RangeError` naming it.
   */
  readonly chunkSize?: number | undefined
  /**
   * How long a partial chunk waits for more elements before it is sent. Default 5 ms; `Infinity`:
   * until the chunk is full or the source ends. Not a duration `>= 0`: the stage dies with a
   * `RangeError` naming it.
   */
  readonly chunkWindow?: Duration.Input | undefined
  /** Chunks in flight at once; bounds the stage's memory and work in flight. Default 4; `Infinity`: no limit. */
  readonly concurrency?: number | undefined
}

/** The failures of running `T`: its declared error, or a `TaskError`. */
export type Failure<T> = Error<T> | TaskError

/**
 * Runs one task on its pool. A task without a payload (`Schema.Void`, or a struct with no required
 * field) is run without one: `Task.run(Tick)`; its options then go third:
 * `Task.run(Tick, undefined, { timeout })`.
 *
 * Concurrent `run`s are coalesced into shared messages by the pool, so many small calls cost
 * few messages. Interrupting the caller interrupts the handler inside the worker.
 */
export const run: {
  <T extends Any>(
    task: T,
    ...args: [...PayloadArg<T>, options?: RunOptions]
  ): Effect.Effect<Success<T>, Failure<T>, Runner<Name<T>>>
} = (<T extends Any>(task: T, payload?: unknown, options?: RunOptions) =>
  // `withFiber` reads the pool from the fiber's context in the same step (no service yield):
  // this is the latency-critical path of a single round trip.
  Effect.withFiber((fiber) => {
    const pool = Context.getOrUndefined(fiber.context as Context.Context<Runner<Name<T>>>, runnerKey(task.name))
    if (pool === undefined) return Effect.die(noPool(`Task.run(${task.name})`, task))
    const timeoutMillis = timeoutMillisOf(options, () => `Task.run(${task.name})`)
    const whenFull = whenFullOf(options, () => `Task.run(${task.name})`)
    // The pool takes the call as its submission: one object per run.
    return one(task, payload, timeoutMillis, pool, fiber, undefined, whenFull)
  })) as any

/**
 * Runs `task` over every input and returns the successes in input order.
 *
 * Fails fast: the first failure cancels the tasks still queued or running and fails the map
 * with that task's error.
 */
export const map: {
  <T extends Any>(
    task: T,
    inputs: Iterable<Payload<T>>,
    options?: MapOptions
  ): Effect.Effect<Array<Success<T>>, Failure<T>, Runner<Name<T>>>
} = <T extends Any>(task: T, inputs: Iterable<Payload<T>>, options?: MapOptions) =>
  runMany(task, inputs, options, true, `Task.map(${task.name})`)

/** Like `map`, but the successes come in completion order. */
export const mapUnordered: {
  <T extends Any>(
    task: T,
    inputs: Iterable<Payload<T>>,
    options?: MapOptions
  ): Effect.Effect<Array<Success<T>>, Failure<T>, Runner<Name<T>>>
} = <T extends Any>(task: T, inputs: Iterable<Payload<T>>, options?: MapOptions) =>
  runMany(task, inputs, options, false, `Task.mapUnordered(${task.name})`)

/**
 * A `Stream` stage that runs `task` on every element, in order, with bounded work in flight:
 * elements are grouped into chunks (`chunkSize` within `chunkWindow`) and at most
 * `concurrency` chunks are on the pool at once, so upstream is pulled only as results leave.
 * A stage waits for room in a full queue (`maxQueued`) rather than failing: it is backpressure.
 *
 * **Gotchas**: it fails fast, as `Stream.mapEffect` with a concurrency does: the first failure
 * ends the stage, and the results of its chunk and of the chunks still in flight are not
 * emitted, even those of elements before it. `Pipeline.task` with `onError` skips and records.
 *
 * ```ts
 * Stream.fromIterable(files).pipe(Task.stream(Decode), Task.stream(Embed), Stream.runForEach(save))
 * ```
 */
export const stream: {
  <T extends Any>(
    task: T,
    options?: StreamOptions
  ): <E, R>(self: Stream.Stream<Payload<T>, E, R>) => Stream.Stream<Success<T>, E | Failure<T>, R | Runner<Name<T>>>
  <T extends Any, E, R>(
    self: Stream.Stream<Payload<T>, E, R>,
    task: T,
    options?: StreamOptions
  ): Stream.Stream<Success<T>, E | Failure<T>, R | Runner<Name<T>>>
} = dual(
  (args) => Stream.isStream(args[0]),
  <T extends Any, E, R>(self: Stream.Stream<Payload<T>, E, R>, task: T, options?: StreamOptions) => {
    return checked(() => {
      // Refused as the stage is built, with its other options: not at its first chunk, nor never.
      timeoutMillisOf(options, () => `Task.stream(${task.name})`)
      return batches(
        self,
        countOf(options?.chunkSize, 64, `Task.stream(${task.name}): chunkSize`),
        windowOf(options?.chunkWindow, `Task.stream(${task.name}): chunkWindow`)
      ).pipe(
        withOffsets,
        // A chunk is one submission (`chunkSize` may be Infinity), split over the ready workers
        // (Dispatcher rule 1). Unless the caller chose its size, the pool also cuts it into
        // messages of ~2 ms of work (rule 12): a chunk of costly elements keeps every worker busy.
        Stream.mapEffect(
          ([first, chunk]) =>
            runMany(
              task,
              chunk,
              { ...options, chunkSize: chunk.length, whenFull: "wait" },
              true,
              `Task.stream(${task.name})`,
              first,
              options?.chunkSize === undefined
            ),
          { concurrency: concurrencyOf(countOf(options?.concurrency, 4, `Task.stream(${task.name}): concurrency`)) }
        ),
        Stream.flattenIterable
      )
    })
  }
)
