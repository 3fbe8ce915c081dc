/**
 * Seeing inside a pool: insights, metrics, a timeline and a live page, each a subscriber of the
 * pool's events (`WorkerPool.observe`'s synchronous listener: no fiber, no queue).
 *
 * Contains `insights` (a report of a pool built with `insights`), `printInsights`; `metrics` and
 * `metricsLayer` (the pool's Effect Metrics), `serveMetrics` (`/metrics` in Prometheus text);
 * `timeline` (a Chrome trace / Perfetto file of a run); `dashboard` and `dashboardLayer` (a live
 * page).
 *
 * Unobserved, a pool makes no events and pays nothing; each observer here pays for what it
 * keeps (README "Observing a pool" has the measured costs).
 */
import type * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { ServeError } from "effect/http/HttpServerError"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { InvalidOptions, PoolError } from "../core/PoolError.ts"
import type { Any, Group, Runner } from "../core/Task.ts"
import { CurrentArena } from "../runtime/memory/Arena.ts"
import { follow, page } from "../runtime/observe/Dashboard.ts"
import * as Insights from "../runtime/observe/Insights.ts"
import { PoolMetrics, poolRegistered } from "../runtime/observe/Metrics.ts"
import { Timeline, type TraceFile, writeTrace } from "../runtime/observe/Timeline.ts"
import { clientOf } from "./internal/pool.ts"

export type { Percentiles } from "../runtime/observe/Histogram.ts"
export type { FailureView, MapView, Snapshot as DashboardSnapshot, WorkerView } from "../runtime/observe/Dashboard.ts"
export type { TraceEvent, TraceFile } from "../runtime/observe/Timeline.ts"
export type { CallsReport, Report as InsightsReport, SlowCall, SlowTask, WorkerInsight } from "../runtime/observe/Insights.ts"

/**
 * The insights of the pool serving `group` so far: per worker (those running and the last 64 that
 * exited; earlier ones are summed in `total`, counted by `earlierWorkers`) and in total, start-up, init,
 * waiting, working and exit time (milliseconds; they add up to each worker's wall time), tasks
 * run, run-time and queue-wait percentiles, outcomes, the 5 slowest tasks with a bounded rendering
 * of their input, the same for actor method calls apart (`calls`: percentiles, outcomes, the 5
 * slowest calls by actor and method, without input), and a warning with its likely cause when workers worked under 80% of the time.
 *
 * **When to use**: to see why a pool is slower than it should be; `insights: true` on the pool
 * prints the same report when the pool closes.
 *
 * **Gotchas**: fails with `PoolError` / `InvalidOptions` (path `insights`) when the pool was built
 * without `insights`: a collector started later would miss the workers' start.
 */
export const insights = <Tasks extends Any, Actors extends { readonly name: string }>(
  group: Group<Tasks, Actors>
): Effect.Effect<Insights.Report, PoolError, Runner<Tasks["name"] | Actors["name"]>> =>
  Effect.flatMap(clientOf(group), (client) => {
    const collector = Insights.attachedTo(client)
    return collector === undefined
      ? Effect.fail(
        new PoolError({
          reason: new InvalidOptions({
            path: ["insights"],
            message: "the pool was built without insights: build it with WorkerPool.layer(group, { insights: true, … })"
          })
        })
      )
      : Effect.sync(() => collector.report())
  })

/** Prints the insights of the pool serving `group` as a table (`Console.log`), on demand. */
export const printInsights = <Tasks extends Any, Actors extends { readonly name: string }>(
  group: Group<Tasks, Actors>
): Effect.Effect<void, PoolError, Runner<Tasks["name"] | Actors["name"]>> =>
  Effect.flatMap(insights(group), (report) => Console.log(Insights.render(report)))

/** A report as the table `printInsights` prints. */
export const renderInsights = (report: Insights.Report): string => Insights.render(report)

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

