/**
 * A pool's metrics as Effect Metrics: a subscriber of the pool's events that keeps plain numbers
 * on the hot path and registers each series with `Metric.registerUnsafe`, so that the registry
 * (and `Metric.snapshot`, `PrometheusMetrics`, the OTLP exporter) reads them when it exports —
 * no Effect runs per event.
 *
 * Series (attributes in braces; `pool` on all):
 * - `effect_parallel_tasks_total` {task, outcome}: tasks settled. No `worker`: a counter series
 *   lives as long as the pool (removing one would take its tasks out of every sum), and each
 *   recycled or replaced worker would add its own for good; per-worker counts are in insights.
 * - `effect_parallel_task_run_seconds` {task}, `effect_parallel_task_queue_wait_seconds` {task}:
 *   histograms of handler run time (measured in the worker) and of submission → handler start.
 * - `effect_parallel_actor_calls_total` {actor, method, outcome}: actor method calls answered (a
 *   call its caller cancelled is answered to no one, and not counted, as a cancelled task);
 *   `effect_parallel_actor_call_run_seconds` {actor, method} and
 *   `effect_parallel_actor_call_queue_wait_seconds` {actor, method}: the method's run time, and
 *   call → method start (waiting for the actor to be built and for its earlier calls). A name the
 *   pool's definitions do not declare (a worker's ask can name any) counts under `<unknown>`.
 * - `effect_parallel_queue_depth`, `effect_parallel_tasks_in_flight`, `effect_parallel_busy_workers`,
 *   `effect_parallel_workers`: gauges read from the pool when exported.
 * - `effect_parallel_worker_event_loop_utilization` {worker}: each worker thread's event-loop
 *   utilization (0–1) since the previous export, read from the thread (backends that can); a
 *   worker's series goes when it exits.
 * - `effect_parallel_worker_starts_total`, `effect_parallel_worker_restarts_total` (replacements
 *   of dead workers), `effect_parallel_worker_exits_total` {exit}, `effect_parallel_actor_restarts_total`.
 * - `effect_parallel_shared_memory_bytes` {state: live | idle}: the caller's shared-array arena.
 */
import * as Metric from "effect/Metric"
import * as Context from "effect/Context"
import { type OnSettled, type OutcomeName, type PoolEvent, type PoolStats, settledTo } from "../../core/PoolEvent.ts"
import type { ArenaStats } from "../memory/Arena.ts"
import type { WireMetric } from "../protocol/metricsWire.ts"
import { exportBoundaries, Histogram } from "./Histogram.ts"
import { Submissions } from "./Submissions.ts"

/** What a worker thread's event loop did, cumulative milliseconds. */
export interface EventLoopTimes {
  readonly workerId: number
  readonly idle: number
  readonly active: number
}

/** What the metrics read from the pool when they are exported. */
export interface PoolReadings {
  /** Workers the pool keeps. */
  readonly size: number
  readonly stats: () => PoolStats
  readonly eventLoops?: (() => ReadonlyArray<EventLoopTimes>) | undefined
  readonly arena?: (() => ArenaStats) | undefined
}

const prefix = "effect_parallel_"
const secondsBoundaries = exportBoundaries.map((ms) => ms / 1000)

/**
 * Whether `context`'s registry already holds a pool's series under `pool` (with the context's
 * metric attributes): the registry keys a series by name and attributes, so a second pool
 * registered under the same ones would replace the first's series, and its close remove them.
 */
export const poolRegistered = (pool: string, context: Context.Context<never>): boolean => {
  const registry = Context.get(context, Metric.MetricRegistry)
  const attributes: Record<string, string> = { pool, ...Context.get(context, Metric.CurrentMetricAttributes) }
  const entries = Object.entries(attributes)
  for (const metadata of registry.values()) {
    if (metadata.id !== prefix + "queue_depth") continue
    const own = metadata.attributes ?? {}
    if (Object.keys(own).length === entries.length && entries.every(([key, value]) => own[key] === value)) return true
  }
  return false
}

