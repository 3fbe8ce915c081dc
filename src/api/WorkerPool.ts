/**
 * Pools of workers serving a task group, owned by a Layer.
 *
 * Contains `layer` (validated options → a scoped pool that provides every task of the group),
 * the `Options` model, the pool's event stream and stats (`events`, `stats`), and `liveThreads`
 * for checking that nothing outlived a pool.
 *
 * ```ts
 * const ImagePool = WorkerPool.layer(ImageTasks, { entry: new URL("./image-worker.ts", import.meta.url) })
 * program.pipe(Effect.provide(ImagePool))                                  // worker threads
 * program.pipe(Effect.provide(ImagePool), Effect.provide(InlineBackend.layer))  // the caller's thread
 * ```
 *
 * Building the layer starts the workers and waits until every one has built its per-worker Layer;
 * closing its scope shuts them down gracefully (exit hooks run) and terminates stragglers. The
 * workers come from the `WorkerBackend` in context: threads (`ThreadBackend.layer`) unless another
 * backend's Layer is provided.
 */
import * as Console from "effect/Console"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { existsSync } from "node:fs"
import { availableParallelism, cpus as machineCpus } from "node:os"
import { basename } from "node:path"
import { fileURLToPath } from "node:url"
import type { PoolEvent, PoolStats } from "../core/PoolEvent.ts"
import { InvalidOptions, PoolError, Unsupported } from "../core/PoolError.ts"
import type { Any, Group, Runner } from "../core/Task.ts"
import { isWorkerEntry, type WorkerEntry } from "../core/Worker.ts"
import { type Backend, WorkerBackend } from "../runtime/backends/Backend.ts"
import { toHref } from "../runtime/backends/entry.ts"
import { backend as threadBackend, liveThreads } from "../runtime/backends/ThreadBackend.ts"
import { durationMillis } from "../runtime/internal/duration.ts"
import { duplicateEffect } from "../runtime/internal/effectCopy.ts"
import { containsShared } from "../runtime/memory/Arena.ts"
import { EventHub } from "../runtime/observe/EventHub.ts"
import * as Insights from "../runtime/observe/Insights.ts"
import { issueOf } from "../runtime/protocol/codec.ts"
import { Dispatcher } from "../runtime/scheduler/Dispatcher.ts"
import { acquireDispatcher, clientOf, hostActors, provideTasks } from "./internal/pool.ts"

export { liveThreads }
export type { DispatchedTask, PoolEvent, PoolStats, WorkerExitKind } from "../core/PoolEvent.ts"

