/**
 * Seeing inside a pool: insights, metrics, a timeline and a live page, each a subscriber of the
 * pool's events (`WorkerPool.observe`'s synchronous listener: no fiber, no queue).
 *
 * Contains `insights` (a report of a pool built with `insights`), `printInsights`.
 *
 * Unobserved, a pool makes no events and pays nothing; each observer here pays for what it
 * keeps (README "Observing a pool" has the measured costs).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { InvalidOptions, PoolError } from "../core/PoolError.ts"
import type { Any, Group, Runner } from "../core/Task.ts"
import * as Insights from "../runtime/observe/Insights.ts"
import { clientOf } from "./internal/pool.ts"

export type { Percentiles } from "../runtime/observe/Histogram.ts"
export type { Report as InsightsReport, SlowTask, WorkerInsight } from "../runtime/observe/Insights.ts"

/**
 * The insights of the pool serving `group` so far: per worker and in total, start-up, init,
 * waiting, working and exit time (milliseconds; they add up to each worker's wall time), tasks
 * run, run-time and queue-wait percentiles, outcomes, the 5 slowest tasks with a bounded rendering
 * of their input, and a warning with its likely cause when workers worked under 80% of the time.
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
