/**
 * Actors: state that lives in one worker across calls, with typed methods and a FIFO mailbox.
 *
 * The definitions (`make`, `implement`, `Handle`, the restart policy: see `core/Actor.ts`), and
 * the caller's side: `spawn`, `spawnMany`, `call`, `tell` (fire and forget), `stop`, and `Ref`, the
 * Schema of a handle passed in a payload.
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type * as Scope from "effect/Scope"
import {
  type Any,
  type CallFailure,
  type Handle,
  type Init,
  type InitError,
  isHandle,
  type MethodName,
  type Methods,
  type SpawnOptions
} from "../core/Actor.ts"
import { ActorError, InitFailed } from "../core/ActorError.ts"
import type { PayloadArg, Runner } from "../core/Task.ts"
import type * as Task from "../core/Task.ts"
import { renderInput, renderPath } from "../core/TaskError.ts"
import { makeHandle, poolKeyOf, stopHandle } from "../runtime/client/ActorHandle.ts"
import { runnerKey } from "../runtime/client/PoolClient.ts"
import { remoteErrorText } from "../runtime/internal/errorText.ts"
import { hold as holdShared } from "../runtime/memory/Arena.ts"
import { codecOf } from "../runtime/protocol/codec.ts"
import { Outcome, type PayloadIssue, type WorkerExit } from "../runtime/protocol/protocol.ts"

import { resolveRestart } from "./internal/restart.ts"

export * from "../core/Actor.ts"

/**
 * Starts an actor on its pool and returns its handle; the actor stops (its finalizers run) when
 * the current Scope closes. Placed on the worker with the fewest actors unless pinned.
 * Interrupting the spawn interrupts the actor's constructor in its worker.
 *
 * Fails with the actor's declared init error, or `ActorError` with reason `InitFailed` when its
 * constructor dies, its init arguments fail their Schema, its worker is lost while it is being
 * built, the pool closes first, or it is stopped first (through a handle made from its id, as
 * `Actor.Ref` decodes one). Dies with a `RangeError` when `worker` is not an integer, or
 * the restart policy is not one: `maxRestarts` not a whole number ≥ 0 (or `Infinity`), a backoff
 * that is not a duration ≥ 0 (programming errors).
 */
export const spawn = <A extends Any>(
  actor: A,
  init: Init<A>,
  options?: SpawnOptions
): Effect.Effect<Handle<A>, InitError<A> | ActorError, Runner<A["name"]> | Scope.Scope> =>
  Effect.flatMap(runnerKey(actor.name), (pool) =>
    Effect.map(Effect.acquireRelease(
      Effect.suspend(() => {
        const transport = pool.actors
        if (transport === undefined) return Effect.die(new Error(`the pool of ${actor.name} hosts no actors`))
        const pin = options?.worker
        if (pin !== undefined && !Number.isSafeInteger(pin)) {
          // No worker is at such a position: the actor would wait to be placed forever.
          return Effect.die(new RangeError(`Actor.spawn(${actor.name}): worker must be an integer position, got ${pin}`))
        }
        const restart = resolveRestart(`Actor.spawn(${actor.name})`, options?.restart)
        if (restart instanceof RangeError) return Effect.die(restart)
        const codec = codecOf(actor.init)
        const encoded = codec.encodePayload(init)
        if (encoded.issue !== undefined) return Effect.fail(invalidInit(actor, init, encoded.issue))
        // The actor owns the shared memory its init arguments carry for as long as it lives.
        const held = codec.sharedPayload ? holdShared([encoded.value]) : undefined
        if (held !== undefined && held._tag !== "Held") {
          return Effect.fail(invalidInit(actor, init, held.issue))
        }
        return Effect.callback<Spawned<A>, InitError<A> | ActorError>((resume) => {
          let id = -1
          id = transport.spawn(actor, encoded.value, {
            worker: pin,
            ...restart
          }, (outcome, value, workerId) => {
            if (outcome === Outcome.Success) {
              return resume(Effect.succeed({ handle: makeHandle(actor, id, transport), held }))
            }
            held?.release()
            resume(Effect.fail(initFailure(actor, id, init, outcome, value, workerId) as InitError<A> | ActorError))
          })
          // Interrupted while it is being built: it must not outlive the interruption.
          return Effect.promise(() => transport.stop(id).then(() => held?.release()))
        })
      }),
      ({ held, handle }) => Effect.promise(() => pool.actors!.stop(handle.id).then(() => held?.release())),
      // A constructor may take long (a model loading): the spawn stays interruptible, and its
      // callback's cleanup stops what it started.
      { interruptible: true }
    ), ({ handle }) => handle))

