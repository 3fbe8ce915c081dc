/**
 * A batch of one task's inputs on its pool, as `Task.map`, `Task.mapUnordered`, `Task.stream` and
 * `Pipeline.task` stages submit it; and what every call checks before it goes (its `whenFull`,
 * that a pool runs the task).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { Any, Error, Name, Payload, Runner, Success } from "../../core/Task.ts"
import type { TaskError } from "../../core/TaskError.ts"
import { type CallOptions, many, timeoutMillisOf } from "../../runtime/client/call.ts"
import { type PoolClient, runnerKey } from "../../runtime/client/PoolClient.ts"
import { followSubmission } from "../../runtime/observe/Progress.ts"
import { countOf } from "./batches.ts"

/** What a batch takes of a call's options (`Task.MapOptions` has them all). */
export interface BatchOptions extends CallOptions {
  readonly whenFull?: "wait" | "fail" | undefined
  readonly chunkSize?: number | undefined
  readonly progress?: boolean | undefined
}

/** At most this many tasks per message when the caller does not choose. */
const maxAutoChunk = 256

/**
 * Runs `task` over `inputs`. `chunkAuto`: the pool may cut its messages by the task's cost
 * (Dispatcher rule 12) — when the caller did not choose their size; `firstIndex`: where the
 * batch starts in the caller's whole input (a stream chunk's), for failures that name the index.
 */
export const runMany = <T extends Any>(
  task: T,
  inputs: Iterable<Payload<T>>,
  options: BatchOptions | undefined,
  ordered: boolean,
  call: string,
  firstIndex = 0,
  chunkAuto = options?.chunkSize === undefined
): Effect.Effect<Array<Success<T>>, Error<T> | TaskError, Runner<Name<T>>> =>
  Effect.withFiber((fiber) => {
    const pool = Context.getOrUndefined(fiber.context as Context.Context<Runner<Name<T>>>, runnerKey(task.name)) as
      | PoolClient
      | undefined
    if (pool === undefined) return Effect.die(noPool(call, task))
    const payloads = Array.isArray(inputs) ? (inputs as ReadonlyArray<Payload<T>>) : Array.from(inputs)
    const count = payloads.length
    let chunkSize: number
    let timeoutMillis: number
    try {
      chunkSize = options?.chunkSize !== undefined
        ? countOf(options.chunkSize, 1, `${call}: chunkSize`)
        : Math.min(maxAutoChunk, Math.max(1, Math.ceil(count / (pool.size * 4))))
      timeoutMillis = timeoutMillisOf(options, () => call)
      whenFullOf(options, () => call)
    } catch (error) {
      return Effect.die(error)
    }
    let stopProgress: (() => void) | undefined
    return many(task, payloads, (encoded, settle, transfers, trace) =>
      pool.submit({
        taskName: task.name,
        payloads: encoded,
        chunkSize,
        chunkAuto,
        coalesce: false,
        timeoutMillis,
        whenFull: options?.whenFull,
        transfers,
        settle,
        trace
      }), {
      timeoutMillis,
      ordered,
      firstIndex,
      onSubmitted: options?.progress === true
        ? (ticket) => {
          stopProgress = followSubmission(pool.events, ticket.id, task.name, count)
        }
        : undefined,
      onDone: () => stopProgress?.()
    })
  }) as Effect.Effect<Array<Success<T>>, Error<T> | TaskError, Runner<Name<T>>>

/**
 * A call's `whenFull`, as given; throws a `RangeError` naming `call` when it is neither "wait" nor
 * "fail": the pool read anything but "fail" as "wait", so a misspelling queued without bound.
 */
export const whenFullOf = (
  options: { readonly whenFull?: "wait" | "fail" | undefined } | undefined,
  call: () => string
): "wait" | "fail" | undefined => {
  const whenFull = options?.whenFull
  if (whenFull === undefined || whenFull === "wait" || whenFull === "fail") return whenFull
  throw new RangeError(`${call()}: whenFull must be "wait" or "fail", got ${String(whenFull)}`)
}

/**
 * What a call without its pool dies with. The types refuse such a program (its `Runner` is left
 * unprovided); untyped code met Effect's "Service not found" with a key the user never wrote.
 */
export const noPool = (call: string, task: Any): globalThis.Error =>
  new globalThis.Error(
    `${call}: no pool in context runs task "${task.name}"; provide a pool (WorkerPool.layer) whose group includes it`
  )