export interface Options {
  /**
   * The worker entry: a module URL or path (`export default Worker.serve(…)`), or, for backends
   * that run workers in this thread (inline, simulated), the entry itself. A relative path is
   * resolved from the current directory, not from the calling module: prefer
   * `new URL("./worker.ts", import.meta.url)`.
   */
  readonly entry: URL | string | WorkerEntry
  /** Workers. Default: the backend's (available parallelism for threads, 1 inline, 2 simulated). A simulated pool refuses `"cores"`. */
  readonly size?: number | "cores" | undefined
  /** How long a worker may take to load its entry and build its Layer. Default 30 s. */
  readonly initTimeout?: Duration.Input | undefined
  /** How long exit hooks (the per-worker Layer's finalizers) may run at shutdown. Default 5 s. */
  readonly exitTimeout?: Duration.Input | undefined
  /** How long a worker may take to exit after shutdown is asked before it is terminated. Default exitTimeout + 1 s. */
  readonly shutdownTimeout?: Duration.Input | undefined
  /** How long an interrupted or timed-out handler may take to stop before its worker is terminated. Default 1 s. */
  readonly interruptGrace?: Duration.Input | undefined
  /** Times a task is re-sent after its worker died running it. Default 0: at most once. */
  readonly retries?: number | undefined
  /** Unanswered messages per worker; more keeps workers busy, fewer balances long tasks. Default 2. */
  readonly pipelineDepth?: number | undefined
  /**
   * Tasks that may wait in the queue for a worker. A call that does not fit waits for room
   * (`whenFull: "wait"`, the default: a large `map` streams in as room frees) or fails at once with
   * `TaskError` reason `PoolSaturated` (`"fail"`: load shedding). Default: unbounded.
   */
  readonly maxQueued?: number | undefined
  /** What a call does when the queue is full; a call may say otherwise. Default `"wait"`. */
  readonly whenFull?: "wait" | "fail" | undefined
  /**
   * How long the caller's thread waits for the reply to a lone request (one task, or one actor
   * call, and nothing else in flight) before going back to its event loop; threads only. A reply
   * within it is taken at once instead of waking a sleeping thread: a round trip then costs a half
   * to two thirds as much. Waits that go unanswered (long tasks) are skipped for the next 1, 2 … 64
   * lone requests. Default 50 micros, none on a single core; 0 turns it off. Must be finite.
   */
  readonly replyWait?: Duration.Input | undefined
  /**
   * V8 heap limits per worker thread. Default young generation 16 MB (Node's own allows it to
   * grow to 192 MB; a child process gets it in whole semi-spaces of a third, so 15 MB, and 20
   * becomes 21): a worker carrying Effect keeps ~20 MB live, so V8 leaves its old generation
   * ~15–25 MB of headroom after a full GC, and while the young generation may hold more than that
   * V8 starts a full mark-compact every few messages. Measured (README, "Stateful"): at Node's
   * default the radix counter runs 15–25% slower; at 16 MB the Map counter is 0.4–2.4% behind
   * Node's default and the radix counter at its best; a worker allocating fresh typed arrays
   * (the pipeline bench's worker-to-worker lanes) runs 1.6–1.8× faster at 12 MB than at 16 or more.
   * Set it to 0 (V8's own) for workers whose live heap grows to hundreds of MB of small objects,
   * or to 12 for workers that make many short-lived typed arrays; fields given here replace the
   * defaults one by one. `maxOldGenerationSizeMb` must be an integer of at least 4 (V8 aborts the
   * whole process below 3), `maxYoungGenerationSizeMb` one of at least 0 (0 keeps V8's own default).
   *
   * **Gotchas**: checked on every backend (a wrong value is `PoolError` / `InvalidOptions` on each),
   * but applied only by those with `heapLimits` (threads; processes as V8 flags). Inline and
   * simulated workers share the caller's heap and ignore it, so that a pool can be moved to them
   * for debugging unchanged; unlike `recycleAboveHeapMb`, which they refuse (`Unsupported`).
   */
  readonly resourceLimits?: {
    readonly maxOldGenerationSizeMb?: number | undefined
    readonly maxYoungGenerationSizeMb?: number | undefined
  } | undefined
  /**
   * Pins each worker, and every native thread it starts, to CPUs, like MPIRE's `cpu_ids`:
   * `"spread"` puts worker i on the i-th CPU this process may use (round robin); a list gives
   * one entry per worker (a CPU, or a set of CPUs), or a single entry for all of them. A worker
   * that replaces another takes its CPUs.
   *
   * **When to use**: workers that start native threads of their own (an inference runtime's
   * intra-op threads): pinned, they stop competing with each other's threads for the same cores.
   *
   * **Gotchas**: only the processes backend on Linux (with `taskset`) can; elsewhere the pool fails
   * with `PoolError` reason `Unsupported` (capability `pinsCpus`) rather than run unpinned.
   */
  readonly cpus?: "spread" | ReadonlyArray<number | ReadonlyArray<number>> | undefined
  /**
   * Runs each worker at this nice value (0–19: the higher, the sooner it gives way), set inside the
   * worker before its entry loads, so the threads it starts (an inference runtime's) inherit it.
   * The caller's thread keeps its own priority. Default: the caller's.
   *
   * **When to use**: workers that compute while the caller's event loop must stay responsive on
   * the same cores — a model server (`Serve`), whose event loop accepts, reads and answers
   * requests while its replicas run: the kernel then runs the event loop as soon as it has work,
   * and the workers take every cycle it leaves. It costs the workers nothing while the cores
   * have room (see README "Serving: dynamic batching" for measurements).
   *
   * **Gotchas**: Linux only (threads and processes backends: a nice value there belongs to a
   * thread); elsewhere the pool fails with `PoolError` reason `Unsupported` (capability
   * `lowersPriority`). It also yields to every other process of this user on the machine.
   */
  readonly nice?: number | undefined
  /**
   * Recycles a worker after it was sent this many tasks (MPIRE's `worker_lifespan`, Python's
   * `maxtasksperchild`): it takes no more, a replacement starts at once, and once it has answered
   * every task it holds it shuts down gracefully — its exit hooks run — and is reported
   * `WorkerExited` / `Recycled`. No task is lost or run twice. Default: never.
   *
   * **Gotchas**: a worker that hosts actors is not recycled while they live (their state is
   * there); it is recycled before its next task once they are gone. Each recycling costs a worker
   * start (≈ 0.3 s of CPU for a thread that loads Effect): quotas of a few tasks cost more than the tasks.
   */
  readonly maxTasksPerWorker?: number | undefined
  /**
   * Recycles a worker (as `maxTasksPerWorker` does) when its used V8 heap is above this many MB
   * after it answered tasks: for handlers or libraries that leak. Backends with `heapLimits` only
   * (threads); `PoolError` / `Unsupported` elsewhere. The heap is read once per message of answers
   * (≈ 1 µs), never when this is unset.
   *
   * **Gotchas**: the used heap includes garbage not yet collected (up to the young generation's
   * size, 16 MB by default): set it well above what a worker keeps live. A worker past
   * `resourceLimits.maxOldGenerationSizeMb` is not recycled but lost (`WorkerLost` / `OutOfMemory`).
   */
  readonly recycleAboveHeapMb?: number | undefined
  /**
   * Collect insights from the pool's first worker on: how each worker spent its time (start-up,
   * init, waiting, working, exit), run-time and queue-wait percentiles, the slowest tasks with
   * their input. `true` also prints them as a table (`Console.log`) when the pool closes;
   * `{ print: false }` only collects (`Observe.insights` reads them). Costs handler timings on
   * every answer (see README "Observing a pool"). Default off.
   */
  readonly insights?: boolean | { readonly print?: boolean | undefined } | undefined
}