interface TaskSeries {
  readonly runTime: Histogram
  readonly queueWait: Histogram
  /** Settled counts by outcome (a string key made per task cost ~8% of a 1 µs task). */
  readonly counts: Partial<Record<OutcomeName, { n: number }>>
}

/** An actor method's series. */
interface CallSeries {
  readonly runTime: Histogram
  readonly queueWait: Histogram
  readonly counts: Map<OutcomeName, { n: number }>
  readonly actor: string
  readonly method: string
}

interface SubmissionRecord {
  readonly at: number
  readonly task: TaskSeries
  readonly taskName: string
  remaining: number
}

export class PoolMetrics {
  private readonly pool: string
  private readonly readings: PoolReadings
  private readonly context: Context.Context<never>
  private readonly registrations: Array<Metric.Registration> = []
  private readonly tasks = new Map<string, TaskSeries>()
  private readonly submissions = new Submissions<SubmissionRecord>()
  /** Tasks each worker holds (dispatched, not settled): busy workers hold some. */
  private readonly held = new Map<number, { readonly workerId: number; n: number }>()
  private lastHeld: { readonly workerId: number; n: number } | undefined = undefined
  /** The count cell the previous settlement went to, and its task and outcome: a map's run in a row share it. */
  private lastCell: { n: number } | undefined = undefined
  private lastCellTask: TaskSeries | undefined = undefined
  private lastCellOutcome: OutcomeName | undefined = undefined
  private readonly exits = new Map<string, { n: number }>()
  private readonly actorRestarts = { n: 0 }
  /** By actor name, then method. */
  private readonly callSeries = new Map<string, Map<string, CallSeries>>()
  /** Calls made and not answered yet: when, and their series. */
  private readonly calls = new Map<number, { readonly at: number; readonly series: CallSeries }>()
  private readonly lastLoops = new Map<number, EventLoopTimes>()
  /** Each live worker's utilization gauge: removed when it exits, or a recycling pool would keep one per worker ever. */
  private readonly loopGauges = new Map<number, Metric.Registration>()
  /** Registers the utilization series of workers that have none yet (backends that read it). */
  private registerNewLoops: (() => void) | undefined = undefined
  /** Workers' own series, by worker, by type, name and attributes. */
  private readonly workerSeries = new Map<number, Map<string, { state: unknown; registration: Metric.Registration }>>()

  /** Registers the pool-wide series in `context`'s registry; task series follow as tasks appear. */
  constructor(pool: string, readings: PoolReadings, context: Context.Context<never>) {
    this.pool = pool
    this.readings = readings
    this.context = context
    this.gauge("queue_depth", "Tasks admitted and waiting for a worker", {}, () => readings.stats().queued)
    this.gauge("tasks_in_flight", "Tasks sent to workers and not yet answered", {}, () => readings.stats().inFlight)
    this.gauge("workers", "Workers the pool has (starting, ready or closing)", {}, () => readings.stats().workers)
    this.gauge("busy_workers", "Workers holding at least one task", {}, () => {
      // The pool's own count when it has one: the tasks of a cancelled submission leave their
      // workers with no `Settled`, so the count kept from events below would keep them busy.
      const counted = readings.stats().busyWorkers
      if (counted !== undefined) return counted
      let busy = 0
      for (const held of this.held.values()) if (held.n > 0) busy++
      return busy
    })
    const started = { get n() { return readings.stats().workersStarted } }
    this.counter("worker_starts_total", "Workers started, replacements included", {}, started)
    this.counter("worker_restarts_total", "Workers started to replace one that died", {}, {
      get n() {
        // Counted by the pool when it can: a recycled worker's replacement is a start, not a restart.
        const stats = readings.stats()
        return stats.workersRestarted ?? Math.max(0, stats.workersStarted - readings.size)
      }
    })
    this.counter("actor_restarts_total", "Actors rebuilt after their worker died", {}, this.actorRestarts)
    const arena = readings.arena
    if (arena !== undefined) {
      this.gauge("shared_memory_bytes", "Shared-array memory of the caller's arena", { state: "live" }, () => arena().liveBytes)
      this.gauge("shared_memory_bytes", "Shared-array memory of the caller's arena", { state: "idle" }, () => arena().idleBytes)
    }
    if (readings.eventLoops !== undefined) this.registerEventLoops(readings.eventLoops)
  }

