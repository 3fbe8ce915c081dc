/**
 * Actors: state that lives in one worker across calls, with typed methods and a FIFO mailbox.
 *
 * Contains the definition (`make`), the worker-side constructor type (`Constructor`,
 * `implement`), the caller-side handle (`spawn`, `spawnMany`, `Handle.call`, `stop`), the Schema
 * of a handle passed in a payload (`Ref`), and the restart policy.
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
 * the method (or the whole actor) is declared `concurrent`. Actors on one worker run concurrently
 * with each other and with its tasks (fibers on one thread: CPU-bound work still takes turns).
 *
 * **Supervision.** A call in flight when the actor's worker dies fails with `WorkerLost`: calls
 * are delivered at most once. With a `restart` policy the pool rebuilds the actor from its
 * constructor arguments (on another worker when its own is gone), after a backoff, never while
 * an earlier instance still runs; calls made meanwhile wait and are delivered to the new
 * instance, which starts from fresh state. Without one (the default), or once the restarts are
 * used up, the actor is dead and calls fail with `ActorUnavailable`.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type * as Scope from "effect/Scope"
import { hold as holdShared } from "../runtime/Arena.ts"
import { codecOf } from "../runtime/codec.ts"
import { Outcome, type PayloadIssue } from "../runtime/protocol.ts"
import { ActorInitError, ActorUnavailable } from "./ActorError.ts"
import * as Task from "./Task.ts"
import { renderInput, type TaskFailure } from "./TaskError.ts"

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
export type CallFailure = TaskFailure | ActorUnavailable

/** A live actor, as its caller (or a worker that received it in a payload) holds it. */
export interface Handle<A extends Any> {
  readonly [HandleTypeId]: HandleTypeId
  readonly actor: A
  /** Unique within its pool. */
  readonly id: number
  /** Calls a method; interrupting the call interrupts it in the worker. */
  readonly call: <K extends MethodName<A>>(
    method: K,
    payload: Task.Payload<Methods<A>[K]>
  ) => Effect.Effect<Task.Success<Methods<A>[K]>, Task.Error<Methods<A>[K]> | CallFailure>
}
export const HandleTypeId = "~effect-parallel/Actor/Handle" as const
export type HandleTypeId = typeof HandleTypeId

export interface RestartPolicy {
  /** Rebuilds after a crash (worker death, or the constructor failing on a rebuild). */
  readonly maxRestarts: number
  /** Wait before the first rebuild; doubles each time. Default 100 ms. */
  readonly backoff?: Duration.Input | undefined
}

export interface SpawnOptions {
  /** Pin to the worker at this position in the pool (0-based, modulo the pool size). */
  readonly worker?: number | undefined
  readonly restart?: RestartPolicy | undefined
}

// ---------------------------------------------------------------------------------------------
// Transport: what a handle's calls go through
// ---------------------------------------------------------------------------------------------

/** Receives a call's outcome once. */
export type Reply = (outcome: Outcome, value: unknown, workerId: number) => void

/**
 * Moves calls to actors: the pool's actor host in the caller's thread, or, inside a worker, the
 * worker's own channel to its pool.
 */
export interface Transport {
  readonly spawn: (
    actor: Any,
    init: unknown,
    options: { readonly worker: number | undefined; readonly maxRestarts: number; readonly backoffMillis: number },
    reply: Reply
  ) => number
  readonly call: (actorId: number, method: Task.Any, payload: unknown, reply: Reply) => () => Promise<void>
  readonly stop: (actorId: number) => Promise<void>
}

/** Inside a worker: the channel its handlers' actor calls go through. */
export class WorkerTransport extends Context.Service<WorkerTransport, Transport>()(
  "effect-parallel/Actor/WorkerTransport"
) {}

/** The pool-side transport of every pool in this thread, by pool key, for handles decoded here. */
const poolTransports = new Map<string, Transport>()

/** Each registered transport's pool key, so a handle it made can be encoded with its pool. */
const transportKeys = new WeakMap<Transport, string>()

/** @internal registers a pool's transport under `key` while the pool is open. */
export const registerPool = (key: string, transport: Transport): () => void => {
  poolTransports.set(key, transport)
  transportKeys.set(transport, key)
  return () => void poolTransports.delete(key)
}

// ---------------------------------------------------------------------------------------------
// Guards
// ---------------------------------------------------------------------------------------------

export const isActor = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u
export const isHandle = (u: unknown): u is Handle<Any> => typeof u === "object" && u !== null && HandleTypeId in u

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

type PayloadInput = Schema.Top | Schema.Struct.Fields
type PayloadSchema<P> = P extends Schema.Top ? P : P extends Schema.Struct.Fields ? Schema.Struct<P> : never

interface MethodInput {
  readonly payload: PayloadInput
  readonly success?: Schema.Top
  readonly error?: Schema.Top
  /** Starts at once instead of waiting its turn in the mailbox. */
  readonly concurrent?: boolean
}