export interface MetricsOptions {
  /** The `pool` attribute of every series. Default: the group's first task (or actor) name. */
  readonly pool?: string | undefined
  /**
   * How often each worker sends the metrics its handlers recorded in its own registry (threads
   * and processes have one each); they also arrive as a worker shuts down. Default 1 second.
   */
  readonly workerInterval?: Duration.Input | undefined
}

/**
 * Registers the metrics of the pool serving `group` in the current `Metric.MetricRegistry` until
 * the Scope closes: tasks by outcome (per task), run-time and queue-wait histograms, actor method
 * calls the same way (per actor and method), queue depth, tasks in flight, busy workers, each worker thread's event-loop utilization, worker
 * starts and exits, actor restarts, shared-array memory live and idle. Series names and attributes:
 * `src/runtime/observe/Metrics.ts`.
 *
 * **When to use**: to export a pool's numbers with the rest of an application's Effect Metrics —
 * `Metric.snapshot`, `PrometheusMetrics` (see `serveMetrics`), the OTLP exporter.
 *
 * **Details**: the pool's listener keeps plain numbers; each series is registered with
 * `Metric.registerUnsafe` and read when exported, so no Effect runs per event. Run times are
 * measured in the worker (handler timings are asked for while this is subscribed) and reach the
 * caller's registry with each answer. Metrics that handlers record themselves (`Metric.update` in
 * a worker thread or process lands in that worker's own registry) are sent every
 * `workerInterval` and registered here under their own names, with `pool` and `worker`
 * attributes added; a worker's series go when it exits.
 *
 * **Gotchas**: a registry keys a series by name and attributes, so two pools in one registry need
 * two `pool` values (the default, the group's first task or actor name, is the same for two pools
 * of one group): registering a second under a `pool` already registered there fails with
 * `PoolError` / `InvalidOptions` (`["pool"]`) rather than replacing the first's series.
 */
export const metrics = <Tasks extends Any, Actors extends { readonly name: string }>(
  group: Group<Tasks, Actors>,
  options?: MetricsOptions
): Effect.Effect<void, PoolError, Runner<Tasks["name"] | Actors["name"]> | Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* clientOf(group)
    const context = yield* Effect.context<never>()
    const arena = yield* CurrentArena
    const pool = options?.pool ?? [...Object.keys(group.tasks), ...Object.keys(group.actors)][0] ?? "pool"
    const interval = Duration.fromInput(options?.workerInterval ?? "1 second")
    const workerInterval = interval._tag === "Some" ? Duration.toMillis(interval.value) : NaN
    if (!(workerInterval > 0 && Number.isFinite(workerInterval))) {
      return yield* Effect.fail(
        new PoolError({
          reason: new InvalidOptions({
            path: ["workerInterval"],
            message: `workerInterval must be a finite duration above 0, got ${String(options?.workerInterval)}`
          })
        })
      )
    }
    if (poolRegistered(pool, context)) {
      return yield* Effect.fail(
        new PoolError({
          reason: new InvalidOptions({
            path: ["pool"],
            message: `another pool's metrics are registered as pool "${pool}" in this registry (the second would replace the first's series): give each pool its own \`pool\``
          })
        })
      )
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const collector = new PoolMetrics(pool, {
          size: client.size,
          stats: () => client.stats(),
          eventLoops: client.eventLoops === undefined ? undefined : () => client.eventLoops!(),
          arena: () => arena.stats()
        }, context)
        const unsubscribe = client.events.subscribe({
          onEvent: collector.onEvent,
          onSettled: collector.onSettled,
          onDispatched: collector.onDispatched,
          timings: true
        })
        const unwatch = client.watchWorkerMetrics?.(workerInterval, collector.onWorkerMetrics)
        return () => {
          unwatch?.()
          unsubscribe()
          collector.close()
        }
      }),
      (close) => Effect.sync(close)
    )
  })