interface Spawned<A extends Any> {
  readonly handle: Handle<A>
  readonly held: { readonly release: () => void } | undefined
}

/**
 * Starts `count` actors with the same init arguments, on distinct workers while there are
 * enough (actor `i` is pinned to worker `i`). Dies with a `RangeError` when `count` is not a
 * whole number ≥ 0.
 */
export const spawnMany = <A extends Any>(
  actor: A,
  count: number,
  init: Init<A>,
  options?: Omit<SpawnOptions, "worker">
): Effect.Effect<Array<Handle<A>>, InitError<A> | ActorError, Runner<A["name"]> | Scope.Scope> =>
  // Array.from would read NaN as 0 actors and 2.5 as 2, and throw outside the Effect for Infinity.
  !(Number.isSafeInteger(count) && count >= 0)
    ? Effect.die(new RangeError(`Actor.spawnMany(${actor.name}): count must be a whole number >= 0, got ${count}`))
    : Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (worker) => spawn(actor, init, { ...options, worker }),
      { concurrency: "unbounded" }
    )

/**
 * Calls a method and waits for its outcome: `handle.call` as a function. The payload may be left
 * out where the method's Schema takes none.
 *
 * **Details**: the call enters the actor's mailbox when this Effect runs — for a forked call,
 * when the forked fiber takes its first step. `Effect.forkChild` schedules that step for after
 * the forking fiber yields, so calls and tells the parent makes before it yields go in first;
 * `Effect.forkChild(call, { startImmediately: true })` puts the call in at the fork.
 * Interrupting the call interrupts it in the worker.
 *
 * **Gotchas**: as for tasks, a method that has not stopped within the pool's `interruptGrace` of
 * its interruption (it blocks its thread, or runs uninterruptibly) has its worker terminated: the
 * actors there are lost, then dead or rebuilt per their restart policy.
 */
export const call = <A extends Any, K extends MethodName<A>>(
  handle: Handle<A>,
  method: K,
  ...payload: PayloadArg<Methods<A>[K]>
): Effect.Effect<Task.Success<Methods<A>[K]>, Task.Error<Methods<A>[K]> | CallFailure> => handle.call(method, ...payload)

/**
 * Sends a message to an actor without waiting for its outcome (fire and forget).
 *
 * **When to use**: updates whose answer the caller does not need (a counter bump, a log line, a
 * cache fill), where waiting for a round trip per message would cost more than the work.
 *
 * **Details**: the message enters the actor's mailbox when this Effect runs, in the same FIFO as
 * calls: behind every call and tell made to that actor before it, ahead of every one made after
 * it, so a `call` after `tell`s observes their effects. The Effect completes once the message is
 * on its way. It fails only when the message cannot enter the mailbox and that is known at once:
 * the actor is already stopped or dead (`ActorError` / `Unavailable`), or the caller's side
 * rejects the payload (`TaskError` / `PayloadInvalid`: it cannot be sent, carries a released
 * shared array, or fails a Schema that transforms it).
 *
 * **Gotchas**: a failure that comes later (the method fails or dies, a payload that a validating
 * Schema rejects in the worker, its worker is lost, the actor stops with the message still
 * queued) has nobody to go to: it is logged as a warning through the
 * loggers of the fiber that told, with the typed error as its cause, and the pool's `ActorAnswer`
 * event carries its outcome — never dropped silently, but never an error in the caller either.
 * A tell cannot be interrupted once sent: delivery is at most once, as for calls.
 */