/** Options after validation, in the units the runtime uses. */
export interface ResolvedOptions {
  readonly size: number
  readonly initTimeoutMillis: number
  readonly exitTimeoutMillis: number
  readonly shutdownTimeoutMillis: number
  readonly interruptGraceMillis: number
  readonly retries: number
  readonly pipelineDepth: number
  readonly maxQueued: number
  readonly whenFull: "wait" | "fail"
  readonly replyWaitMillis: number
  readonly resourceLimits: Options["resourceLimits"]
  /** A set of CPUs per worker slot, or `"spread"` for the backend to lay out. */
  readonly cpus: "spread" | ReadonlyArray<ReadonlyArray<number>> | undefined
  readonly maxTasksPerWorker: number
  readonly recycleAboveHeapMb: number | undefined
  readonly nice: number | undefined
}

/**
 * A pool serving `group`, as a Layer that provides every task and actor of the group, on the
 * `WorkerBackend` in context (threads when there is none).
 *
 * Fails with `PoolError`: `InvalidOptions` naming the offending option (an entry file that does
 * not exist among them), `Unsupported` when the backend lacks what the group needs (shared memory
 * for tasks that declare shared arrays),
 * `DuplicateEffect` when the group's Schemas or the entry module use another copy of `effect` than
 * effect-parallel (the two paths named), and `WorkerInitFailed` when a worker cannot start (its
 * entry throws, its Layer fails, or it exceeds `initTimeout`).
 */
