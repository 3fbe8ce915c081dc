/**
 * The batching of stream stages (`Task.stream`, `Pipeline.task`): elements grouped by count within
 * a window, as `Stream.groupedWithin` does, except that a failure of the stream before them still
 * lets the group it was filling out; and how their count options (a batch, a concurrency) read.
 */
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { TaskError } from "../../core/TaskError.ts"
import { durationMillis } from "../../runtime/internal/duration.ts"

/**
 * Groups of at most `size` elements, each sent once full or `window` after its first element.
 * `groupedWithin` drops a partial group when its upstream fails, so the elements a source gave
 * just before failing were lost unprocessed (or not, as the window fell): the failure is held
 * until that group is out, as `Stream.mapEffect` and `Stream.grouped` keep what came before it.
 */
export const batches = <A, E, R>(
  self: Stream.Stream<A, E, R>,
  size: number,
  window: Duration.Input
): Stream.Stream<Array<A>, E, R> =>
  Stream.suspend(() => {
    let failure: Cause.Cause<E> | undefined
    return self.pipe(
      Stream.catchCause((cause) => {
        // Interruption is not the source's end: nothing more is wanted.
        if (Cause.hasInterruptsOnly(cause)) return Stream.failCause(cause)
        failure = cause
        return Stream.empty
      }),
      (stream) => size === Infinity ? stream : splitArrays(stream, size),
      Stream.groupedWithin(size, window),
      Stream.concat(Stream.suspend(() => failure === undefined ? Stream.empty : Stream.failCause(failure)))
    )
  })

/**
 * The stream with its arrays cut to at most `size` elements. `groupedWithin` (its `Sink.take`)
 * copies what is left of an upstream array at every group it takes from it: quadratic in the
 * array's length, and `Stream.fromIterable` of an array is one array. A `Task.stream` of 100,000
 * tiny tasks spent 5.3 of its 9.7 s of caller CPU there (`--cpu-prof`), copying.
 */
const splitArrays = <A, E, R>(self: Stream.Stream<A, E, R>, size: number): Stream.Stream<A, E, R> =>
  Stream.transformPull(self, (pull) =>
    Effect.sync(() => {
      let current: ReadonlyArray<A> = []
      let index = 0
      const part = Effect.sync(() => {
        const end = Math.min(index + size, current.length)
        const slice = current.slice(index, end) as unknown as Arr.NonEmptyReadonlyArray<A>
        index = end
        if (end === current.length) {
          // Done with it: the source's array is not kept alive by the stage.
          current = []
          index = 0
        }
        return slice
      })
      return Effect.suspend(() =>
        index < current.length ? part : Effect.flatMap(pull, (array) => {
          if (array.length <= size) return Effect.succeed(array)
          current = array
          index = 0
          return part
        })
      )
    }))

/**
 * Each batch with the index of its first element among the stream's, for the errors of its
 * elements (`TaskError.index`): an index within its batch would name another element.
 */
export const withOffsets = <A, E, R>(self: Stream.Stream<Array<A>, E, R>): Stream.Stream<readonly [number, Array<A>], E, R> =>
  Stream.mapAccum(self, () => 0, (first, batch) => [first + batch.length, [[first, batch] as const]] as const)

/**
 * A batch call's error as its stream stage reports it: a `TaskError`'s `index` counted among the
 * stage's elements, not its batch's (`first`: the batch's first element's). Others as they are.
 */
export const shiftIndex = (first: number) => <E>(error: E): E => {
  if (first === 0 || !(error instanceof TaskError) || error.index === undefined) return error
  return new TaskError({ ...error, index: error.index + first }) as E
}

/**
 * A count option (a stage's batch size, a map's chunk size, batches or calls in flight): the
 * default when absent, no limit for `Infinity` (it meant the default, the opposite of what it
 * says), a positive integer as it is. Anything else (0, negative, fractional, `NaN`) throws a
 * `RangeError` naming `option`: rounded, `concurrency: 0.5` ran one batch at a time and `batch: 0`
 * batches of one, neither what was asked. Callers turn the throw into a defect (`checked`).
 */
export const countOf = (value: number | undefined, fallback: number, option: string): number => {
  if (value === undefined) return fallback
  if (value === Infinity || (Number.isInteger(value) && value >= 1)) return value
  throw new RangeError(`${option} must be a positive integer, or Infinity for no limit; got ${String(value)}`)
}

/**
 * A window option (how long a partial batch or chunk waits): 5 ms when absent, else a duration
 * `>= 0` (`Infinity`: until the batch is full or the source ends). Anything else throws a
 * `RangeError` naming `option`: `Duration` read NaN and negatives as no wait at all, and threw its
 * own `Invalid Input` for a non-duration where the stage was written.
 */
export const windowOf = (input: Duration.Input | undefined, option: string): Duration.Input => {
  if (input === undefined) return Duration.millis(5)
  if (!(durationMillis(input) >= 0)) throw new RangeError(`${option} must be a duration >= 0, got ${String(input)}`)
  return input
}

/**
 * The stage `make` builds, or, when it throws (an option refused while reading), a stage that
 * dies with that error when it runs: a refused option is a defect of the stream, never an
 * exception where the pipeline is written.
 */
export const checked = <A, E, R>(make: () => Stream.Stream<A, E, R>): Stream.Stream<A, E, R> => {
  try {
    return make()
  } catch (error) {
    return Stream.die(error)
  }
}

/** A count as `Stream.mapEffect` takes a concurrency. */
export const concurrencyOf = (count: number): number | "unbounded" => count === Infinity ? "unbounded" : count