export const tell = <A extends Any, K extends MethodName<A>>(
  handle: Handle<A>,
  method: K,
  ...payload: PayloadArg<Methods<A>[K]>
): Effect.Effect<void, CallFailure> => handle.tell(method, ...payload)

/**
 * Stops an actor now instead of when its scope closes; its calls fail with `ActorError` / `Unavailable`.
 * Completes once it stopped (its finalizers ran). Works inside a worker too, through a handle
 * received in a payload, on every backend; there, a handle of another pool dies (`ForeignHandle`).
 *
 * **Gotchas**: a stop (this one, or its scope's) that its worker has not finished within the
 * pool's `interruptGrace` + `exitTimeout` — a method that ignores its interruption, finalizers
 * that hang — terminates that worker, and the other actors there are lost with it.
 */
export const stop = <A extends Any>(handle: Handle<A>): Effect.Effect<void> =>
  Effect.withFiber((fiber) => Effect.promise(() => stopHandle(handle, fiber.context as Context.Context<never>)))

// ---------------------------------------------------------------------------------------------
// Handles in payloads
// ---------------------------------------------------------------------------------------------

const RefEncoded = Schema.Struct({ actor: Schema.String, pool: Schema.String, id: Schema.Int })

/**
 * The Schema of a handle to `actor` inside a payload (of a task, an actor method or an actor's
 * init): the handle crosses as its id, and the worker that receives it calls the actor through
 * its own pool without going through the caller's code.
 *
 * **Gotchas**: a handle is only good within the pool that spawned the actor: a call through it
 * from a worker of another pool fails with a `TaskError` (reason `Defect`, named `ForeignHandle`),
 * and an `Actor.stop` through it dies with that error, as actor ids are only unique per pool.
 */
export const Ref = <A extends Any>(actor: A): Schema.decodeTo<Schema.declare<Handle<A>>, typeof RefEncoded> =>
  RefEncoded.pipe(
    Schema.decodeTo(
      Schema.declare((u): u is Handle<A> => isHandle(u) && u.actor.name === actor.name, {
        expected: `a handle to actor ${actor.name}`
      }),
      SchemaTransformation.transform({
        decode: (encoded) => makeHandle(actor, encoded.id, undefined, encoded.pool),
        encode: (handle) => ({ actor: actor.name, pool: poolKeyOf(handle), id: handle.id })
      })
    )
  )

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

/** Init arguments the caller's side rejected, before any worker saw them. */
const invalidInit = (actor: Any, init: unknown, issue: PayloadIssue) =>
  new ActorError({
    actorName: actor.name,
    actorId: -1,
    workerId: -1,
    input: renderInput(init),
    reason: new InitFailed({ failure: "PayloadInvalid", message: `${renderPath(issue.path)}: ${issue.message}` })
  })

const initFailure = (actor: Any, actorId: number, init: unknown, outcome: Outcome, value: unknown, workerId: number) => {
  if (outcome === Outcome.Failure) {
    const decoded = codecOf(actor.init).decodeError(value)
    if (decoded.issue === undefined) return decoded.value
  }
  const remote = value as { name?: string; message?: string; stack?: string; path?: ReadonlyArray<string | number> }
  return new ActorError({
    actorName: actor.name,
    actorId,
    workerId,
    input: renderInput(init),
    reason: new InitFailed({
      failure: outcome === Outcome.PayloadInvalid
        ? "PayloadInvalid"
        : outcome === Outcome.Lost
        ? "WorkerLost"
        : outcome === Outcome.Closed
        ? "PoolClosed"
        : "Defect",
      message: typeof value === "string"
        ? value
        : outcome === Outcome.Lost
        ? (value as WorkerExit).message
        : outcome === Outcome.PayloadInvalid
        ? `${renderPath(remote.path ?? [])}: ${remote.message}`
        : remoteErrorText(remote)
    })
  })
}
