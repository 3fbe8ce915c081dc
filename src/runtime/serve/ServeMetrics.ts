/**
 * A server's metrics as Effect Metrics, kept as plain numbers on the request path and read when
 * the registry exports (the pattern of `observe/Metrics.ts`: `Metric.registerUnsafe`, no Effect
 * per request).
 *
 * Series (attribute `deployment` on all):
 * - `effect_parallel_serve_requests_total` {status}: predict requests answered, by HTTP status.
 * - `effect_parallel_serve_rejections_total` {reason: queue_full | expected_wait | not_ready | draining | deadline | client_gone}.
 * - `effect_parallel_serve_batch_size`: histogram of items per batch sent to a replica.
 * - `effect_parallel_serve_queue_wait_seconds`: from a request's arrival to its batch's dispatch.
 * - `effect_parallel_serve_batch_run_seconds`: from a batch's dispatch to its answer.
 * - `effect_parallel_serve_queue_depth`, `effect_parallel_serve_batches_in_flight`,
 *   `effect_parallel_serve_replicas_ready`: gauges read at export.
 */
import type * as Context from "effect/Context"
import * as Metric from "effect/Metric"
import { exportBoundaries, Histogram } from "../observe/Histogram.ts"
import type { BatcherStats } from "./Batcher.ts"

const prefix = "effect_parallel_serve_"
/** Batch sizes are recorded as if they were microseconds, so the powers of two 1…1024 are exact edges. */
const sizeBoundaries = exportBoundaries.slice(0, 11)

export type Rejection = "queue_full" | "expected_wait" | "not_ready" | "draining" | "deadline" | "client_gone"

export class DeploymentMetrics {
  readonly batchSize = new Histogram()
  readonly queueWait = new Histogram()
  readonly batchRun = new Histogram()
  private readonly statuses = new Map<number, { n: number }>()
  private readonly rejections = new Map<Rejection, { n: number }>()
  private readonly registrations: Array<Metric.Registration> = []
  private readonly deployment: string
  private readonly context: Context.Context<never>

  constructor(deployment: string, stats: () => BatcherStats, context: Context.Context<never>) {
    this.deployment = deployment
    this.context = context
    this.gauge("queue_depth", "Requests waiting for a batch", () => stats().queued)
    this.gauge("batches_in_flight", "Batches sent to replicas and not yet answered", () =>
      stats().inFlight.reduce((a, b) => a + b, 0))
    this.gauge("replicas_ready", "Replicas whose model is loaded", () => stats().ready.filter(Boolean).length)
    this.histogram("batch_size", "Items per batch sent to a replica", this.batchSize, sizeBoundaries, 1000, 0.5)
    this.histogram("queue_wait_seconds", "From a request's arrival to its batch's dispatch", this.queueWait, exportBoundaries, 1 / 1000)
    this.histogram("batch_run_seconds", "From a batch's dispatch to its answer", this.batchRun, exportBoundaries, 1 / 1000)
  }

  answered(status: number): void {
    let cell = this.statuses.get(status)
    if (cell === undefined) {
      cell = { n: 0 }
      this.statuses.set(status, cell)
      this.counter("requests_total", "Predict requests answered, by HTTP status", { status: String(status) }, cell)
    }
    cell.n++
  }

  /** Answers so far, by HTTP status. */
  answeredByStatus(): Record<number, number> {
    const counts: Record<number, number> = {}
    for (const [status, cell] of this.statuses) counts[status] = cell.n
    return counts
  }

  rejected(reason: Rejection): void {
    let cell = this.rejections.get(reason)
    if (cell === undefined) {
      cell = { n: 0 }
      this.rejections.set(reason, cell)
      this.counter("rejections_total", "Requests refused or given up, by reason", { reason }, cell)
    }
    cell.n++
  }

  /**
   * Items in a batch, recorded on the microsecond scale (see `sizeBoundaries`) half an item low: a
   * bucket holds [edge, next edge), Prometheus's `le` is inclusive, and sizes are whole numbers.
   */
  recordBatch(items: number): void {
    this.batchSize.record((items - 0.5) / 1000)
  }

  close(): void {
    for (const registration of this.registrations) registration.remove()
    this.registrations.length = 0
  }

  private counter(name: string, description: string, attributes: Record<string, string>, cell: { readonly n: number }) {
    const metric = Metric.counter(prefix + name, {
      description,
      attributes: { deployment: this.deployment, ...attributes }
    })
    this.registrations.push(Metric.registerUnsafe(metric, this.context, {
      get: () => ({ count: cell.n, incremental: true }),
      update: () => {},
      modify: () => {}
    }))
  }

  private gauge(name: string, description: string, read: () => number) {
    const metric = Metric.gauge(prefix + name, { description, attributes: { deployment: this.deployment } })
    this.registrations.push(Metric.registerUnsafe(metric, this.context, {
      get: () => ({ value: read() }),
      update: () => {},
      modify: () => {}
    }))
  }

  /** `boundaries` in the histogram's milliseconds; `scale` turns them into the exported unit. */
  private histogram(
    name: string,
    description: string,
    histogram: Histogram,
    boundaries: ReadonlyArray<number>,
    scale: number,
    /** Added back to each exported value (what `recordBatch` took off). */
    offset = 0
  ) {
    const metric = Metric.histogram(prefix + name, {
      description,
      attributes: { deployment: this.deployment },
      boundaries: boundaries.map((b) => b * scale)
    })
    this.registrations.push(Metric.registerUnsafe(metric, this.context, {
      get: () => ({
        buckets: histogram.cumulative(boundaries).map(([b, n]) => [b * scale, n] as [number, number]),
        count: histogram.count,
        min: histogram.count === 0 ? 0 : histogram.min * scale + offset,
        max: histogram.count === 0 ? 0 : histogram.max * scale + offset,
        sum: histogram.sum * scale + offset * histogram.count
      }),
      update: () => {},
      modify: () => {}
    }))
  }
}
