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
 * least busy and take nearly every call. A call refused because its actor is not alive never
 * reached it, so it goes to the next actor; it fails (`Unavailable`) only when every actor is
 * gone. A call its actor's stop or death caught while it ran is not sent again. A method that
 * declares no payload is called without one, as on a handle.
 */
export const submit = <A extends Actor.Any, K extends Actor.MethodName<A>>(
  pool: ActorPool<A>,
  method: K,
  ...payload: Task.PayloadArg<Method<A, K>>
): Call<A, K> => {
  // The routing state is the pool's own, mutable behind its read-only public view.
  const busy = pool.busy as Array<number>
  const unavailable = pool.unavailable as Array<boolean>
  const attempt = (tried: number): Call<A, K> =>
    Effect.suspend(() => {
      let best = -1
      // Uninterruptible from the count to its finalizer: a fiber interrupted where it yields
      // between the two left the actor counted busy for the pool's life.
      const call = Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          for (let i = 0; i < busy.length; i++) {
            if (!unavailable[i] && (best < 0 || busy[i]! < busy[best]!)) best = i
          }
          // All gone: the call fails with the actor's own error, as it would without a pool.
          if (best < 0) best = 0
          busy[best]!++
          return Effect.ensuring(
            restore(pool.handles[best]!.call(method, ...payload)),
            Effect.sync(() => void busy[best]!--)
          )
        })
      ) as Call<A, K>
      // Outside the mask, so that a call sent again stays interruptible.
      return Effect.catch(call, (error) => {
        if (!(error instanceof ActorError && error.reason._tag === "Unavailable")) return Effect.fail(error)
        unavailable[best] = true
        // workerId -1: refused before any worker saw it, so another actor may take it.
        return error.workerId === -1 && tried + 1 < busy.length && unavailable.includes(false)
          ? attempt(tried + 1)
          : Effect.fail(error)
      })
    })
  return attempt(0)
}

/** `submit` with an input in hand: a payload-less method's `{}` as it is (`submit`'s argument list types it apart). */
const submitOne = <A extends Actor.Any, K extends Actor.MethodName<A>>(
  pool: ActorPool<A>,
  method: K,
  payload: Task.Payload<Method<A, K>>
): Call<A, K> => submit(pool, method, ...([payload] as Task.PayloadArg<Method<A, K>>))

/**
 * Calls `method` once per input, at most one call in flight per actor, and returns the results
 * in input order. Fails fast: the first failure interrupts the calls in flight.
 */
export const map = <A extends Actor.Any, K extends Actor.MethodName<A>>(
  pool: ActorPool<A>,
  method: K,
  inputs: Iterable<Task.Payload<Method<A, K>>>
): Effect.Effect<Array<Task.Success<Method<A, K>>>, Task.Error<Method<A, K>> | Actor.CallFailure> =>
  Effect.forEach(inputs, (payload) => submitOne(pool, method, payload), { concurrency: pool.handles.length })

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
        (payload) => Effect.map(submitOne(pool, method, payload), (result) => void results.push(result)),
        { concurrency: pool.handles.length, discard: true }
      ),
      results
    )
  })
