/**
 * What every pool Layer does the same way, whatever its backend: start a dispatcher for the
 * Layer's scope, host the group's actors, and provide its client under every name of a group.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { PoolError, WorkerInitFailed } from "../../core/PoolError.ts"
import type { Any, Group, Runner } from "../../core/Task.ts"
import type { Timers } from "../../runtime/backends/Backend.ts"
import { registerPool } from "../../runtime/client/ActorHandle.ts"
import { type PoolClient, runnerKey } from "../../runtime/client/PoolClient.ts"
import { ActorHost } from "../../runtime/scheduler/ActorHost.ts"
import type { Dispatcher } from "../../runtime/scheduler/Dispatcher.ts"

/**
 * Starts the dispatcher; closes it when the scope closes — also when starting fails or is
 * interrupted. Only making it is the uninterruptible acquire: waiting for the workers to be ready
 * (up to `initTimeout`, a model loading) is not, so an interrupted build (Ctrl-C) stops at once
 * and its closing terminates the workers still starting.
 */
export const acquireDispatcher = (make: () => Dispatcher): Effect.Effect<Dispatcher, PoolError, Scope.Scope> =>
  Effect.flatMap(
    Effect.acquireRelease(Effect.sync(make), (dispatcher) => Effect.promise(() => dispatcher.close())),
    (dispatcher) =>
      Effect.as(
        Effect.tryPromise({
          try: () => dispatcher.start(),
          catch: (error) =>
            error instanceof PoolError
              ? error
              : new PoolError({ reason: new WorkerInitFailed({ workerId: -1, failure: "Failed", message: String(error) }) })
        }),
        dispatcher
      )
  )

/**
 * Hosts the group's actors, if it has any: an `ActorHost` on the dispatcher's workers and timers,
 * which becomes the dispatcher's `actors` and, while the scope is open, is registered under a pool
 * key so that handles decoded in this thread reach it.
 */
export const hostActors = (
  group: Group<Any, unknown>,
  dispatcher: Dispatcher,
  timers: Timers
): Effect.Effect<ActorHost | undefined, never, Scope.Scope> =>
  Effect.suspend(() => {
    if (Object.keys(group.actors).length === 0) return Effect.succeed(undefined)
    const host = new ActorHost(dispatcher, timers)
    dispatcher.listen(host)
    dispatcher.actors = host
    const key = `pool-${++poolCount}-${process.pid}`
    host.key = key
    return Effect.as(Effect.acquireRelease(Effect.sync(() => registerPool(key, host)), (unregister) => Effect.sync(unregister)), host)
  })

let poolCount = 0

/** The client under the runner key of every task and actor of the group. */
export const provideTasks = <Tasks extends Any, Actors extends { readonly name: string }>(
  group: Group<Tasks, Actors>,
  pool: PoolClient
): Context.Context<Runner<Tasks["name"] | Actors["name"]>> => {
  let context = Context.empty() as Context.Context<any>
  for (const name of [...Object.keys(group.tasks), ...Object.keys(group.actors)]) {
    context = Context.add(context, runnerKey(name), pool)
  }
  return context
}

/** The client of the pool serving `group`, from context. */
export const clientOf = <Tasks extends Any, Actors extends { readonly name: string }>(
  group: Group<Tasks, Actors>
): Effect.Effect<PoolClient, never, Runner<Tasks["name"] | Actors["name"]>> => {
  const name = [...Object.keys(group.tasks), ...Object.keys(group.actors)][0]
  if (name === undefined) return Effect.die(new Error("WorkerPool: the group is empty"))
  return runnerKey(name) as unknown as Effect.Effect<PoolClient, never, Runner<Tasks["name"] | Actors["name"]>>
}