export const layer = <Tasks extends Any, Actors extends { readonly name: string } = never>(
  group: Group<Tasks, Actors>,
  options: Options
): Layer.Layer<Runner<Tasks["name"] | Actors["name"]>, PoolError> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const backend = yield* currentBackend
      const resolved = yield* resolveOptions(options, backend)
      yield* checkCapabilities(group, backend)
      yield* checkEntryExists(options.entry)
      yield* checkOneEffect(group as Group<Any, unknown>, options.entry)
      const events = new EventHub(backend.timers.now)
      // Subscribed before the first worker starts, printed after the last one exited.
      const insights = options.insights === undefined || options.insights === false
        ? undefined
        : yield* collectInsights(events, backend, options.insights === true || options.insights.print !== false)
      const spawner = yield* backend.make({
        entry: options.entry,
        group: group as Group<Any, unknown>,
        size: resolved.size,
        pipelineDepth: resolved.pipelineDepth,
        retries: resolved.retries,
        replyWaitMillis: resolved.replyWaitMillis,
        resourceLimits: resolved.resourceLimits,
        cpus: resolved.cpus,
        recycleAboveHeapMb: resolved.recycleAboveHeapMb,
        nice: resolved.nice,
        events
      })
      const dispatcher = yield* acquireDispatcher(() =>
        new Dispatcher(spawner, backend.timers, {
          ...resolved,
          workersOwnMetrics: backend.capabilities.isolatesCrashes,
          serves: [...Object.keys(group.tasks), ...Object.keys(group.actors)],
          entry: entryName(options.entry)
        }, events)
      )
      if (insights !== undefined) Insights.attach(dispatcher, insights)
      yield* hostActors(group as Group<Any, unknown>, dispatcher, backend.timers)
      return provideTasks(group, dispatcher)
    })
  )

/**
 * What the pool serving `group` does, as it happens: workers starting, ready and exiting, tasks
 * submitted, dispatched, re-queued and settled, actors spawned, called, restarted and stopped
 * (`PoolEvent`). Subscribes when this Effect runs and until its Scope closes: the stream holds
 * every event from that moment, however late it is consumed. Unobserved, a pool makes no events.
 *
 * ```ts
 * const events = yield* WorkerPool.events(ImageTasks)
 * yield* events.pipe(Stream.filter((e) => e._tag === "WorkerExited"), Stream.runForEach(Console.log), Effect.forkScoped)
 * ```
 *
 * **Details**: `timings: true` asks workers to report when each handler started and ended
 * (`Settled.startedAt`/`endedAt`), at the cost of two numbers per answer.
 *
 * **Gotchas**: events are buffered without bound until consumed: consume them promptly, or
 * subscribe only while you need them.
 */
export const events = <Tasks extends Any, Actors extends { readonly name: string }>(
  group: Group<Tasks, Actors>,
  options?: { readonly timings?: boolean | undefined }
): Effect.Effect<Stream.Stream<PoolEvent>, never, Runner<Tasks["name"] | Actors["name"]> | Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* clientOf(group)
    const queue = yield* Queue.unbounded<PoolEvent>()
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        client.events.subscribe({
          onEvent: (event) => void Queue.offerUnsafe(queue, event),
          timings: options?.timings === true
        })
      ),
      (unsubscribe) => Effect.andThen(Effect.sync(unsubscribe), Queue.shutdown(queue))
    )
    return Stream.fromQueue(queue)
  })

/**
 * Calls `listener` with each event of the pool serving `group`, as it happens, until the Scope
 * closes — the same events as `events`, without a stream between.
 *
 * **When to use**: for observers that must cost next to nothing — counters, metrics, histograms.
 * A stream's consumer is a fiber that wakes for every burst of events; a listener is a function
 * call.
 *
 * **Gotchas**: the listener runs on the pool's own path, synchronously, inside the scheduler:
 * keep it short, never block, and do not call the pool from it. One that throws is removed.
 */
