/**
 * Actors: state that lives in one worker across calls, with typed methods and a FIFO mailbox.
 *
 * Contains the definition (`make`), the worker-side constructor type (`Constructor`,
 * `implement`), the model of a caller's handle (`Handle`) and the restart policy. Spawning,
 * calling and `Ref` (a handle in a payload) are the public API's (`effect-parallel`'s `Actor`).
 *
 * ```ts
 * export const Counter = Actor.make("Counter", {
 *   init: { start: Schema.Number },
 *   methods: { add: { payload: { n: Schema.Number }, success: Schema.Number } }
 * })
 * // worker entry: a constructor per actor, next to the task handlers
 * Worker.serve(Task.group(Counter), {
 *   Counter: ({ start }) => Effect.sync(() => { let total = start; return { add: ({ n }) => Effect.sync(() => (total += n)) } })
 * })
 * // caller
 * const counter = yield* Actor.spawn(Counter, { start: 0 })   // stopped when the scope closes
 * yield* counter.call("add", { n: 2 })
 * ```
 *
 * **Ordering.** Calls to one actor are handled one at a time in the order they were made, unless
 * the method (or the whole actor) is declared `concurrent`. A call or a `tell` (fire and forget)
 * enters the mailbox when its Effect runs; a forked one when its fiber takes its first step. Actors on one worker run concurrently
 * with each other and with its tasks (fibers on one thread: CPU-bound work still takes turns).
 *
 * **Supervision.** A call in flight when the actor's worker dies fails with `TaskError` reason `WorkerLost`: calls
 * are delivered at most once. With a `restart` policy the pool rebuilds the actor from its
 * constructor arguments (on another worker when its own is gone), after a backoff, never while
 * an earlier instance still runs; calls made meanwhile wait and are delivered to the new
 * instance, which starts from fresh state. Without one (the default), or once the restarts are
 * used up, the actor is dead and calls fail with `ActorError` reason `Unavailable`.
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { ActorError } from "./ActorError.ts"
import * as Task from "./Task.ts"
import type { TaskError } from "./TaskError.ts"

export const TypeId = "~effect-parallel/Actor" as const
export type TypeId = typeof TypeId

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/**
 * An actor definition. Each method is a `Task` named `<Actor>.<method>`, so its payload, success
 * and error cross the boundary exactly as a task's do.
 */
export interface Actor<
  out Name extends string,
  out Init extends Schema.Top,
  out InitError extends Schema.Top,
  out Methods extends { readonly [method: string]: Task.Any }
> {
  readonly [TypeId]: TypeId
  readonly name: Name
  /** The constructor: its payload is the init arguments, its error the declared init error. */
  readonly init: Task.Task<Name, Init, Schema.Void, InitError>
  readonly methods: Methods
  /** Methods that start at once instead of waiting their turn in the mailbox. */
  readonly concurrent: ReadonlySet<string>
}

export type Any = Actor<string, Schema.Top, Schema.Top, { readonly [method: string]: Task.Any }>

export type Init<A> = A extends Actor<any, infer I, any, any> ? I["Type"] : never
export type InitError<A> = A extends Actor<any, any, infer E, any> ? E["Type"] : never
export type Methods<A> = A extends Actor<any, any, any, infer M> ? M : never
export type MethodName<A> = keyof Methods<A> & string

/** What a method handler looks like in the worker. */
export type MethodHandlers<A, R> = {
  readonly [K in MethodName<A>]: (
    payload: Task.Payload<Methods<A>[K]>
  ) => Effect.Effect<Task.Success<Methods<A>[K]>, Task.Error<Methods<A>[K]>, R>
}

/**
 * The worker side of an actor: a scoped Effect from its init arguments to its method handlers.
 * Resources it acquires (`Effect.acquireRelease`) live as long as the actor and are released
 * when it stops.
 */
export type Constructor<A, R> = (init: Init<A>) => Effect.Effect<MethodHandlers<A, R>, InitError<A>, R | Scope.Scope>

/** How a failed call to an actor arrives: its declared error, or one of these. */
export type CallFailure = TaskError | ActorError

