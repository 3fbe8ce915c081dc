/**
 * What every pool Layer does the same way, whatever its backend: load a worker entry, start a
 * dispatcher for the Layer's scope, host the group's actors, and provide its client under every
 * name of a group.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { fileURLToPath, pathToFileURL } from "node:url"
import type { Any as ActorAny } from "../../core/Actor.ts"
import type { Any, Group, Runner } from "../../core/Task.ts"
import { WorkerInitError } from "../../core/TaskError.ts"
import { isWorkerEntry, type WorkerEntry } from "../../core/Worker.ts"
import { registerPool } from "../../runtime/client/ActorHandle.ts"
import { type PoolClient, runnerKey } from "../../runtime/client/PoolClient.ts"
import { ActorHost, type ActorObserver } from "../../runtime/scheduler/ActorHost.ts"
import type { Dispatcher, Timers } from "../../runtime/scheduler/Dispatcher.ts"

/**
 * The entry itself, or the default export of its module. `wrap` sees the import's promise: a
 * simulation holds its world still while a module loads.
 */
export const loadEntry = (
  entry: URL | string | WorkerEntry,
  wrap: <A>(promise: Promise<A>) => Promise<A> = (promise) => promise
): Effect.Effect<WorkerEntry, WorkerInitError> => {
  if (isWorkerEntry(entry)) return Effect.succeed(entry)
  const href = toHref(entry)
  return Effect.tryPromise({
    try: () =>
      wrap(import(href).then((module) => {
        const loaded = module.default
        if (!isWorkerEntry(loaded)) throw new TypeError(`${fileURLToPath(href)} has no default export made by Worker.serve`)
        return loaded
      })),
    catch: (error) => new WorkerInitError({ workerId: 0, reason: "Failed", message: String(error) })
  })
}

/** A module URL, from a URL, a `file:` URL string or a path. */
export const toHref = (entry: URL | string): string =>
  entry instanceof URL ? entry.href : entry.startsWith("file:") ? entry : pathToFileURL(entry).href

/** Starts the dispatcher; closes it if starting fails, and when the scope closes. */
export const acquireDispatcher = (make: () => Dispatcher): Effect.Effect<Dispatcher, WorkerInitError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      const dispatcher = make()
      return Effect.tryPromise({
        try: () => dispatcher.start(),
        catch: (error) =>
          error instanceof WorkerInitError
            ? error
            : new WorkerInitError({ workerId: -1, reason: "Failed", message: String(error) })
      }).pipe(
        Effect.as(dispatcher),
        Effect.onError(() => Effect.promise(() => dispatcher.close()))
      )
    }),
    (dispatcher) => Effect.promise(() => dispatcher.close())
  )

/**
 * Hosts the group's actors, if it has any: an `ActorHost` on the dispatcher's workers and timers,
 * which becomes the dispatcher's `actors` and, while the scope is open, is registered under a pool
 * key so that handles decoded in this thread reach it.
 */
export const hostActors = (
  group: Group<Any, ActorAny>,
  dispatcher: Dispatcher,
  timers: Timers,
  observer?: ActorObserver
): Effect.Effect<ActorHost | undefined, never, Scope.Scope> =>
  Effect.suspend(() => {
    if (Object.keys(group.actors).length === 0) return Effect.succeed(undefined)
    const host = new ActorHost(dispatcher, timers, observer)
    dispatcher.listen(host)
    dispatcher.actors = host
    const key = `pool-${++poolCount}-${process.pid}`
    return Effect.as(Effect.acquireRelease(Effect.sync(() => registerPool(key, host)), (unregister) => Effect.sync(unregister)), host)
  })

let poolCount = 0

/** The client under the runner key of every task and actor of the group. */
export const provideTasks = <Tasks extends Any, Actors extends ActorAny>(
  group: Group<Tasks, Actors>,
  pool: PoolClient
): Context.Context<Runner<Tasks["name"] | Actors["name"]>> => {
  let context = Context.empty() as Context.Context<any>
  for (const name of [...Object.keys(group.tasks), ...Object.keys(group.actors)]) {
    context = Context.add(context, runnerKey(name), pool)
  }
  return context
}