type MethodTasks<Name extends string, M extends { readonly [method: string]: MethodInput }> = {
  readonly [K in keyof M & string]: Task.Task<
    `${Name}.${K}`,
    PayloadSchema<M[K]["payload"]>,
    M[K] extends { readonly success: infer S extends Schema.Top } ? S : Schema.Void,
    M[K] extends { readonly error: infer E extends Schema.Top } ? E : Schema.Never
  >
}

/**
 * Defines an actor: its init arguments (a Schema or struct fields), an optional declared init
 * error, and its methods (each a payload, a success and an error Schema, optionally
 * `concurrent`). `concurrent: true` on the actor makes every method concurrent.
 */
export const make = <
  const Name extends string,
  const I extends PayloadInput,
  const M extends { readonly [method: string]: MethodInput },
  IE extends Schema.Top = Schema.Never
>(
  name: Name,
  options: { readonly init: I; readonly initError?: IE; readonly methods: M; readonly concurrent?: boolean }
): Actor<Name, PayloadSchema<I>, IE, MethodTasks<Name, M>> => {
  const methods: Record<string, Task.Any> = {}
  const concurrent = new Set<string>()
  for (const [method, spec] of Object.entries(options.methods)) {
    methods[method] = Task.make(`${name}.${method}`, {
      payload: spec.payload,
      ...(spec.success === undefined ? {} : { success: spec.success }),
      ...(spec.error === undefined ? {} : { error: spec.error })
    })
    if (spec.concurrent === true || options.concurrent === true) concurrent.add(method)
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

/**
 * Starts an actor on its pool and returns its handle; the actor stops (its finalizers run) when
 * the current Scope closes. Placed on the worker with the fewest actors unless pinned.
 *
 * Fails with the actor's declared init error, or `ActorInitError` when its constructor dies, its
 * init arguments fail their Schema, or its worker is lost while it is being built.
 */
export const spawn = <A extends Any>(
  actor: A,
  init: Init<A>,
  options?: SpawnOptions
): Effect.Effect<Handle<A>, InitError<A> | ActorInitError, Task.Runner<A["name"]> | Scope.Scope> =>
  Effect.flatMap(Task.runnerKey(actor.name), (pool) =>
    Effect.map(Effect.acquireRelease(
      Effect.suspend(() => {
        const transport = pool.actors
        if (transport === undefined) return Effect.die(new Error(`the pool of ${actor.name} hosts no actors`))
        const codec = codecOf(actor.init)
        const encoded = codec.encodePayload(init)
        if (encoded.issue !== undefined) return Effect.fail(invalidInit(actor, init, encoded.issue))
        // The actor owns the shared memory its init arguments carry for as long as it lives.
        const held = codec.sharedPayload ? holdShared([encoded.value]) : undefined
        if (held?._tag === "Released") {
          return Effect.fail(invalidInit(actor, init, held.issue))
        }
        const restart = options?.restart
        const backoff = restart?.backoff === undefined ? undefined : Duration.fromInput(restart.backoff)
        return Effect.callback<Spawned<A>, InitError<A> | ActorInitError>((resume) => {
          let id = -1
          id = transport.spawn(actor, encoded.value, {
            worker: options?.worker,
            maxRestarts: Math.max(0, Math.floor(restart?.maxRestarts ?? 0)),
            backoffMillis: backoff === undefined || backoff._tag === "None" ? 100 : Duration.toMillis(backoff.value)
          }, (outcome, value, workerId) => {
            if (outcome === Outcome.Success) {
              return resume(Effect.succeed({ handle: makeHandle(actor, id, transport), held }))
            }
            held?.release()
            resume(Effect.fail(initFailure(actor, init, outcome, value, workerId) as InitError<A> | ActorInitError))
          })
          // Interrupted while it is being built: it must not outlive the interruption.
          return Effect.promise(() => transport.stop(id).then(() => held?.release()))
        })
      }),
      ({ held, handle }) => Effect.promise(() => pool.actors!.stop(handle.id).then(() => held?.release()))
    ), ({ handle }) => handle))

interface Spawned<A extends Any> {
  readonly handle: Handle<A>
  readonly held: { readonly release: () => void } | undefined
}

/**
 * Starts `count` actors with the same init arguments, on distinct workers while there are
 * enough (actor `i` is pinned to worker `i`).
 */
export const spawnMany = <A extends Any>(
  actor: A,
  count: number,
  init: Init<A>,
  options?: Omit<SpawnOptions, "worker">
): Effect.Effect<Array<Handle<A>>, InitError<A> | ActorInitError, Task.Runner<A["name"]> | Scope.Scope> =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => i),
    (worker) => spawn(actor, init, { ...options, worker }),
    { concurrency: "unbounded" }
  )

/** Stops an actor now instead of when its scope closes; its calls fail with `ActorUnavailable`. */
export const stop = <A extends Any>(handle: Handle<A>): Effect.Effect<void> =>
  Effect.promise(() => (handle as HandleImpl<A>).transport.stop(handle.id))

// ---------------------------------------------------------------------------------------------
// Handles in payloads
// ---------------------------------------------------------------------------------------------

const RefEncoded = Schema.Struct({ actor: Schema.String, pool: Schema.String, id: Schema.Int })

