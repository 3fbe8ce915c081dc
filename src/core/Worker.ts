/**
 * Worker entries: the module a pool loads in each worker, serving a task group with handlers.
 *
 * Contains `serve` (handlers plus an optional per-worker Layer), the `WorkerInfo` service a
 * handler may read (which worker it runs on), and the `WorkerEntry` model.
 *
 * ```ts
 * // image-worker.ts
 * export default Worker.serve(ImageTasks, { Convolve: ({ image, filter }) => convolve(image, filter) })
 * ```
 *
 * The per-worker Layer is built once when the worker starts, kept alive across every task, and
 * released (its finalizers are the worker's exit hooks) when the pool closes. Importing an entry
 * has no side effect: the pool's worker bootstrap, or the inline backend, runs it.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Actor from "./Actor.ts"
import type * as Task from "./Task.ts"

export const EntryTypeId = "~effect-parallel/Worker/Entry" as const
export type EntryTypeId = typeof EntryTypeId

/** Which worker a handler runs on. Ids are unique per pool; a replacement gets a new id. */
export class WorkerInfo extends Context.Service<WorkerInfo, { readonly id: number }>()(
  "effect-parallel/Worker/WorkerInfo"
) {}

/**
 * One handler per task of the group, typed by the task's Schemas, and one constructor per actor;
 * `R` is what they may require.
 */
export type Handlers<Tasks extends Task.Any, Actors extends Actor.Any, R> =
  & {
    readonly [T in Tasks as T["name"]]: (
      payload: T["payload"]["Type"]
    ) => Effect.Effect<T["success"]["Type"], T["error"]["Type"], R>
  }
  & { readonly [A in Actors as A["name"]]: Actor.Constructor<A, R> }

export interface WorkerEntry<out Tasks extends Task.Any = Task.Any, out Actors extends Actor.Any = Actor.Any> {
  readonly [EntryTypeId]: EntryTypeId
  readonly group: Task.Group<Tasks, Actors>
  readonly handlers: { readonly [name: string]: (payload: any) => Effect.Effect<unknown, unknown, any> }
  readonly layer: Layer.Layer<any, unknown, WorkerInfo> | undefined
}

export const isWorkerEntry = (u: unknown): u is WorkerEntry =>
  typeof u === "object" && u !== null && EntryTypeId in u

/**
 * Serves a group. Without a Layer, handlers may require only `WorkerInfo`; with one, whatever
 * the Layer provides (the Layer itself may require `WorkerInfo`). The compiler rejects handlers that need a service nobody provides.
 *
 * **Gotchas**: a Layer's build failure fails the pool's construction with `PoolError` / `WorkerInitFailed`; a
 * Layer that never finishes is cut off by the pool's `initTimeout`.
 */
export function serve<Tasks extends Task.Any, Actors extends Actor.Any = never>(
  group: Task.Group<Tasks, Actors>,
  handlers: NoInfer<Handlers<Tasks, Actors, WorkerInfo>>
): WorkerEntry<Tasks, Actors>
export function serve<Tasks extends Task.Any, ROut, E, Actors extends Actor.Any = never>(
  group: Task.Group<Tasks, Actors>,
  handlers: NoInfer<Handlers<Tasks, Actors, ROut | WorkerInfo>>,
  options: { readonly layer: Layer.Layer<ROut, E, WorkerInfo> }
): WorkerEntry<Tasks, Actors>
export function serve(
  group: Task.Group<Task.Any, Actor.Any>,
  handlers: Handlers<Task.Any, Actor.Any, any>,
  options?: { readonly layer: Layer.Layer<any, unknown, WorkerInfo> }
): WorkerEntry {
  for (const name of [...Object.keys(group.tasks), ...Object.keys(group.actors)]) {
    // Its own: an inherited `Object.prototype.toString` is no handler for a task named "toString".
    if (!Object.hasOwn(handlers, name) || typeof (handlers as Record<string, unknown>)[name] !== "function") {
      throw new Error(`Worker.serve: no handler or constructor for "${name}"`)
    }
  }
  return { [EntryTypeId]: EntryTypeId, group, handlers: handlers as WorkerEntry["handlers"], layer: options?.layer }
}
