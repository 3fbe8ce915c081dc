/**
 * The batching of stream stages (`Task.stream`, `Pipeline.task`): elements grouped by count within
 * a window, as `Stream.groupedWithin` does, except that a failure of the stream before them still
 * lets the group it was filling out.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Stream from "effect/Stream"

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
      Stream.groupedWithin(size, window),
      Stream.concat(Stream.suspend(() => failure === undefined ? Stream.empty : Stream.failCause(failure)))
    )
  })