/** `metrics` as a Layer: the pool's metrics are registered while the Layer lives. */
export const metricsLayer = <Tasks extends Any, Actors extends { readonly name: string }>(
  group: Group<Tasks, Actors>,
  options?: MetricsOptions
): Layer.Layer<never, PoolError, Runner<Tasks["name"] | Actors["name"]>> => Layer.effectDiscard(metrics(group, options))

export interface ServeOptions {
  /** 0 picks a free port. */
  readonly port: number
  /** Default 127.0.0.1: loopback only. */
  readonly host?: string | undefined
}

/**
 * Serves every metric of the current `Metric.MetricRegistry` (a pool's, once `metrics` or
 * `metricsLayer` registered them) at `path` (default `/metrics`) in Prometheus text, through
 * Effect's `PrometheusMetrics`, until the Scope closes. Returns the server's URL
 * (`http://host:port`, without `path`: scrape `${url}/metrics`).
 *
 * **Gotchas**: needs `@effect/platform-node` (an optional peer dependency), loaded only here.
 */
export const serveMetrics = (
  options: ServeOptions & { readonly path?: `/${string}` | undefined }
): Effect.Effect<string, ServeError, Scope.Scope> =>
  Effect.flatMap(httpServe, (http) => http.serve(http.metricsRoutes(options.path ?? "/metrics"), options))

/**
 * The HTTP module, loaded on first use (routes included: effect/http weighs on every worker thread
 * that imports the package's root for its task definitions); a missing optional peer dependency
 * says so.
 */
const httpServe = Effect.orDie(Effect.tryPromise({
  try: () => import("../runtime/observe/HttpServe.ts"),
  catch: (error) =>
    new Error(`serving a pool's pages needs @effect/platform-node (npm install @effect/platform-node): ${String(error)}`)
}))

// ---------------------------------------------------------------------------------------------
// Timeline
// ---------------------------------------------------------------------------------------------

export interface TimelineOptions {
  /** Events kept (the latest; at most 2^32 - 1, an array's length); older ones are dropped and counted. Default 1,000,000. */
  readonly maxEvents?: number | undefined
  /** Where to write the trace when the scope closes; omit to write only on demand. */
  readonly path?: string | undefined
}

/** A recording of a pool's run. */
export interface TimelineRecorder {
  /** The Chrome trace of what was recorded so far. */
  readonly trace: () => TraceFile
  /** Events dropped so far because the ring was full. */
  readonly dropped: () => number
  /** Writes the trace as JSON to `path`; returns how many events it holds and how many were dropped. */
  readonly write: (path: string) => Effect.Effect<{ readonly events: number; readonly dropped: number }, Cause.UnknownError>
}

/**
 * Records the run of the pool serving `group` until the Scope closes, as a Chrome trace / Perfetto
 * JSON file: a track for the caller and one per worker, a slice per task run (task name, id,
 * attempt, outcome, queue wait in its args), flow arrows from submit to run, counters of tasks
 * queued and in flight, worker start-up, init and exit, a slice per actor method run on its
 * worker's track (runs that overlap there go on further tracks of that worker); microsecond
 * timestamps on one clock across threads. Open the file in https://ui.perfetto.dev or `chrome://tracing`.
 *
 * **Details**: the pool's events go to a ring buffer of `maxEvents`; when it is full the oldest
 * are dropped, and the trace says how many (`otherData.droppedEvents` and an instant event at its
 * start). With `path`, the trace is written there when the scope closes (a failure to write it is
 * logged as a warning: closing the scope does not fail).
 */
