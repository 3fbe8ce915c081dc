/**
 * Pools of workers serving a task group, owned by a Layer.
 *
 * Contains `layer` (validated options → a scoped pool that provides every task of the group),
 * the `Options` model, and `liveThreads` for checking that nothing outlived a pool.
 *
 * ```ts
 * const ImagePool = WorkerPool.layer(ImageTasks, { entry: new URL("./image-worker.ts", import.meta.url) })
 * program.pipe(Effect.provide(ImagePool))
 * ```
 *
 * Building the layer starts the workers and waits until every one has built its per-worker Layer;
 * closing its scope shuts them down gracefully (exit hooks run) and terminates stragglers.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { availableParallelism } from "node:os"
import type { Any as ActorAny } from "../core/Actor.ts"
import type { Any, Group, Runner } from "../core/Task.ts"
import { PoolOptionsError, type WorkerInitError } from "../core/TaskError.ts"
import { isWorkerEntry, type WorkerEntry } from "../core/Worker.ts"
import { inlineBackend } from "../runtime/backends/InlineBackend.ts"
import { liveThreads, threadBackend } from "../runtime/backends/ThreadBackend.ts"
import { issueOf } from "../runtime/protocol/codec.ts"
import { type Backend, Dispatcher, realTimers } from "../runtime/scheduler/Dispatcher.ts"
import { acquireDispatcher, hostActors, loadEntry, provideTasks, toHref } from "./internal/pool.ts"

export { liveThreads }

export interface Options {
  /** The worker entry: a module URL or path (`export default Worker.serve(…)`), or, inline only, the entry itself. */
  readonly entry: URL | string | WorkerEntry
  /** Workers. Default: `"cores"` (available parallelism) for threads, 1 inline. */
  readonly size?: number | "cores" | undefined
  /** `"threads"` (default) or `"inline"`: the caller's own thread, for debugging and tests. */
  readonly backend?: "threads" | "inline" | undefined
  /** How long a worker may take to load its entry and build its Layer. Default 30 s. */
  readonly initTimeout?: Duration.Input | undefined
  /** How long exit hooks (the per-worker Layer's finalizers) may run at shutdown. Default 5 s. */
  readonly exitTimeout?: Duration.Input | undefined
  /** How long a worker may take to exit after shutdown is asked before it is terminated. Default exitTimeout + 1 s. */
  readonly shutdownTimeout?: Duration.Input | undefined
  /** How long an interrupted or timed-out handler may take to stop before its worker is terminated. Default 1 s. */
  readonly interruptGrace?: Duration.Input | undefined
  /** Times a task is re-sent after its worker died holding it. Default 0: at most once. */
  readonly retries?: number | undefined
  /** Unanswered messages per worker; more keeps workers busy, fewer balances long tasks. Default 2. */
  readonly pipelineDepth?: number | undefined
  /**
   * How long the caller's thread waits for the reply to a lone request (one task, or one actor
   * call, and nothing else in flight) before going back to its event loop; threads only. A reply
   * within it is taken at once instead of waking a sleeping thread: a round trip then costs a half
   * to two thirds as much. Waits that go unanswered (long tasks) are skipped for the next 1, 2 … 64
   * lone requests. Default 50 micros, none on a single core; 0 turns it off.
   */
  readonly replyWait?: Duration.Input | undefined
  /**
   * V8 heap limits per worker thread. Default young generation 24 MB (Node's own allows it to
   * grow to 192 MB): a worker carrying Effect keeps ~15 MB live, so V8 gives its old generation
   * ~24 MB of headroom, and once the young generation may hold more than that V8 starts a full
   * mark-compact every few messages. Measured on the stateful workload, 80 runs: 54–120 full GCs
   * per worker pair at Node's default (and at 32 or 48 MB) against 5–13 at 24 MB; 40–41 → 32–34 ms
   * a run. Set it higher for workers whose live heap is large; fields given here replace the
   * defaults one by one.
   */
  readonly resourceLimits?: {
    readonly maxOldGenerationSizeMb?: number
    readonly maxYoungGenerationSizeMb?: number
  } | undefined
}

/** Options after validation, in the units the runtime uses. */
export interface ResolvedOptions {
  readonly size: number
  readonly backend: "threads" | "inline"
  readonly initTimeoutMillis: number
  readonly exitTimeoutMillis: number
  readonly shutdownTimeoutMillis: number
  readonly interruptGraceMillis: number
  readonly retries: number
  readonly pipelineDepth: number
  readonly replyWaitMillis: number
}

