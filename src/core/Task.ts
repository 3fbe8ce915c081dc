/**
 * Tasks: named, Schema-typed units of work that run on a pool of workers.
 *
 * Contains the definitions (`make`, `group`), the service a pool provides for each of its tasks
 * (`Runner`), and the ways to call them: `run` (one task), `map` (input order kept),
 * `mapUnordered` (completion order) and `stream` (a `Stream` stage). Every call is bounded
 * (a pool holds at most a few chunks per worker in flight) and chunked automatically.
 *
 * A definition is a plain value: the caller and the worker entry import the same module.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { hold as holdShared } from "../runtime/Arena.ts"
import type { Any as ActorAny, Transport as ActorTransport } from "./Actor.ts"
import { type Codec, codecOf } from "../runtime/codec.ts"
import { type Progress, startProgress } from "../runtime/Progress.ts"
import { Outcome, type PayloadIssue, type RemoteError } from "../runtime/protocol.ts"
import {
  renderInput,
  TaskDefect,
  type TaskFailure,
  TaskPayloadError,
  TaskTimeout,
  WorkerLost
} from "./TaskError.ts"

export const TypeId = "~effect-parallel/Task" as const
export type TypeId = typeof TypeId

/**
 * A task definition. `Payload`, `Success` and `Error` are Schemas: whatever crosses to a worker
 * is encoded and decoded by them, so a declared error arrives in the caller as the same class.
 */
export interface Task<
  out Name extends string,
  out Payload extends Schema.Top,
  out Success extends Schema.Top,
  out Error extends Schema.Top
> {
  readonly [TypeId]: TypeId
  readonly name: Name
  readonly payload: Payload
  readonly success: Success
  readonly error: Error
}

export type Any = Task<string, Schema.Top, Schema.Top, Schema.Top>

export type Name<T> = T extends Task<infer N, any, any, any> ? N : never
export type Payload<T> = T extends Task<any, infer P, any, any> ? P["Type"] : never
export type Success<T> = T extends Task<any, any, infer S, any> ? S["Type"] : never
export type Error<T> = T extends Task<any, any, any, infer E> ? E["Type"] : never

/**
 * A set of tasks (and actors) served together: a worker entry serves a group, a pool runs one.
 */
export interface Group<out Tasks extends Any, out Actors extends ActorAny = never> {
  readonly [GroupTypeId]: GroupTypeId
  readonly tasks: { readonly [name: string]: Tasks }
  readonly actors: { readonly [name: string]: Actors }
}
export const GroupTypeId = "~effect-parallel/Task/Group" as const
export type GroupTypeId = typeof GroupTypeId

export type Tasks<G> = G extends Group<infer T, any> ? T : never
export type Actors<G> = G extends Group<any, infer A> ? A : never

/**
 * The requirement that running a task adds to an Effect: a pool serving the task's group.
 * `WorkerPool.layer(group, …)` provides it for every task of the group, so a program that runs
 * a task and never provides its pool does not compile.
 */
export interface Runner<out Name extends string> {
  readonly [RunnerTypeId]: Name
}
export const RunnerTypeId = "~effect-parallel/Task/Runner" as const
export type RunnerTypeId = typeof RunnerTypeId

export const isTask = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u
export const isGroup = (u: unknown): u is Group<Any> => typeof u === "object" && u !== null && GroupTypeId in u

type PayloadInput = Schema.Top | Schema.Struct.Fields
type PayloadSchema<P> = P extends Schema.Top ? P : P extends Schema.Struct.Fields ? Schema.Struct<P> : never

/**
 * Defines a task. `payload` is a Schema or the fields of a struct; `success` defaults to
 * `Schema.Void` and `error` to `Schema.Never` (the task declares no error).
 *
 * **Gotchas**: names must be unique among the tasks a program runs: a pool provides its tasks
 * by name.
 */
export const make = <
  const TaskName extends string,
  const P extends PayloadInput,
  S extends Schema.Top = Schema.Void,
  E extends Schema.Top = Schema.Never
>(
  name: TaskName,
  options: { readonly payload: P; readonly success?: S; readonly error?: E }
): Task<TaskName, PayloadSchema<P>, S, E> => ({
  [TypeId]: TypeId,
  name,
  payload: (Schema.isSchema(options.payload) ? options.payload : Schema.Struct(options.payload)) as PayloadSchema<P>,
  success: (options.success ?? Schema.Void) as S,
  error: (options.error ?? Schema.Never) as E
})