export const observe = <Tasks extends Any, Actors extends { readonly name: string }>(
  group: Group<Tasks, Actors>,
  listener: (event: PoolEvent) => void,
  options?: { readonly timings?: boolean | undefined }
): Effect.Effect<void, never, Runner<Tasks["name"] | Actors["name"]> | Scope.Scope> =>
  Effect.flatMap(clientOf(group), (client) =>
    Effect.asVoid(Effect.acquireRelease(
      Effect.sync(() => client.events.subscribe({ onEvent: listener, timings: options?.timings === true })),
      (unsubscribe) => Effect.sync(unsubscribe)
    )))

/** What the pool serving `group` holds right now: workers, queued and in-flight tasks, totals. */
export const stats = <Tasks extends Any, Actors extends { readonly name: string }>(
  group: Group<Tasks, Actors>
): Effect.Effect<PoolStats, never, Runner<Tasks["name"] | Actors["name"]>> =>
  Effect.map(clientOf(group), (client) => client.stats())

/** Validates options into the runtime's units, or fails naming the offending option. */
export const resolveOptions = (options: Options, backend: Backend): Effect.Effect<ResolvedOptions, PoolError> =>
  Effect.suspend(() => {
    const checked = Schema.decodeUnknownExit(OptionsSchema, { onExcessProperty: "error" })(options)
    if (Exit.isFailure(checked)) return Effect.fail(new PoolError({ reason: new InvalidOptions(issueOf(checked)) }))
    if (options.size === "cores" && backend.needsFixedSize !== undefined) {
      return Effect.fail(new PoolError({ reason: new InvalidOptions({ path: ["size"], message: backend.needsFixedSize }) }))
    }
    if (options.recycleAboveHeapMb !== undefined && !backend.capabilities.heapLimits) {
      return Effect.fail(
        new PoolError({
          reason: new Unsupported({
            capability: "heapLimits",
            message: `recycleAboveHeapMb needs workers with heaps of their own, and the ${backend.name} backend's share the caller's`
          })
        })
      )
    }
    if (options.nice !== undefined && !backend.capabilities.lowersPriority) {
      return Effect.fail(
        new PoolError({
          reason: new Unsupported({
            capability: "lowersPriority",
            message: `nice needs workers whose priority can be lowered apart from the caller's (threads or processes on Linux); the ${backend.name} backend on ${process.platform} cannot`
          })
        })
      )
    }
    const size = options.size === undefined
      ? backend.defaultSize()
      : options.size === "cores"
      ? availableParallelism()
      : options.size
    const millis = (input: Duration.Input | undefined, fallback: number, path: string, finite = false) => {
      if (input === undefined) return fallback
      const value = durationMillis(input)
      if (!(value >= 0) || (finite && value === Infinity)) {
        throw new PoolError({
          reason: new InvalidOptions({ path: [path], message: `not a ${finite ? "finite " : ""}duration: ${String(input)}` })
        })
      }
      return value
    }
    try {
      const exitTimeoutMillis = millis(options.exitTimeout, 5_000, "exitTimeout")
      // Checked on one core too. Finite: the thread spins for the reply, deaf to timers and to
      // its worker's exit, until it comes.
      const replyWaitMillis = millis(options.replyWait, 0.05, "replyWait", true)
      return Effect.succeed({
        size,
        initTimeoutMillis: millis(options.initTimeout, 30_000, "initTimeout"),
        exitTimeoutMillis,
        shutdownTimeoutMillis: millis(options.shutdownTimeout, exitTimeoutMillis + 1_000, "shutdownTimeout"),
        interruptGraceMillis: millis(options.interruptGrace, 1_000, "interruptGrace"),
        retries: options.retries ?? 0,
        pipelineDepth: options.pipelineDepth ?? 2,
        maxQueued: options.maxQueued ?? Infinity,
        whenFull: options.whenFull ?? "wait",
        // Waiting on one core would take the core the worker needs to answer.
        replyWaitMillis: availableParallelism() > 1 ? replyWaitMillis : 0,
        resourceLimits: options.resourceLimits,
        cpus: resolveCpus(options.cpus, size, backend),
        maxTasksPerWorker: options.maxTasksPerWorker ?? Infinity,
        recycleAboveHeapMb: options.recycleAboveHeapMb,
        nice: options.nice
      })
    } catch (error) {
      return Effect.fail(error as PoolError)
    }
  })

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

