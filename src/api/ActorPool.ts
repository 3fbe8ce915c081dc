/**
 * Actor pools (Ray's `ActorPool`): spread calls of one method over a set of actors, each call to
 * the least busy one.
 *
 * Contains `make` (over handles, e.g. from `Actor.spawnMany`), `submit` (one call), and `map` /
 * `mapUnordered` (many calls, as many in flight as there are actors, so a slow actor gets fewer).
 * Routing counts every call in flight through the pool, from any number of concurrent `map`s and
 * `submit`s; each `map` alone keeps at most as many calls in flight as there are actors (one per
 * actor only while nothing else calls through the pool and every actor is alive).
 *
 * ```ts
 * const replicas = yield* Actor.spawnMany(Classifier, 2, { modelPath })
 * const pool = ActorPool.make(replicas)
 * const predictions = yield* ActorPool.map(pool, "predict", batches)
 * ```
 */
import * as Effect from "effect/Effect"
import type * as Actor from "../core/Actor.ts"
import { ActorError } from "../core/ActorError.ts"
import type * as Task from "../core/Task.ts"

export interface ActorPool<A extends Actor.Any> {
  readonly handles: ReadonlyArray<Actor.Handle<A>>
  /** Calls in flight per handle, by position: the routing state. */
  readonly busy: ReadonlyArray<number>
  /**
   * Per handle, whether a call found its actor not alive (`ActorError` / `Unavailable`: stopped,
   * or dead with no restart left, for good): such a one is routed to only when all are.
   */
  readonly unavailable: ReadonlyArray<boolean>
}

/** A method of an actor, by name. */
export type Method<A extends Actor.Any, K extends Actor.MethodName<A>> = Actor.Methods<A>[K]
/** What calling that method on the pool returns. */
export type Call<A extends Actor.Any, K extends Actor.MethodName<A>> = Effect.Effect<
  Task.Success<Method<A, K>>,
  Task.Error<Method<A, K>> | Actor.CallFailure
>

/**
 * A pool over `handles`; it does not own them (their scope does).
 *
 * **Gotchas**: throws on an empty list (a programming error: there is no actor to call), as it is
 * not an Effect.
 */
export const make = <A extends Actor.Any>(handles: ReadonlyArray<Actor.Handle<A>>): ActorPool<A> => {
  if (handles.length === 0) throw new Error("ActorPool.make: needs at least one actor")
  return { handles, busy: handles.map(() => 0), unavailable: handles.map(() => false) }
}

/**
 * Calls `method` on the least busy actor (the first of the least busy, in pool order) among those
 * not known to be gone: an actor that is not alive answers at once, so it would always look the
 * least busy and take nearly every call.
 */
export const submit = <A extends Actor.Any, K extends Actor.MethodName<A>>(
  pool: ActorPool<A>,
  method: K,
  payload: Task.Payload<Method<A, K>>
): Call<A, K> =>
  // Uninterruptible from the count to its finalizer: a fiber interrupted where it yields between
  // the two left the actor counted busy for the pool's life.
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      // The routing state is the pool's own, mutable behind its read-only public view.
      const busy = pool.busy as Array<number>
      const unavailable = pool.unavailable as Array<boolean>
      let best = -1
      for (let i = 0; i < busy.length; i++) {
        if (!unavailable[i] && (best < 0 || busy[i]! < busy[best]!)) best = i
      }
      // All gone: the call fails with the actor's own error, as it would without a pool.
      if (best < 0) best = 0
      busy[best]!++
      return Effect.ensuring(
        Effect.tapError(restore(pool.handles[best]!.call(method, ...([payload] as Task.PayloadArg<Method<A, K>>))), (error) =>
          Effect.sync(() => {
            if (error instanceof ActorError && error.reason._tag === "Unavailable") unavailable[best] = true
          })),
        Effect.sync(() => void busy[best]!--)
      )
    })
  ) as Call<A, K>

/**
 * Calls `method` once per input, at most one call in flight per actor, and returns the results
 * in input order. Fails fast: the first failure interrupts the calls in flight.
 */
export const map = <A extends Actor.Any, K extends Actor.MethodName<A>>(
  pool: ActorPool<A>,
  method: K,
  inputs: Iterable<Task.Payload<Method<A, K>>>
): Effect.Effect<Array<Task.Success<Method<A, K>>>, Task.Error<Method<A, K>> | Actor.CallFailure> =>
  Effect.forEach(inputs, (payload) => submit(pool, method, payload), { concurrency: pool.handles.length })

/** Like `map`, with results in completion order. */
export const mapUnordered = <A extends Actor.Any, K extends Actor.MethodName<A>>(
  pool: ActorPool<A>,
  method: K,
  inputs: Iterable<Task.Payload<Method<A, K>>>
): Effect.Effect<Array<Task.Success<Method<A, K>>>, Task.Error<Method<A, K>> | Actor.CallFailure> =>
  Effect.suspend(() => {
    const results: Array<Task.Success<Method<A, K>>> = []
    return Effect.as(
      Effect.forEach(
        inputs,
        (payload) => Effect.map(submit(pool, method, payload), (result) => void results.push(result)),
        { concurrency: pool.handles.length, discard: true }
      ),
      results
    )
  })