/** Groups tasks and actors so that one worker entry serves them and one pool runs them. */
export const group = <const T extends ReadonlyArray<Any | ActorAny>>(
  ...members: T
): Group<Extract<T[number], Any>, Extract<T[number], ActorAny>> => {
  const tasks: Record<string, Any> = {}
  const actors: Record<string, ActorAny> = {}
  for (const member of members) {
    if (member.name in tasks || member.name in actors) {
      throw new globalThis.Error(`Task.group: duplicate name "${member.name}"`)
    }
    if (isTask(member)) tasks[member.name] = member
    else actors[member.name] = member
  }
  return { [GroupTypeId]: GroupTypeId, tasks, actors } as Group<Extract<T[number], Any>, Extract<T[number], ActorAny>>
}

// ---------------------------------------------------------------------------------------------
// The pool client: what a pool backend provides for each task of its group
// ---------------------------------------------------------------------------------------------

/** Receives the outcomes of a submission, one call per task, in completion order. */
export type Settle = (index: number, outcome: Outcome, value: unknown, workerId: number, attempts: number) => void

/** A batch of tasks handed to a pool: payloads are already in their encoded (wire) form. */
export interface Submission {
  readonly taskName: string
  readonly payloads: ReadonlyArray<unknown>
  /** Tasks per message; the pool may send fewer (fair share, capacity). */
  readonly chunkSize: number
  readonly timeoutMillis: number
  readonly settle: Settle
}

/** The caller-side handle of a pool. The hot path is plain functions; Effects wrap it in `Task`. */
export interface PoolClient {
  readonly size: number
  readonly submit: (submission: Submission) => Ticket
  /** Where spawns and calls of the pool's actors go; absent on pools without actors. */
  readonly actors?: ActorTransport | undefined
}

/** A submitted batch. `cancel` resolves when its tasks have stopped in the workers. */
export interface Ticket {
  readonly cancel: () => Promise<void>
}

const runnerKeys = new Map<string, Context.Service<any, PoolClient>>()

/** The service key under which a pool provides the named task. */
export const runnerKey = <N extends string>(name: N): Context.Service<Runner<N>, PoolClient> => {
  let key = runnerKeys.get(name)
  if (key === undefined) {
    key = Context.Service<Runner<N>, PoolClient>(`effect-parallel/Task/Runner/${name}`)
    runnerKeys.set(name, key)
  }
  return key
}

// ---------------------------------------------------------------------------------------------
// Calling
// ---------------------------------------------------------------------------------------------

export interface RunOptions {
  /** Per-task timeout, enforced in the worker; on expiry the handler is interrupted. */
  readonly timeout?: Duration.Input | undefined
}

export interface MapOptions extends RunOptions {
  /**
   * Tasks per message. Default: enough for about four chunks per worker, at most 256, so small
   * tasks amortize the per-message cost and large ones still spread over every worker.
   */
  readonly chunkSize?: number | undefined
  /** Show a progress bar on stderr when it is a terminal; silent otherwise. */
  readonly progress?: boolean | undefined
}

export interface StreamOptions extends RunOptions {
  /** Elements grouped into one submission (within `chunkWindow`). Default 64. */
  readonly chunkSize?: number | undefined
  /** How long a partial chunk waits for more elements before it is sent. Default 5 ms. */
  readonly chunkWindow?: Duration.Input | undefined
  /** Chunks in flight at once; bounds the stage's memory and work in flight. Default 4. */
  readonly concurrency?: number | undefined
}

/** The failures of running `T`: its declared error, or a `TaskFailure`. */
export type Failure<T> = Error<T> | TaskFailure

/**
 * Runs one task on its pool.
 *
 * Concurrent `run`s are coalesced into shared messages by the pool, so many small calls cost
 * few messages. Interrupting the caller interrupts the handler inside the worker.
 */
