/**
 * Tasks: named, Schema-typed units of work that run on a pool of workers.
 *
 * The definitions (`make`, `group`, `Task`, `Group`, `Runner`: see `core/Task.ts`), and the ways
 * to call them: `run` (one task), `map` (input order kept), `mapUnordered` (completion order)
 * and `stream` (a `Stream` stage). Every call is bounded (a pool holds at most a few chunks per
 * worker in flight) and chunked automatically.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Stream from "effect/Stream"
import type { Any, Error, Name, Payload, Runner, Success } from "../core/Task.ts"
import type { TaskFailure } from "../core/TaskError.ts"
import { type CallOptions, payloadError, timeoutMillis, toExit } from "../runtime/client/call.ts"
import { runnerKey } from "../runtime/client/PoolClient.ts"
import { hold as holdShared } from "../runtime/memory/Arena.ts"
import { type Progress, startProgress } from "../runtime/observe/Progress.ts"
import { codecOf } from "../runtime/protocol/codec.ts"

export * from "../core/Task.ts"

// ---------------------------------------------------------------------------------------------
// Calling
// ---------------------------------------------------------------------------------------------

export interface RunOptions extends CallOptions {}

export interface MapOptions extends RunOptions {
  /**
   * Tasks per message. Default: enough for about four chunks per worker, at most 256, so small
   * tasks amortize the per-message cost and large ones still spread over every worker.
   */
  readonly chunkSize?: number | undefined
  /** Show a progress bar on stderr when it is a terminal; silent otherwise. */
  readonly progress?: boolean | undefined
}

export interface StreamOptions extends RunOptions {
  /** Elements grouped into one submission (within `chunkWindow`). Default 64. */
  readonly chunkSize?: number | undefined
  /** How long a partial chunk waits for more elements before it is sent. Default 5 ms. */
  readonly chunkWindow?: Duration.Input | undefined
  /** Chunks in flight at once; bounds the stage's memory and work in flight. Default 4. */
  readonly concurrency?: number | undefined
}

/** The failures of running `T`: its declared error, or a `TaskFailure`. */
export type Failure<T> = Error<T> | TaskFailure

/**
 * Runs one task on its pool.
 *
 * Concurrent `run`s are coalesced into shared messages by the pool, so many small calls cost
 * few messages. Interrupting the caller interrupts the handler inside the worker.
 */
export const run: {
  <T extends Any>(task: T, payload: Payload<T>, options?: RunOptions): Effect.Effect<Success<T>, Failure<T>, Runner<Name<T>>>
} = <T extends Any>(task: T, payload: Payload<T>, options?: RunOptions) =>
  // `withFiber` reads the pool from the fiber's context in the same step (no service yield):
  // this is the latency-critical path of a single round trip.
  Effect.withFiber((fiber) => {
    const pool = Context.getUnsafe(fiber.context as Context.Context<Runner<Name<T>>>, runnerKey(task.name))
    const codec = codecOf(task)
    const encoded = codec.encodePayload(payload)
    if (encoded.issue !== undefined) return Effect.fail(payloadError(task, payload, encoded.issue, -1))
    const held = codec.sharedPayload ? holdShared([encoded.value]) : undefined
    if (held?._tag === "Released") return Effect.fail(payloadError(task, payload, held.issue, -1))
    return Effect.callback<Success<T>, Failure<T>>((resume) => {
      const ticket = pool.submit({
        taskName: task.name,
        payloads: [encoded.value],
        chunkSize: 1,
        timeoutMillis: timeoutMillis(options),
        settle: (_index, outcome, value, workerId, attempts) => {
          held?.release()
          resume(toExit(task, codec, payload, outcome, value, workerId, attempts, options))
        }
      })
      return held === undefined ? Effect.promise(ticket.cancel) : Effect.promise(() => ticket.cancel().then(held.release))
    })
  }) as Effect.Effect<Success<T>, Failure<T>, Runner<Name<T>>>

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
  runMany(task, inputs, options, true)

