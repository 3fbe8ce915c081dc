/**
 * A worker's Effect Metrics on the wire (protocol `[Metrics, snapshots]`): each thread or process
 * has a `Metric.MetricRegistry` of its own, so what a handler records stays in its worker until it
 * is sent. Every metric state (counts, gauge values, a frequency's Map, histogram buckets, summary
 * quantiles) is plain data a structured clone carries as it is.
 */
import type * as Context from "effect/Context"
import * as Metric from "effect/Metric"

export interface WireMetric {
  readonly id: string
  readonly type: Metric.Metric.Type
  readonly description: string | undefined
  readonly attributes: Readonly<Record<string, string>>
  /** The state as `Metric.snapshot` gives it. */
  readonly state: unknown
}

/** What `context`'s registry holds, as records that cross a `postMessage`. */
export const snapshotForWire = (context: Context.Context<never>): Array<WireMetric> =>
  Metric.snapshotUnsafe(context).map((snapshot) => ({
    id: snapshot.id,
    type: snapshot.type,
    description: snapshot.description,
    attributes: { ...snapshot.attributes },
    state: snapshot.state
  }))