/** `cpus` as one set per worker slot; throws a `PoolError` for a backend that cannot pin, or a list that does not fit. */
const resolveCpus = (cpus: Options["cpus"], size: number, backend: Backend): ResolvedOptions["cpus"] => {
  if (cpus === undefined) return undefined
  if (!backend.capabilities.pinsCpus) {
    throw new PoolError({
      reason: new Unsupported({
        capability: "pinsCpus",
        message: `the ${backend.name} backend cannot pin workers to CPUs on ${process.platform} (cpus: processes backend on Linux, with taskset)`
      })
    })
  }
  if (cpus === "spread") return cpus
  const invalid = (path: ReadonlyArray<string | number>, message: string) =>
    new PoolError({ reason: new InvalidOptions({ path: ["cpus", ...path], message }) })
  if (cpus.length !== 1 && cpus.length !== size) {
    throw invalid([], `one entry per worker (${size}), or one for all of them; got ${cpus.length}`)
  }
  const count = machineCpus().length
  const sets = cpus.map((entry, i) => {
    const set = typeof entry === "number" ? [entry] : entry
    const bad = set.findIndex((cpu) => cpu >= count)
    if (bad >= 0) throw invalid(typeof entry === "number" ? [i] : [i, bad], `this machine has CPUs 0 to ${count - 1}`)
    return set
  })
  return Array.from({ length: size }, (_, i) => sets[cpus.length === 1 ? 0 : i]!)
}
const collectInsights = (events: EventHub, backend: Backend, print: boolean): Effect.Effect<Insights.Insights, never, Scope.Scope> =>
  Effect.gen(function*() {
    const insights = new Insights.Insights(backend.timers.now)
    events.subscribe({
      onEvent: insights.onEvent,
      onSettled: insights.onSettled,
      onDispatched: insights.onDispatched,
      onCancelledRun: insights.onCancelledRun,
      timings: true
    })
    if (print) {
      const console = yield* Console.Console
      yield* Effect.addFinalizer(() => Effect.sync(() => console.log(Insights.render(insights.report()))))
    }
    return insights
  })

/** The backend in context, or threads. */
const currentBackend: Effect.Effect<Backend> = Effect.map(
  Effect.serviceOption(WorkerBackend),
  (backend) => Option.getOrElse(backend, () => threadBackend)
)

/** A backend that lacks what the group needs fails here, when the pool is built, not at its first call. */
const checkCapabilities = (group: Group<Any, unknown>, backend: Backend): Effect.Effect<void, PoolError> => {
  if (backend.capabilities.sharesMemory) return Effect.void
  const actors = Object.values(group.actors) as ReadonlyArray<{ readonly init: Any; readonly methods: Record<string, Any> }>
  const tasks = [...Object.values(group.tasks), ...actors.flatMap((actor) => [actor.init, ...Object.values(actor.methods)])]
  const shared = tasks.find((task) => containsShared(task.payload) || containsShared(task.success))
  return shared === undefined ? Effect.void : Effect.fail(
    new PoolError({
      reason: new Unsupported({
        capability: "sharesMemory",
        message: `task ${shared.name} carries shared memory (a shared array or a channel), and the ${backend.name} backend cannot share memory with its workers`
      })
    })
  )
}

/**
 * An entry file that is not there fails here, as the option it is: a worker that tried to load it
 * failed with Node's "Cannot find module … imported from …/hostEntry.ts" and the loader's stack,
 * which blamed the library's file, not the option.
 */