/** A live actor, as its caller (or a worker that received it in a payload) holds it. */
export interface Handle<A extends Any> {
  readonly [HandleTypeId]: HandleTypeId
  readonly actor: A
  /** Unique within its pool. */
  readonly id: number
  /** Calls a method; interrupting the call interrupts it in the worker. */
  readonly call: <K extends MethodName<A>>(
    method: K,
    ...payload: Task.PayloadArg<Methods<A>[K]>
  ) => Effect.Effect<Task.Success<Methods<A>[K]>, Task.Error<Methods<A>[K]> | CallFailure>
  /**
   * Sends a message without waiting for its outcome (`Actor.tell`): it enters the mailbox when
   * this Effect runs, behind every call and tell made before it.
   */
  readonly tell: <K extends MethodName<A>>(
    method: K,
    ...payload: Task.PayloadArg<Methods<A>[K]>
  ) => Effect.Effect<void, CallFailure>
}
export const HandleTypeId = "~effect-parallel/Actor/Handle" as const
export type HandleTypeId = typeof HandleTypeId

export interface RestartPolicy {
  /** Rebuilds after a crash (worker death, or the constructor failing on a rebuild). */
  readonly maxRestarts: number
  /** Wait before the first rebuild; doubles each time, up to `maxBackoff`. Default 100 ms. */
  readonly backoff?: Duration.Input | undefined
  /**
   * The longest wait before a rebuild. Default 30 s: unbounded doubling had an actor restarted
   * 20 times wait 100 ms × 2¹⁹ (14 hours) for its next instance, its calls waiting with it.
   */
  readonly maxBackoff?: Duration.Input | undefined
}

export interface SpawnOptions {
  /**
   * Pin to the worker at this position among those ready when the actor is placed, oldest first
   * (0-based, modulo their count): a worker replaced after a crash joins at the end.
   */
  readonly worker?: number | undefined
  readonly restart?: RestartPolicy | undefined
}

// ---------------------------------------------------------------------------------------------
// Guards
// ---------------------------------------------------------------------------------------------

export const isActor = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u
export const isHandle = (u: unknown): u is Handle<Any> => typeof u === "object" && u !== null && HandleTypeId in u

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

/** How a method is declared in `Actor.make`. */
export interface MethodInput {
  /** Default `Schema.Void`: no payload (`handle.call("method")`). */
  readonly payload?: Task.PayloadInput
  readonly success?: Schema.Top
  readonly error?: Schema.Top
  /** Starts at once instead of waiting its turn in the mailbox. */
  readonly concurrent?: boolean
}

/** The task each declared method becomes (`<actor>.<method>`). */
export type MethodTasks<Name extends string, M extends { readonly [method: string]: MethodInput }> = {
  readonly [K in keyof M & string]: Task.Task<
    `${Name}.${K}`,
    M[K] extends { readonly payload: infer P extends Task.PayloadInput } ? Task.PayloadSchema<P> : Schema.Void,
    M[K] extends { readonly success: infer S extends Schema.Top } ? S : Schema.Void,
    M[K] extends { readonly error: infer E extends Schema.Top } ? E : Schema.Never
  >
}

/**
 * Defines an actor: its init arguments (a Schema or struct fields), an optional declared init
 * error, and its methods (each a payload, a success and an error Schema, optionally
 * `concurrent`). `concurrent: true` on the actor makes every method concurrent that does not say
 * `concurrent: false` itself.
 */
export const make = <
  const Name extends string,
  const I extends Task.PayloadInput,
  const M extends { readonly [method: string]: MethodInput },
  IE extends Schema.Top = Schema.Never
>(
  name: Name,
  options: { readonly init: I; readonly initError?: IE; readonly methods: M; readonly concurrent?: boolean }
): Actor<Name, Task.PayloadSchema<I>, IE, MethodTasks<Name, M>> => {
  const methods: Record<string, Task.Any> = {}
  const concurrent = new Set<string>()
  for (const [method, spec] of Object.entries(options.methods)) {
    methods[method] = Task.make(`${name}.${method}`, {
      ...(spec.payload === undefined ? {} : { payload: spec.payload }),
      ...(spec.success === undefined ? {} : { success: spec.success }),
      ...(spec.error === undefined ? {} : { error: spec.error })
    })
    // The method's own setting wins: an explicit `false` keeps one method serial in a concurrent actor.
    if (spec.concurrent ?? options.concurrent === true) concurrent.add(method)
  }
  return {
    [TypeId]: TypeId,
    name,
    init: Task.make(name, {
      payload: options.init,
      ...(options.initError === undefined ? {} : { error: options.initError })
    }) as any,
    methods: methods as MethodTasks<Name, M>,
    concurrent
  }
}

/**
 * Types a constructor against its definition, for writing it apart from `Worker.serve`. The
 * `Scope` its constructor uses is the actor's own, so it is not left in the requirements.
 */
export const implement = <A extends Any, R = never>(
  _actor: A,
  constructor: Constructor<A, R>
): Constructor<A, Exclude<R, Scope.Scope>> => constructor as unknown as Constructor<A, Exclude<R, Scope.Scope>>