/**
 * A pool serving `group`, as a Layer that provides every task of the group.
 *
 * Fails with `PoolOptionsError` for invalid options and `WorkerInitError` when a worker cannot
 * start (its entry throws, its Layer fails, or it exceeds `initTimeout`).
 */
export const layer = <Tasks extends Any, Actors extends ActorAny = never>(
  group: Group<Tasks, Actors>,
  options: Options
): Layer.Layer<Runner<Tasks["name"] | Actors["name"]>, PoolOptionsError | WorkerInitError> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const resolved = yield* resolveOptions(options)
      const backend = yield* makeBackend(options, resolved)
      const dispatcher = yield* acquireDispatcher(() => new Dispatcher(backend, { ...resolved, timers: realTimers }))
      yield* hostActors(group, dispatcher, realTimers)
      return provideTasks(group, dispatcher)
    })
  )

/** Validates options into the runtime's units, or fails naming the offending option. */
export const resolveOptions = (options: Options): Effect.Effect<ResolvedOptions, PoolOptionsError> =>
  Effect.suspend(() => {
    const checked = Schema.decodeUnknownExit(OptionsSchema)(options)
    if (Exit.isFailure(checked)) return Effect.fail(new PoolOptionsError(issueOf(checked)))
    const backend = options.backend ?? "threads"
    const size = options.size === undefined
      ? (backend === "inline" ? 1 : availableParallelism())
      : options.size === "cores"
      ? availableParallelism()
      : options.size
    const millis = (input: Duration.Input | undefined, fallback: number, path: string) => {
      if (input === undefined) return fallback
      const duration = Duration.fromInput(input)
      if (duration._tag === "None") throw new PoolOptionsError({ path: [path], message: `not a duration: ${String(input)}` })
      return Duration.toMillis(duration.value)
    }
    try {
      const exitTimeoutMillis = millis(options.exitTimeout, 5_000, "exitTimeout")
      const resolved: ResolvedOptions = {
        size,
        backend,
        initTimeoutMillis: millis(options.initTimeout, 30_000, "initTimeout"),
        exitTimeoutMillis,
        shutdownTimeoutMillis: millis(options.shutdownTimeout, exitTimeoutMillis + 1_000, "shutdownTimeout"),
        interruptGraceMillis: millis(options.interruptGrace, 1_000, "interruptGrace"),
        retries: options.retries ?? 0,
        pipelineDepth: options.pipelineDepth ?? 2,
        // Waiting on one core would take the core the worker needs to answer.
        replyWaitMillis: availableParallelism() > 1 ? millis(options.replyWait, 0.05, "replyWait") : 0
      }
      if (backend === "threads" && isWorkerEntry(options.entry)) {
        return Effect.fail(
          new PoolOptionsError({ path: ["entry"], message: "the threads backend needs the entry's module URL or path" })
        )
      }
      return Effect.succeed(resolved)
    } catch (error) {
      return Effect.fail(error as PoolOptionsError)
    }
  })

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

const OptionsSchema = Schema.Struct({
  entry: Schema.Unknown,
  size: Schema.optional(Schema.Union([PositiveInt, Schema.Literal("cores")])),
  backend: Schema.optional(Schema.Literals(["threads", "inline"])),
  initTimeout: Schema.optional(Schema.Unknown),
  exitTimeout: Schema.optional(Schema.Unknown),
  shutdownTimeout: Schema.optional(Schema.Unknown),
  interruptGrace: Schema.optional(Schema.Unknown),
  retries: Schema.optional(NonNegativeInt),
  pipelineDepth: Schema.optional(PositiveInt),
  replyWait: Schema.optional(Schema.Unknown),
  resourceLimits: Schema.optional(Schema.Unknown)
})

const makeBackend = (
  options: Options,
  resolved: ResolvedOptions
): Effect.Effect<Backend, PoolOptionsError | WorkerInitError> => {
  if (resolved.backend === "threads") {
    return Effect.succeed(threadBackend({
      entry: toHref(options.entry as URL | string),
      replyWaitMillis: resolved.replyWaitMillis,
      ...(options.resourceLimits !== undefined ? { resourceLimits: options.resourceLimits } : {})
    }))
  }
  return Effect.map(loadEntry(options.entry), inlineBackend)
}