const checkEntryExists = (entry: Options["entry"]): Effect.Effect<void, PoolError> =>
  Effect.suspend(() => {
    if (isWorkerEntry(entry)) return Effect.void
    const href = toHref(entry)
    if (!href.startsWith("file:")) return Effect.void
    const path = fileURLToPath(href)
    if (existsSync(path)) return Effect.void
    // A program compiled with tsc keeps `new URL("./worker.ts", import.meta.url)` as written (it
    // rewrites import specifiers, not URLs): the emitted file sits where the source was named.
    const compiled = /\.[mc]?ts$/.test(path) ? path.replace(/ts$/, "js") : undefined
    const resolved = typeof entry === "string" && !entry.startsWith("file:")
      ? `a path is resolved against the working directory (${process.cwd()}); `
      : ""
    const message = compiled !== undefined && existsSync(compiled)
      ? `the worker entry ${path} does not exist, but ${compiled} does: a compiled program names the emitted file, ` +
        `new URL("./${basename(compiled)}", import.meta.url)`
      : `the worker entry ${path} does not exist: ${resolved}for a file next to the module that makes the pool, ` +
        `write new URL("./worker.ts", import.meta.url)`
    return Effect.fail(new PoolError({ reason: new InvalidOptions({ path: ["entry"], message }) }))
  })

/** The entry as errors name it: its file, or its module URL when it is none (`data:`); none for an entry value. */
const entryName = (entry: Options["entry"]): string | undefined => {
  if (isWorkerEntry(entry)) return undefined
  const href = toHref(entry)
  return href.startsWith("file:") ? fileURLToPath(href) : href
}

/**
 * Definitions made with another copy of `effect`, or an entry module that resolves one, fail here,
 * before any worker starts (each thread checks again once it has loaded the entry).
 */
const checkOneEffect = (group: Group<Any, unknown>, entry: Options["entry"]): Effect.Effect<void, PoolError> =>
  Effect.suspend(() => {
    const duplicate = duplicateEffect(group, isWorkerEntry(entry) ? undefined : toHref(entry))
    return duplicate === undefined ? Effect.void : Effect.fail(new PoolError({ reason: duplicate }))
  })

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

const OptionsSchema = Schema.Struct({
  entry: Schema.declare((u): u is Options["entry"] => u instanceof URL || typeof u === "string" || isWorkerEntry(u), {
    expected: "a module URL or path, or a Worker.serve entry"
  }),
  size: Schema.optional(Schema.Union([PositiveInt, Schema.Literal("cores")])),
  initTimeout: Schema.optional(Schema.Unknown),
  exitTimeout: Schema.optional(Schema.Unknown),
  shutdownTimeout: Schema.optional(Schema.Unknown),
  interruptGrace: Schema.optional(Schema.Unknown),
  retries: Schema.optional(NonNegativeInt),
  pipelineDepth: Schema.optional(PositiveInt),
  maxQueued: Schema.optional(Schema.Number.check(Schema.makeFilter((n) =>
    (Number.isInteger(n) && n >= 1) || n === Infinity ? undefined : "a positive integer, or Infinity for no bound"
  ))),
  whenFull: Schema.optional(Schema.Literals(["wait", "fail"])),
  replyWait: Schema.optional(Schema.Unknown),
  cpus: Schema.optional(Schema.Union([
    Schema.Literal("spread"),
    Schema.Array(Schema.Union([NonNegativeInt, Schema.NonEmptyArray(NonNegativeInt)]))
  ])),
  maxTasksPerWorker: Schema.optional(PositiveInt),
  recycleAboveHeapMb: Schema.optional(PositiveInt),
  nice: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 19 }))),
  insights: Schema.optional(Schema.Union([Schema.Boolean, Schema.Struct({ print: Schema.optional(Schema.Boolean) })])),
  resourceLimits: Schema.optional(Schema.Struct({
    // V8 aborts the whole process for an old generation under 3 MB.
    maxOldGenerationSizeMb: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 4, maximum: 1_048_576 }))),
    // 0 keeps V8's own default (Node passes only positive limits on to V8).
    maxYoungGenerationSizeMb: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65_536 })))
  }))
})