export const run: {
  <T extends Any>(task: T, payload: Payload<T>, options?: RunOptions): Effect.Effect<Success<T>, Failure<T>, Runner<Name<T>>>
} = <T extends Any>(task: T, payload: Payload<T>, options?: RunOptions) =>
  // `withFiber` reads the pool from the fiber's context in the same step (no service yield):
  // this is the latency-critical path of a single round trip.
  Effect.withFiber((fiber) => {
    const pool = Context.getUnsafe(fiber.context as Context.Context<Runner<Name<T>>>, runnerKey(task.name))
    const codec = codecOf(task)
    const encoded = codec.encodePayload(payload)
    if (encoded.issue !== undefined) return Effect.fail(payloadError(task, payload, encoded.issue, -1))
    const held = codec.sharedPayload ? holdShared([encoded.value]) : undefined
    if (held?._tag === "Released") return Effect.fail(payloadError(task, payload, held.issue, -1))
    return Effect.callback<Success<T>, Failure<T>>((resume) => {
      const ticket = pool.submit({
        taskName: task.name,
        payloads: [encoded.value],
        chunkSize: 1,
        timeoutMillis: timeoutMillis(options),
        settle: (_index, outcome, value, workerId, attempts) => {
          held?.release()
          resume(toExit(task, codec, payload, outcome, value, workerId, attempts, options))
        }
      })
      return held === undefined ? Effect.promise(ticket.cancel) : Effect.promise(() => ticket.cancel().then(held.release))
    })
  }) as Effect.Effect<Success<T>, Failure<T>, Runner<Name<T>>>

/**
 * Runs `task` over every input and returns the successes in input order.
 *
 * Fails fast: the first failure cancels the tasks still queued or running and fails the map
 * with that task's error.
 */
export const map: {
  <T extends Any>(
    task: T,
    inputs: Iterable<Payload<T>>,
    options?: MapOptions
  ): Effect.Effect<Array<Success<T>>, Failure<T>, Runner<Name<T>>>
} = <T extends Any>(task: T, inputs: Iterable<Payload<T>>, options?: MapOptions) =>
  runMany(task, inputs, options, true)

/** Like `map`, but the successes come in completion order. */
export const mapUnordered: {
  <T extends Any>(
    task: T,
    inputs: Iterable<Payload<T>>,
    options?: MapOptions
  ): Effect.Effect<Array<Success<T>>, Failure<T>, Runner<Name<T>>>
} = <T extends Any>(task: T, inputs: Iterable<Payload<T>>, options?: MapOptions) =>
  runMany(task, inputs, options, false)

/**
 * A `Stream` stage that runs `task` on every element, in order, with bounded work in flight:
 * elements are grouped into chunks (`chunkSize` within `chunkWindow`) and at most
 * `concurrency` chunks are on the pool at once, so upstream is pulled only as results leave.
 *
 * ```ts
 * Stream.fromIterable(files).pipe(Task.stream(Decode), Task.stream(Embed), Stream.runForEach(save))
 * ```
 */
export const stream: {
  <T extends Any>(
    task: T,
    options?: StreamOptions
  ): <E, R>(self: Stream.Stream<Payload<T>, E, R>) => Stream.Stream<Success<T>, E | Failure<T>, R | Runner<Name<T>>>
  <T extends Any, E, R>(
    self: Stream.Stream<Payload<T>, E, R>,
    task: T,
    options?: StreamOptions
  ): Stream.Stream<Success<T>, E | Failure<T>, R | Runner<Name<T>>>
} = dual(
  (args) => Stream.isStream(args[0]),
  <T extends Any, E, R>(self: Stream.Stream<Payload<T>, E, R>, task: T, options?: StreamOptions) => {
    const chunkSize = positiveInt(options?.chunkSize, 64)
    return self.pipe(
      Stream.groupedWithin(chunkSize, options?.chunkWindow ?? Duration.millis(5)),
      Stream.mapEffect((chunk) => runMany(task, chunk, { ...options, chunkSize }, true), {
        concurrency: positiveInt(options?.concurrency, 4)
      }),
      Stream.flattenIterable
    )
  }
)

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

/** At most this many tasks per message when the caller does not choose. */
const maxAutoChunk = 256