/**
 * The Schema of a handle to `actor` inside a payload (of a task, an actor method or an actor's
 * init): the handle crosses as its id, and the worker that receives it calls the actor through
 * its own pool without going through the caller's code.
 *
 * **Gotchas**: a handle is only good within the pool that spawned the actor.
 */
export const Ref = <A extends Any>(actor: A): Schema.decodeTo<Schema.declare<Handle<A>>, typeof RefEncoded> =>
  RefEncoded.pipe(
    Schema.decodeTo(
      Schema.declare((u): u is Handle<A> => isHandle(u) && u.actor.name === actor.name, {
        expected: `a handle to actor ${actor.name}`
      }),
      SchemaTransformation.transform({
        decode: (encoded) => makeHandle(actor, encoded.id, undefined, encoded.pool),
        encode: (handle) => ({ actor: actor.name, pool: (handle as HandleImpl<A>).poolKey(), id: handle.id })
      })
    )
  )

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

interface HandleImpl<A extends Any> extends Handle<A> {
  readonly transport: Transport
  readonly poolKey: () => string
}

const makeHandle = <A extends Any>(
  actor: A,
  id: number,
  fixed: Transport | undefined,
  poolKey?: string
): Handle<A> => {
  // The spawning pool's transport, or, for a handle decoded from a payload, its pool's in this thread.
  const poolTransport = (): Transport | undefined =>
    fixed ?? (poolKey === undefined ? undefined : poolTransports.get(poolKey))
  // Inside a worker, calls go through the worker's own channel to its pool.
  const resolve = (context: Context.Context<never>): Transport | undefined =>
    fixed ?? Option.getOrUndefined(Context.getOption(context, WorkerTransport)) ?? poolTransport()
  const handle: HandleImpl<A> = {
    [HandleTypeId]: HandleTypeId,
    actor,
    id,
    get transport() {
      const transport = poolTransport()
      if (transport === undefined) throw new Error(`actor ${actor.name}#${id}: no pool to reach it from here`)
      return transport
    },
    poolKey: () => poolKey ?? (fixed === undefined ? "" : transportKeys.get(fixed) ?? ""),
    call: (method, payload) =>
      Effect.withFiber((fiber) => {
        const task = actor.methods[method]
        if (task === undefined) return Effect.die(new Error(`actor ${actor.name} has no method "${method}"`))
        const transport = resolve(fiber.context as Context.Context<never>)
        if (transport === undefined) {
          return Effect.fail(unavailable(actor, id, "Dead", "no pool to reach it from this thread"))
        }
        const codec = codecOf(task)
        const encoded = codec.encodePayload(payload)
        if (encoded.issue !== undefined) {
          return Task.toExit(task, codec, payload, Outcome.PayloadInvalid, encoded.issue, -1, 0, undefined)
        }
        const held = codec.sharedPayload ? holdShared([encoded.value]) : undefined
        if (held?._tag === "Released") {
          return Task.toExit(task, codec, payload, Outcome.PayloadInvalid, held.issue, -1, 0, undefined)
        }
        return Effect.callback<any, any>((resume) => {
          const cancel = transport.call(id, task, encoded.value, (outcome, value, workerId) => {
            held?.release()
            if (outcome === Outcome.Unavailable) return resume(Effect.fail(unavailable(actor, id, value as "Stopped" | "Dead")))
            resume(Task.toExit(task, codec, payload, outcome, value, workerId, 1, undefined))
          })
          return held === undefined ? Effect.promise(cancel) : Effect.promise(() => cancel().then(held.release))
        })
      }) as any
  }
  return handle
}

const unavailable = (actor: Any, id: number, reason: "Stopped" | "Dead", detail?: string) =>
  new ActorUnavailable({
    actorName: actor.name,
    actorId: id,
    reason,
    message: detail ?? (reason === "Stopped" ? "the actor was stopped" : "the actor died and will not be restarted")
  })

/** Init arguments the caller's side rejected, before any worker saw them. */
const invalidInit = (actor: Any, init: unknown, issue: PayloadIssue) =>
  new ActorInitError({
    actorName: actor.name,
    workerId: -1,
    input: renderInput(init),
    reason: "PayloadInvalid",
    message: `${JSON.stringify(issue.path)}: ${issue.message}`
  })

const initFailure = (actor: Any, init: unknown, outcome: Outcome, value: unknown, workerId: number) => {
  if (outcome === Outcome.Failure) {
    const decoded = codecOf(actor.init).decodeError(value)
    if (decoded.issue === undefined) return decoded.value
  }
  const remote = value as { name?: string; message?: string; stack?: string; path?: ReadonlyArray<unknown> }
  return new ActorInitError({
    actorName: actor.name,
    workerId,
    input: renderInput(init),
    reason: outcome === Outcome.PayloadInvalid ? "PayloadInvalid" : outcome === Outcome.Lost ? "WorkerLost" : "Defect",
    message: typeof value === "string"
      ? value
      : outcome === Outcome.PayloadInvalid
      ? `${JSON.stringify(remote.path)}: ${remote.message}`
      : `${remote.name}: ${remote.message}\n${remote.stack ?? ""}`
  })
}