  readonly onEvent = (event: PoolEvent): void => {
    switch (event._tag) {
      case "Settled":
        return settledTo(this.onSettled, event)
      case "Submitted":
        this.submissions.add(event.submission, {
          at: event.at,
          task: this.taskSeries(event.taskName),
          taskName: event.taskName,
          remaining: event.count
        })
        return
      case "Dispatched":
        return this.onDispatched(event.workerId, event.tasks.length)
      case "Requeued":
        return
      case "WorkerReady":
        // Its utilization series from the next export on (the one after a restart included).
        this.registerNewLoops?.()
        return
      case "Cancelled":
        this.submissions.cancel(event.submission)
        return
      case "WorkerExited": {
        this.held.delete(event.workerId)
        this.loopGauges.get(event.workerId)?.remove()
        this.loopGauges.delete(event.workerId)
        this.lastLoops.delete(event.workerId)
        if (this.lastHeld?.workerId === event.workerId) this.lastHeld = undefined
        let cell = this.exits.get(event.exit)
        if (cell === undefined) {
          cell = { n: 0 }
          this.exits.set(event.exit, cell)
          this.counter("worker_exits_total", "Workers that ended, by how", { exit: event.exit }, cell)
        }
        cell.n++
        return
      }
      case "ActorRestart":
        this.actorRestarts.n++
        return
      case "ActorCall":
        this.calls.set(event.callId, { at: event.at, series: this.callSeriesOf(event.actor, event.method) })
        return
      case "ActorCancel":
        this.calls.delete(event.callId)
        return
      case "ActorAnswer": {
        // A call made before this subscribed has no series to go to: skipped, as such a task is.
        const call = this.calls.get(event.callId)
        if (call === undefined) return
        this.calls.delete(event.callId)
        const series = call.series
        let cell = series.counts.get(event.outcome)
        if (cell === undefined) {
          cell = { n: 0 }
          series.counts.set(event.outcome, cell)
          this.counter("actor_calls_total", "Actor method calls answered, by actor, method and outcome", {
            actor: series.actor,
            method: series.method,
            outcome: event.outcome
          }, cell)
        }
        cell.n++
        if (event.startedAt !== undefined && event.endedAt !== undefined) {
          series.runTime.record(event.endedAt - event.startedAt)
          series.queueWait.record(event.startedAt - call.at)
        }
        return
      }
    }
  }

  /**
   * A worker's own metrics (what its handlers recorded in its registry), or `undefined` once it
   * is gone: each series is registered under its own name with `pool` and `worker` added, and
   * reads the latest values the worker sent; a gone worker's series are removed.
   */
  readonly onWorkerMetrics = (workerId: number, metrics: ReadonlyArray<WireMetric> | undefined): void => {
    let series = this.workerSeries.get(workerId)
    if (metrics === undefined) {
      if (series !== undefined) for (const one of series.values()) one.registration.remove()
      this.workerSeries.delete(workerId)
      return
    }
    if (series === undefined) {
      series = new Map()
      this.workerSeries.set(workerId, series)
    }
    for (const metric of metrics) {
      const key = `${metric.type} ${metric.id} ${JSON.stringify(metric.attributes)}`
      const known = series.get(key)
      if (known !== undefined) {
        known.state = metric.state
        continue
      }
      const one: { state: unknown; registration: Metric.Registration } = { state: metric.state, registration: undefined! }
      const attributes = { ...metric.attributes, pool: this.pool, worker: String(workerId) }
      one.registration = Metric.registerUnsafe(workerMetric(metric, attributes), this.context, {
        get: () => one.state as never,
        update: () => {},
        modify: () => {}
      })
      series.set(key, one)
    }
  }