export const timeline = <Tasks extends Any, Actors extends { readonly name: string }>(
  group: Group<Tasks, Actors>,
  options?: TimelineOptions
): Effect.Effect<TimelineRecorder, PoolError, Runner<Tasks["name"] | Actors["name"]> | Scope.Scope> =>
  Effect.gen(function*() {
    const maxEvents = options?.maxEvents ?? 1_000_000
    if (!Number.isInteger(maxEvents) || maxEvents < 1 || maxEvents > 2 ** 32 - 1) {
      return yield* Effect.fail(
        new PoolError({
          reason: new InvalidOptions({ path: ["maxEvents"], message: `a positive integer below 2^32, got ${maxEvents}` })
        })
      )
    }
    const client = yield* clientOf(group)
    const recording = new Timeline(maxEvents)
    const write = (path: string) =>
      // Synchronous: a one-off at the end of a run, and simulations cannot wait on the disk.
      Effect.try(() => {
        const trace = recording.trace()
        writeTrace(path, trace)
        return { events: trace.traceEvents.length, dropped: recording.dropped }
      })
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        client.events.subscribe({ onEvent: recording.onEvent, onCancelledRun: recording.onCancelledRun, timings: true })
      ),
      (unsubscribe) =>
        Effect.andThen(
          Effect.sync(unsubscribe),
          // The file was asked for: a failure to write it is said, not swallowed.
          options?.path === undefined ? Effect.void : Effect.catchCause(
            Effect.asVoid(write(options.path)),
            (cause) => Effect.logWarning(`effect-parallel timeline: could not write ${options.path}`, cause)
          )
        )
    )
    return { trace: () => recording.trace(), dropped: () => recording.dropped, write }
  })

// ---------------------------------------------------------------------------------------------
// Dashboard
// ---------------------------------------------------------------------------------------------

export interface DashboardOptions extends ServeOptions {
  /** The page's title. Default: the group's first task (or actor) name. */
  readonly title?: string | undefined
  /**
   * Also serve the current `Metric.MetricRegistry` at `/metrics` in Prometheus text on the same
   * server (as `serveMetrics` does on its own), e.g. with `Observe.metrics` active. Default false.
   */
  readonly metrics?: boolean | undefined
}

/**
 * Serves a live page of the pool serving `group` on loopback until the Scope closes, and returns
 * its URL: workers and their state (starting, idle, busy with which task, stopping, dead, and
 * replacements), queue depth, tasks in flight, throughput over the last two minutes, progress of
 * running maps, insights ratios, the slowest tasks and actor method calls (one table, each row
 * labelled by its kind) and the last failures with their worker and input. The page polls `state` (JSON, the same data) every 500 ms.
 *
 * **Details**: per-worker time ratios and the slowest tasks and calls come from the pool's insights when it
 * was built with `insights`; otherwise from a collector started with the page (ratios then count
 * from the page's start). Built with `effect/http`'s router on a Node server; with `metrics: true`
 * it serves `/metrics` too, one port for both.
 *
 * **Gotchas**: needs `@effect/platform-node` (an optional peer dependency), loaded only here.
 */
export const dashboard = <Tasks extends Any, Actors extends { readonly name: string }>(
  group: Group<Tasks, Actors>,
  options: DashboardOptions
): Effect.Effect<string, ServeError, Runner<Tasks["name"] | Actors["name"]> | Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* clientOf(group)
    const { state } = yield* Effect.acquireRelease(
      Effect.sync(() => follow(client, Insights.attachedTo(client))),
      (followed) => Effect.sync(followed.close)
    )
    const html = page(options.title ?? [...Object.keys(group.tasks), ...Object.keys(group.actors)][0] ?? "pool")
    const http = yield* httpServe
    return yield* http.serve(http.dashboardRoutes(html, () => state.snapshot(), options.metrics === true), options)
  })

/** `dashboard` as a Layer: the page is served while the Layer lives; its URL is logged. */
export const dashboardLayer = <Tasks extends Any, Actors extends { readonly name: string }>(
  group: Group<Tasks, Actors>,
  options: DashboardOptions
): Layer.Layer<never, ServeError, Runner<Tasks["name"] | Actors["name"]>> =>
  Layer.effectDiscard(Effect.flatMap(dashboard(group, options), (url) => Effect.logInfo(`effect-parallel dashboard: ${url}`)))