const runMany = <T extends Any>(
  task: T,
  inputs: Iterable<Payload<T>>,
  options: MapOptions | undefined,
  ordered: boolean
): Effect.Effect<Array<Success<T>>, Failure<T>, Runner<Name<T>>> =>
  Effect.flatMap(runnerKey(task.name), (pool) => {
    const payloads = Array.isArray(inputs) ? (inputs as ReadonlyArray<Payload<T>>) : Array.from(inputs)
    const count = payloads.length
    if (count === 0) return Effect.succeed([])
    const codec = codecOf(task)
    const encoded = new Array<unknown>(count)
    for (let i = 0; i < count; i++) {
      const result = codec.encodePayload(payloads[i])
      if (result.issue !== undefined) return Effect.fail(payloadError(task, payloads[i], result.issue, -1))
      encoded[i] = result.value
    }
    // The map owns the shared memory its payloads carry until none of its tasks is in a worker.
    const held = codec.sharedPayload ? holdShared(encoded) : undefined
    if (held?._tag === "Released") return Effect.fail(payloadError(task, payloads[held.index], held.issue, -1))
    const release = held === undefined ? undefined : held.release
    const chunkSize = options?.chunkSize !== undefined
      ? positiveInt(options.chunkSize, 1)
      : Math.min(maxAutoChunk, Math.max(1, Math.ceil(count / (pool.size * 4))))
    const timeout = timeoutMillis(options)
    return Effect.callback<Array<Success<T>>, Failure<T>>((resume) => {
      const results = new Array<Success<T>>(count)
      let settled = 0
      let done = false
      const progress: Progress | undefined = options?.progress ? startProgress(task.name, count) : undefined
      const stop = () => {
        done = true
        progress?.stop()
      }
      const ticket = pool.submit({
        taskName: task.name,
        payloads: encoded,
        chunkSize,
        timeoutMillis: timeout,
        settle: (index, outcome, value, workerId, attempts) => {
          if (done) return
          const exit = toExit(task, codec, payloads[index], outcome, value, workerId, attempts, options)
          if (Exit.isFailure(exit)) {
            // Fail fast: stop the rest in the workers before the map reports the failure.
            stop()
            const failure = exit as Exit.Exit<never, Failure<T>>
            void ticket.cancel().then(() => {
              release?.()
              resume(failure)
            })
            return
          }
          results[ordered ? index : settled] = exit.value
          settled++
          progress?.increment()
          if (settled === count) {
            stop()
            release?.()
            resume(Exit.succeed(results))
          }
        }
      })
      return Effect.promise(() => {
        stop()
        return release === undefined ? ticket.cancel() : ticket.cancel().then(release)
      })
    })
  }) as Effect.Effect<Array<Success<T>>, Failure<T>, Runner<Name<T>>>

/** Turns a worker's report into the caller's typed Exit. @internal (actors' calls use it too) */
export const toExit = <T extends Any>(
  task: T,
  codec: Codec,
  input: unknown,
  outcome: Outcome,
  value: unknown,
  workerId: number,
  attempts: number,
  options: RunOptions | undefined
): Exit.Exit<Success<T>, Failure<T>> => {
  switch (outcome) {
    case Outcome.Success: {
      const decoded = codec.decodeSuccess(value)
      return decoded.issue === undefined
        ? Exit.succeed(decoded.value as Success<T>)
        : Exit.fail(defect(task, input, workerId, {
          name: "SuccessDecodeError",
          message: `result does not match the success Schema: ${decoded.issue.message}`,
          stack: ""
        }))
    }
    case Outcome.Failure: {
      const decoded = codec.decodeError(value)
      return decoded.issue === undefined
        ? Exit.fail(decoded.value as Error<T>)
        : Exit.fail(defect(task, input, workerId, {
          name: "ErrorDecodeError",
          message: `declared error does not match the error Schema: ${decoded.issue.message}`,
          stack: ""
        }))
    }
    case Outcome.Defect:
      return Exit.fail(defect(task, input, workerId, value as RemoteError))
    case Outcome.PayloadInvalid:
      return Exit.fail(payloadError(task, input, value as PayloadIssue, workerId))
    case Outcome.Timeout:
      return Exit.fail(
        new TaskTimeout({
          taskName: task.name,
          workerId,
          input: renderInput(input),
          timeoutMillis: timeoutMillis(options)
        })
      )
    default:
      // Interrupted without the caller asking (the pool is closing), or the worker died.
      return Exit.fail(
        new WorkerLost({
          taskName: task.name,
          workerId,
          input: renderInput(input),
          reason: typeof value === "string" ? value : "interrupted: the pool is shutting down",
          attempts
        })
      )
  }
}

const defect = (task: Any, input: unknown, workerId: number, remote: RemoteError) =>
  new TaskDefect({
    taskName: task.name,
    workerId,
    input: renderInput(input),
    remoteName: remote.name,
    message: remote.message,
    remoteStack: remote.stack
  })

const payloadError = (task: Any, input: unknown, issue: PayloadIssue, workerId: number) =>
  new TaskPayloadError({
    taskName: task.name,
    workerId,
    input: renderInput(input),
    path: issue.path,
    message: issue.message
  })

const timeoutMillis = (options: RunOptions | undefined): number =>
  options?.timeout === undefined ? 0 : Math.max(1, Duration.toMillis(options.timeout))

const positiveInt = (value: number | undefined, fallback: number): number =>
  value === undefined || !Number.isFinite(value) ? fallback : Math.max(1, Math.floor(value))