  /** Removes every series this pool registered. */
  close(): void {
    for (const registration of this.registrations) registration.remove()
    this.registrations.length = 0
    for (const registration of this.loopGauges.values()) registration.remove()
    this.loopGauges.clear()
    for (const series of this.workerSeries.values()) for (const one of series.values()) one.registration.remove()
    this.workerSeries.clear()
  }

  /**
   * A settled task, as plain numbers (the pool makes no event object for it). Its submission and
   * worker cells are looked up with the previous task's at hand: a map's tasks come in runs of both.
   */
  readonly onSettled: OnSettled = (submissionId, _index, _taskId, workerId, _attempt, outcome, startedAt, endedAt) => {
    const submission = this.submissions.settle(submissionId)
    if (submission === undefined) return
    if (workerId >= 0) {
      const held = this.heldBy(workerId)
      if (held !== undefined) held.n--
    }
    const task = submission.task
    let cell = this.lastCell
    if (cell === undefined || this.lastCellTask !== task || this.lastCellOutcome !== outcome) {
      cell = task.counts[outcome] ?? this.countSeries(task.counts, submission.taskName, outcome)
      this.lastCell = cell
      this.lastCellTask = task
      this.lastCellOutcome = outcome
    }
    cell.n++
    if (startedAt !== undefined && endedAt !== undefined) {
      task.runTime.record(endedAt - startedAt)
      task.queueWait.record(startedAt - submission.at)
    }
  }

  readonly onDispatched = (workerId: number, tasks: number): void => {
    let held = this.heldBy(workerId)
    if (held === undefined) {
      held = { workerId, n: 0 }
      this.held.set(workerId, held)
    }
    held.n += tasks
  }

  /** The tasks `workerId` holds, the previous lookup's cell first. */
  private heldBy(workerId: number): { readonly workerId: number; n: number } | undefined {
    const last = this.lastHeld
    if (last !== undefined && last.workerId === workerId) return last
    const held = this.held.get(workerId)
    if (held !== undefined) this.lastHeld = held
    return held
  }

  private taskSeries(taskName: string): TaskSeries {
    let series = this.tasks.get(taskName)
    if (series !== undefined) return series
    series = { runTime: new Histogram(), queueWait: new Histogram(), counts: {} }
    this.tasks.set(taskName, series)
    this.histogram("task_run_seconds", "How long task handlers ran, measured in the worker", { task: taskName }, series.runTime)
    this.histogram(
      "task_queue_wait_seconds",
      "From a task's submission to its handler's start",
      { task: taskName },
      series.queueWait
    )
    return series
  }

  private callSeriesOf(actor: string, method: string): CallSeries {
    let methods = this.callSeries.get(actor)
    if (methods === undefined) {
      methods = new Map()
      this.callSeries.set(actor, methods)
    }
    let series = methods.get(method)
    if (series !== undefined) return series
    series = { runTime: new Histogram(), queueWait: new Histogram(), counts: new Map(), actor, method }
    methods.set(method, series)
    const attributes = { actor, method }
    this.histogram("actor_call_run_seconds", "How long actor methods ran, measured in the worker", attributes, series.runTime)
    this.histogram("actor_call_queue_wait_seconds", "From an actor call to its method's start", attributes, series.queueWait)
    return series
  }

  private countSeries(
    byOutcome: Partial<Record<OutcomeName, { n: number }>>,
    taskName: string,
    outcome: OutcomeName
  ) {
    const cell = { n: 0 }
    byOutcome[outcome] = cell
    this.counter("tasks_total", "Tasks settled, by task and outcome", {
      task: taskName,
      outcome
    }, cell)
    return cell
  }