/** Like `map`, but the successes come in completion order. */
export const mapUnordered: {
  <T extends Any>(
    task: T,
    inputs: Iterable<Payload<T>>,
    options?: MapOptions
  ): Effect.Effect<Array<Success<T>>, Failure<T>, Runner<Name<T>>>
} = <T extends Any>(task: T, inputs: Iterable<Payload<T>>, options?: MapOptions) =>
  runMany(task, inputs, options, false)

/**
 * A `Stream` stage that runs `task` on every element, in order, with bounded work in flight:
 * elements are grouped into chunks (`chunkSize` within `chunkWindow`) and at most
 * `concurrency` chunks are on the pool at once, so upstream is pulled only as results leave.
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
    const chunkSize = positiveInt(options?.chunkSize, 64)
    return self.pipe(
      Stream.groupedWithin(chunkSize, options?.chunkWindow ?? Duration.millis(5)),
      Stream.mapEffect((chunk) => runMany(task, chunk, { ...options, chunkSize }, true), {
        concurrency: positiveInt(options?.concurrency, 4)
      }),
      Stream.flattenIterable
    )
  }
)

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

/** At most this many tasks per message when the caller does not choose. */
const maxAutoChunk = 256

const runMany = <T extends Any>(
  task: T,
  inputs: Iterable<Payload<T>>,
  options: MapOptions | undefined,
  ordered: boolean
): Effect.Effect<Array<Success<T>>, Failure<T>, Runner<Name<T>>> =>
  Effect.flatMap(runnerKey(task.name), (pool) => {
    const payloads = Array.isArray(inputs) ? (inputs as ReadonlyArray<Payload<T>>) : Array.from(inputs)
    const count = payloads.length
    if (count === 0) return Effect.succeed([])
    const codec = codecOf(task)
    const encoded = new Array<unknown>(count)
    for (let i = 0; i < count; i++) {
      const result = codec.encodePayload(payloads[i])
      if (result.issue !== undefined) return Effect.fail(payloadError(task, payloads[i], result.issue, -1))
      encoded[i] = result.value
    }
    // The map owns the shared memory its payloads carry until none of its tasks is in a worker.
    const held = codec.sharedPayload ? holdShared(encoded) : undefined
    if (held?._tag === "Released") return Effect.fail(payloadError(task, payloads[held.index], held.issue, -1))
    const release = held === undefined ? undefined : held.release
    const chunkSize = options?.chunkSize !== undefined
      ? positiveInt(options.chunkSize, 1)
      : Math.min(maxAutoChunk, Math.max(1, Math.ceil(count / (pool.size * 4))))
    const timeout = timeoutMillis(options)
    return Effect.callback<Array<Success<T>>, Failure<T>>((resume) => {
      const results = new Array<Success<T>>(count)
      let settled = 0
      let done = false
      const progress: Progress | undefined = options?.progress ? startProgress(task.name, count) : undefined
      const stop = () => {
        done = true
        progress?.stop()
      }
      const ticket = pool.submit({
        taskName: task.name,
        payloads: encoded,
        chunkSize,
        timeoutMillis: timeout,
        settle: (index, outcome, value, workerId, attempts) => {
          if (done) return
          const exit = toExit(task, codec, payloads[index], outcome, value, workerId, attempts, options)
          if (Exit.isFailure(exit)) {
            // Fail fast: stop the rest in the workers before the map reports the failure.
            stop()
            const failure = exit as Exit.Exit<never, Failure<T>>
            void ticket.cancel().then(() => {
              release?.()
              resume(failure)
            })
            return
          }
          results[ordered ? index : settled] = exit.value
          settled++
          progress?.increment()
          if (settled === count) {
            stop()
            release?.()
            resume(Exit.succeed(results))
          }
        }
      })
      return Effect.promise(() => {
        stop()
        return release === undefined ? ticket.cancel() : ticket.cancel().then(release)
      })
    })
  }) as Effect.Effect<Array<Success<T>>, Failure<T>, Runner<Name<T>>>

const positiveInt = (value: number | undefined, fallback: number): number =>
  value === undefined || !Number.isFinite(value) ? fallback : Math.max(1, Math.floor(value))
