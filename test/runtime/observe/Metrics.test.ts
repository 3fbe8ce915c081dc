/**
 * The metrics observer over synthetic settlements: every settled task is counted in the series of
 * its task and outcome, however settlements of different tasks, workers and outcomes interleave
 * (the observer keeps the previous settlement's count cell at hand), and workers add no series.
 * Actor method calls are counted by actor, method and outcome, with run-time and queue-wait
 * histograms, from their `ActorCall` / `ActorAnswer` events.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Metric from "effect/Metric"
import * as fc from "fast-check"
import type { OutcomeName } from "../../../src/core/PoolEvent.ts"
import { PoolMetrics } from "../../../src/runtime/observe/Metrics.ts"

const outcomes: ReadonlyArray<OutcomeName> = ["Success", "Failure", "Defect"]
const taskNames = ["A", "B"]

describe("PoolMetrics", () => {
  it("counts each settlement under its own task and outcome, in any interleaving", () => {
    const settlement = fc.record({
      submission: fc.integer({ min: 0, max: 2 }),
      workerId: fc.integer({ min: 0, max: 2 }),
      outcome: fc.constantFrom(...outcomes)
    })
    fc.assert(fc.property(fc.array(settlement, { maxLength: 80 }), (settlements) => {
      const registry = new Map()
      const context = Context.make(Metric.MetricRegistry, registry)
      const readings = { stats: () => ({ queued: 0, inFlight: 0, workers: 3, readyWorkers: 3, workersStarted: 3 }), size: 3 }
      const metrics = new PoolMetrics("p", readings as never, context as Context.Context<never>)
      // Submissions 0 and 2 are task A's, 1 is B's; each expects every settlement it will get.
      for (let submission = 0; submission < 3; submission++) {
        metrics.onEvent({
          _tag: "Submitted",
          at: 0,
          submission,
          taskName: taskNames[submission % 2]!,
          count: settlements.filter((s) => s.submission === submission).length,
          chunkSize: 1,
          payloads: []
        })
      }
      const expected = new Map<string, number>()
      settlements.forEach(({ outcome, submission, workerId }, index) => {
        metrics.onSettled(submission, index, index, workerId, 1, outcome, 1, 2)
        const key = `${taskNames[submission % 2]}/${outcome}`
        expected.set(key, (expected.get(key) ?? 0) + 1)
      })
      const counted = new Map<string, number>()
      for (const snapshot of Metric.snapshotUnsafe(context)) {
        if (snapshot.id !== "effect_parallel_tasks_total") continue
        const { outcome, task } = snapshot.attributes as Record<string, string>
        const count = (snapshot.state as { count: number }).count
        if (count > 0) counted.set(`${task}/${outcome}`, count)
      }
      assert.deepStrictEqual(counted, expected)
    }))
  })

  it("a recycling pool's workers add no task series: one per task and outcome, for good", () => {
    const registry = new Map()
    const context = Context.make(Metric.MetricRegistry, registry)
    const readings = { stats: () => ({ queued: 0, inFlight: 0, workers: 1, readyWorkers: 1, workersStarted: 1 }), size: 1 }
    const metrics = new PoolMetrics("p", readings as never, context as Context.Context<never>)
    metrics.onEvent({ _tag: "Submitted", at: 0, submission: 0, taskName: "A", count: 1000, chunkSize: 1, payloads: [] })
    // maxTasksPerWorker: 1 — each task on a worker of its own, which then exits.
    for (let workerId = 0; workerId < 1000; workerId++) {
      metrics.onEvent({ _tag: "WorkerStarting", at: 0, workerId, replacement: false })
      metrics.onDispatched(workerId, 1)
      metrics.onSettled(0, workerId, workerId, workerId, 1, "Success", 1, 2)
      metrics.onEvent({ _tag: "WorkerExited", at: 0, workerId, exit: "Recycled", message: "" })
    }
    const series = Metric.snapshotUnsafe(context).filter((snapshot) => snapshot.id === "effect_parallel_tasks_total")
    assert.deepStrictEqual(series.map((s) => [s.attributes, (s.state as { count: number }).count]), [
      [{ pool: "p", task: "A", outcome: "Success" }, 1000]
    ])
  })

  it("counts actor calls by actor, method and outcome, with their run time and queue wait", () => {
    const registry = new Map()
    const context = Context.make(Metric.MetricRegistry, registry)
    const readings = { stats: () => ({ queued: 0, inFlight: 0, workers: 1, readyWorkers: 1, workersStarted: 1 }), size: 1 }
    const metrics = new PoolMetrics("p", readings as never, context as Context.Context<never>)
    const call = (callId: number, method: string, at: number) =>
      metrics.onEvent({ _tag: "ActorCall", at, actorId: 7, actor: "Counter", callId, method, from: -1 })
    call(1, "add", 0)
    metrics.onEvent({ _tag: "ActorAnswer", at: 5, actorId: 7, callId: 1, outcome: "Success", workerId: 0, startedAt: 1, endedAt: 4 })
    call(2, "add", 10)
    metrics.onEvent({ _tag: "ActorAnswer", at: 15, actorId: 7, callId: 2, outcome: "Failure", workerId: 0, startedAt: 12, endedAt: 14 })
    // Never ran: counted, not timed.
    call(3, "get", 20)
    metrics.onEvent({ _tag: "ActorAnswer", at: 21, actorId: 7, callId: 3, outcome: "Unavailable", workerId: -1 })
    // Cancelled by its caller (answered to no one), and an answer to a call made before the subscription: not counted.
    call(4, "get", 30)
    metrics.onEvent({ _tag: "ActorCancel", at: 31, actorId: 7, callId: 4 })
    metrics.onEvent({ _tag: "ActorAnswer", at: 32, actorId: 7, callId: 99, outcome: "Success", workerId: 0, startedAt: 31, endedAt: 32 })
    const snapshots = Metric.snapshotUnsafe(context)
    const counts = snapshots.filter((s) => s.id === "effect_parallel_actor_calls_total")
      .map((s) => [s.attributes, (s.state as { count: number }).count])
    assert.sameDeepMembers(counts, [
      [{ pool: "p", actor: "Counter", method: "add", outcome: "Success" }, 1],
      [{ pool: "p", actor: "Counter", method: "add", outcome: "Failure" }, 1],
      [{ pool: "p", actor: "Counter", method: "get", outcome: "Unavailable" }, 1]
    ])
    const histogram = (id: string, method: string) => {
      const [one] = snapshots.filter((s) => s.id === id && s.attributes?.method === method)
      return one!.state as Metric.HistogramState
    }
    const run = histogram("effect_parallel_actor_call_run_seconds", "add")
    assert.strictEqual(run.count, 2)
    assert.closeTo(run.sum, (3 + 2) / 1000, 1e-9)
    const wait = histogram("effect_parallel_actor_call_queue_wait_seconds", "add")
    assert.strictEqual(wait.count, 2)
    assert.closeTo(wait.sum, (1 + 2) / 1000, 1e-9)
    assert.strictEqual(histogram("effect_parallel_actor_call_run_seconds", "get").count, 0)
    metrics.close()
    assert.strictEqual(registry.size, 0, "every series removed")
  })

  it("event-loop utilization stays within 0–1 when a worker's active time reads lower than before", () => {
    // A worker thread's loop counts an idle period only once it ends, so while it idles its
    // cumulative `active` (elapsed minus idle so far) grows, and drops back when the period ends.
    const registry = new Map()
    const context = Context.make(Metric.MetricRegistry, registry)
    const loops = [{ workerId: 0, idle: 10, active: 10 }, { workerId: 0, idle: 30, active: 9 }, { workerId: 0, idle: 30, active: 19 }]
    let reading = 0
    const readings = {
      stats: () => ({ queued: 0, inFlight: 0, workers: 1, readyWorkers: 1, workersStarted: 1 }),
      size: 1,
      eventLoops: () => [loops[reading]!]
    }
    const metrics = new PoolMetrics("p", readings as never, context as Context.Context<never>)
    const utilization = () => {
      const series = Metric.snapshotUnsafe(context).find((snapshot) => snapshot.id === "effect_parallel_worker_event_loop_utilization")!
      return (series.state as { value: number }).value
    }
    assert.strictEqual(utilization(), 0.5)
    reading = 1
    assert.strictEqual(utilization(), 0, "an interval whose active time went down was idle")
    reading = 2
    assert.strictEqual(utilization(), 1)
    metrics.close()
  })

  it("a replacement worker's utilization is in the first export after it got ready", () => {
    const registry = new Map()
    const context = Context.make(Metric.MetricRegistry, registry)
    let live = [{ workerId: 0, idle: 10, active: 10 }]
    const readings = {
      stats: () => ({ queued: 0, inFlight: 0, workers: 1, readyWorkers: 1, workersStarted: 1 }),
      size: 1,
      eventLoops: () => live
    }
    const metrics = new PoolMetrics("p", readings as never, context as Context.Context<never>)
    const workers = () =>
      Metric.snapshotUnsafe(context)
        .filter((snapshot) => snapshot.id === "effect_parallel_worker_event_loop_utilization")
        .map((snapshot) => snapshot.attributes?.worker)
    assert.deepStrictEqual(workers(), ["0"])
    live = []
    metrics.onEvent({ _tag: "WorkerExited", at: 1, workerId: 0, exit: "Crashed", message: "" })
    metrics.onEvent({ _tag: "WorkerStarting", at: 1, workerId: 1, replacement: true })
    live = [{ workerId: 1, idle: 5, active: 5 }]
    metrics.onEvent({ _tag: "WorkerReady", at: 2, workerId: 1 })
    assert.deepStrictEqual(workers(), ["1"])
    metrics.close()
  })
})