  private registerEventLoops(read: () => ReadonlyArray<EventLoopTimes>): void {
    // One series per worker seen; the value is the share of time its loop was busy since the last export.
    const known = new Set<number>()
    const registerNew = () => {
      for (const loop of read()) {
        if (known.has(loop.workerId)) continue
        known.add(loop.workerId)
        const metric = Metric.gauge(prefix + "worker_event_loop_utilization", {
          description: "Share of time a worker thread's event loop was busy, since the previous export",
          attributes: this.attributes({ worker: String(loop.workerId) })
        })
        this.loopGauges.set(loop.workerId, Metric.registerUnsafe(metric, this.context, {
          get: () => ({ value: this.utilization(read, loop.workerId) }),
          update: () => {},
          modify: () => {}
        }))
      }
    }
    registerNew()
    this.registerNewLoops = registerNew
    // Workers that were not running when they got ready (or whose event came first) appear at
    // export time: the pool-wide gauge registers them, for the export after.
    this.gauge("workers_ready", "Workers ready for work", {}, () => {
      registerNew()
      return this.readings.stats().readyWorkers
    })
  }

  private utilization(read: () => ReadonlyArray<EventLoopTimes>, workerId: number): number {
    const now = read().find((loop) => loop.workerId === workerId)
    if (now === undefined) return 0
    const last = this.lastLoops.get(workerId)
    this.lastLoops.set(workerId, now)
    const idle = now.idle - (last?.idle ?? 0)
    const active = now.active - (last?.active ?? 0)
    // A worker's loop adds an idle period to `idle` only when it ends: until then the period reads
    // as active (elapsed minus idle), and the next reading takes it back, so `active` can go down.
    return idle + active > 0 ? Math.min(1, Math.max(0, active / (idle + active))) : 0
  }

  private attributes(extra: Record<string, string>): Record<string, string> {
    return { pool: this.pool, ...extra }
  }

  private counter(name: string, description: string, attributes: Record<string, string>, cell: { readonly n: number }) {
    const metric = Metric.counter(prefix + name, { description, attributes: this.attributes(attributes) })
    this.registrations.push(Metric.registerUnsafe(metric, this.context, {
      get: () => ({ count: cell.n, incremental: true }),
      update: () => {},
      modify: () => {}
    }))
  }

  private gauge(name: string, description: string, attributes: Record<string, string>, read: () => number) {
    const metric = Metric.gauge(prefix + name, { description, attributes: this.attributes(attributes) })
    this.registrations.push(Metric.registerUnsafe(metric, this.context, {
      get: () => ({ value: read() }),
      update: () => {},
      modify: () => {}
    }))
  }

  private histogram(name: string, description: string, attributes: Record<string, string>, histogram: Histogram) {
    const metric = Metric.histogram(prefix + name, {
      description,
      attributes: this.attributes(attributes),
      boundaries: secondsBoundaries
    })
    this.registrations.push(Metric.registerUnsafe(metric, this.context, {
      get: () => ({
        buckets: histogram.cumulative(exportBoundaries).map(([ms, n]) => [ms / 1000, n] as [number, number]),
        count: histogram.count,
        min: histogram.count === 0 ? 0 : histogram.min / 1000,
        max: histogram.max / 1000,
        sum: histogram.sum / 1000
      }),
      update: () => {},
      modify: () => {}
    }))
  }
}

/** A metric of the worker's kind and name, to register the worker's series under in the caller's registry. */
const workerMetric = (metric: WireMetric, attributes: Record<string, string>): Metric.Metric<any, any> => {
  const options = { description: metric.description, attributes }
  switch (metric.type) {
    case "Counter":
      return Metric.counter(metric.id, options)
    case "Gauge":
      return Metric.gauge(metric.id, options)
    case "Frequency":
      return Metric.frequency(metric.id, options)
    case "Histogram": {
      const buckets = (metric.state as { readonly buckets: ReadonlyArray<readonly [number, number]> }).buckets
      return Metric.histogram(metric.id, { ...options, boundaries: buckets.map(([boundary]) => boundary) })
    }
    case "Summary": {
      const quantiles = (metric.state as { readonly quantiles: ReadonlyArray<readonly [number, unknown]> }).quantiles
      // Its state is the worker's: the window options only shape a state that is never kept here.
      return Metric.summary(metric.id, { ...options, maxAge: "1 minute", maxSize: 1, quantiles: quantiles.map(([q]) => q) })
    }
  }
}
