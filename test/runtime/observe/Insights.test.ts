/**
 * Insights over synthetic events: the time parts of a worker add up to its wall time, percentiles
 * and the slowest tasks come from the handlers' own timings, and the warning names the likeliest
 * cause. Actor method calls have percentiles, outcomes and a slowest list of their own, labelled
 * as calls (their times are the worker's working time, as tasks' are).
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { PoolEvent } from "../../../src/core/PoolEvent.ts"
import { bucketOf, Histogram } from "../../../src/runtime/observe/Histogram.ts"
import { Insights, render } from "../../../src/runtime/observe/Insights.ts"

/** A worker's life: starts at 0, init from `init`, ready at `ready`, then `tasks` [start, end] runs, stopping and exit. */
const life = (options: {
  readonly ready: number
  readonly runs: ReadonlyArray<readonly [number, number]>
  readonly stop: number
  readonly exit: number
  readonly workerId?: number
}): Array<PoolEvent> => {
  const workerId = options.workerId ?? 0
  const events: Array<PoolEvent> = [
    { _tag: "WorkerStarting", at: 0, workerId, replacement: false },
    { _tag: "WorkerReady", at: options.ready, workerId, initStartedAt: options.ready / 2 },
    { _tag: "Submitted", at: options.ready, submission: workerId, taskName: "Work", count: options.runs.length, chunkSize: 1, payloads: options.runs.map((_, i) => ({ item: i })) }
  ]
  options.runs.forEach(([startedAt, endedAt], index) =>
    events.push({ _tag: "Settled", at: endedAt, submission: workerId, index, taskId: index, workerId, attempt: 1, outcome: "Success", startedAt, endedAt })
  )
  events.push({ _tag: "WorkerStopping", at: options.stop, workerId })
  events.push({ _tag: "WorkerExited", at: options.exit, workerId, exit: "Exited", message: "" })
  return events
}

const reportOf = (events: ReadonlyArray<PoolEvent>, now = 1e9) => {
  const insights = new Insights(() => now)
  for (const event of events) insights.onEvent(event)
  return insights.report()
}

describe("Insights", () => {
  it("splits a worker's wall time into start-up, init, waiting, working and exit", () => {
    const runs = Array.from({ length: 10 }, (_, i) => [100 + i * 100, 190 + i * 100] as const)
    const report = reportOf(life({ ready: 100, runs, stop: 1200, exit: 1250 }))
    const [worker] = report.workers
    assert.deepStrictEqual(
      [worker!.startup, worker!.init, worker!.working, worker!.waiting, worker!.exitTime, worker!.wall, worker!.tasks],
      [50, 50, 900, 200, 50, 1250, 10]
    )
    assert.strictEqual(worker!.state, "exited")
    assert.closeTo(report.efficiency, 900 / 1250, 1e-9)
    assert.isTrue(report.warning!.includes("under 80%"))
    assert.strictEqual(report.outcomes.Success, 10)
  })

  it("percentiles and the slowest tasks, with their input", () => {
    // Task i runs i + 1 ms.
    const runs = Array.from({ length: 100 }, (_, i) => [1000 + i * 200, 1000 + i * 200 + i + 1] as const)
    const report = reportOf(life({ ready: 1000, runs, stop: 21_000, exit: 21_000 }))
    assert.strictEqual(report.runTime.count, 100)
    // Within the histogram's ~4.5% precision.
    assert.closeTo(report.runTime.p50, 50, 50 * 0.05)
    assert.closeTo(report.runTime.p99, 99, 99 * 0.05)
    assert.strictEqual(report.runTime.max, 100)
    assert.deepStrictEqual(report.slowest.map((slow) => slow.millis), [100, 99, 98, 97, 96])
    assert.deepStrictEqual(report.slowest.map((slow) => slow.input), ["{ item: 99 }", "{ item: 98 }", "{ item: 97 }", "{ item: 96 }", "{ item: 95 }"])
    // Queue wait: from the submission (at 1000) to each handler's start.
    assert.closeTo(report.queueWait.max, 99 * 200, 99 * 200 * 0.05)
  })

  it("the warning's hint: start-up dominates, tasks too small, too few inputs", () => {
    const setup = reportOf(life({ ready: 1000, runs: [[1000, 1100]], stop: 1200, exit: 1300 }))
    assert.match(setup.warning!, /keep the pool alive/)
    const tiny = Array.from({ length: 1000 }, (_, i) => [10 + i * 0.1, 10 + i * 0.1 + 0.002] as const)
    const small = reportOf(life({ ready: 10, runs: tiny, stop: 200, exit: 200 }))
    assert.match(small.warning!, /per-task overhead dominates/)
    const few = reportOf(life({ ready: 10, runs: [[10, 60]], stop: 500, exit: 500 }))
    assert.match(few.warning!, /too few inputs/)
    const busy = reportOf(life({ ready: 10, runs: [[10, 990]], stop: 1000, exit: 1000 }))
    assert.isUndefined(busy.warning)
  })

  it("a worker still running counts up to now; one not yet ready has only start-up", () => {
    const events: Array<PoolEvent> = [
      { _tag: "WorkerStarting", at: 0, workerId: 0, replacement: false },
      { _tag: "WorkerReady", at: 10, workerId: 0 },
      { _tag: "WorkerStarting", at: 0, workerId: 1, replacement: false }
    ]
    const report = reportOf(events, 100)
    assert.deepStrictEqual(report.workers.map((w) => [w.state, w.startup, w.init, w.waiting, w.wall]), [
      ["ready", 10, 0, 90, 100],
      ["starting", 100, 0, 0, 100]
    ])
  })

  it("renders a table with a row per worker, a total, percentiles and the warning", () => {
    const text = render(reportOf(life({ ready: 1000, runs: [[1000, 1100]], stop: 1200, exit: 1300 })))
    const lines = text.split("\n")
    assert.match(lines[1]!, /^worker\s+state\s+start-up\s+init\s+waiting\s+working\s+exit\s+wall ms\s+tasks$/)
    assert.match(lines[2]!, /^0\s+exited \(Exited\)\s+500\.0 \(38\.5%\)/)
    assert.match(lines[3]!, /^total/)
    assert.match(text, /run time  : p50 /)
    assert.match(text, /slowest 1 task:\n {2}100\.0 ms {2}Work #0 on worker 0 {2}input \{ item: 0 \}/)
    assert.match(text, /WARNING workers were working 8% of their time/)
  })

  it("a recycling pool's report lists its live workers and the last that exited; the earlier ones are in the total", () => {
    // maxTasksPerWorker: 1 on one worker: 1000 workers in turn, each 10 ms of start-up, a 5 ms task, 5 ms waiting.
    const events: Array<PoolEvent> = []
    for (let workerId = 0; workerId < 1000; workerId++) {
      const at = workerId * 20
      events.push(
        { _tag: "WorkerStarting", at, workerId, replacement: false },
        { _tag: "WorkerReady", at: at + 10, workerId, initStartedAt: at + 10 },
        { _tag: "Submitted", at: at + 10, submission: workerId, taskName: "Work", count: 1, chunkSize: 1, payloads: [{ workerId }] },
        { _tag: "Settled", at: at + 15, submission: workerId, index: 0, taskId: workerId, workerId, attempt: 1, outcome: "Success", startedAt: at + 10, endedAt: at + 15 },
        { _tag: "WorkerStopping", at: at + 20, workerId },
        { _tag: "WorkerExited", at: at + 20, workerId, exit: "Recycled", message: "" }
      )
    }
    events.push({ _tag: "WorkerStarting", at: 20_000, workerId: 1000, replacement: false })
    const report = reportOf(events, 20_005)
    assert.isAtMost(report.workers.length, 65)
    assert.deepStrictEqual(report.workers.at(-1)!.workerId, 1000)
    assert.strictEqual(report.workers.at(-2)!.workerId, 999, "the last to exit is listed")
    assert.strictEqual(report.earlierWorkers, 1000 - (report.workers.length - 1))
    assert.deepStrictEqual(
      [report.total.startup, report.total.working, report.total.waiting, report.total.wall, report.total.tasks],
      [1000 * 10 + 5, 1000 * 5, 1000 * 5, 1000 * 20 + 5, 1000]
    )
    assert.match(render(report), new RegExp(`\\n${report.earlierWorkers} earlier\\s+exited\\s`))
  })
})

describe("Insights of actor calls", () => {
  it("percentiles, outcomes and the slowest calls, apart from the tasks'", () => {
    const events: Array<PoolEvent> = [
      { _tag: "WorkerStarting", at: 0, workerId: 0, replacement: false },
      { _tag: "WorkerReady", at: 10, workerId: 0 },
      { _tag: "ActorSpawn", at: 10, actorId: 1, name: "Counter" }
    ]
    // Call i is made at 100 * i, runs from 100 * i + 5 for i + 1 ms.
    for (let i = 0; i < 10; i++) {
      const at = 100 + 100 * i
      events.push(
        { _tag: "ActorCall", at, actorId: 1, actor: "Counter", callId: i, method: i % 2 === 0 ? "add" : "get", from: -1 },
        { _tag: "ActorAnswer", at: at + i + 6, actorId: 1, callId: i, outcome: "Success", workerId: 0, startedAt: at + 5, endedAt: at + 5 + i + 1 }
      )
    }
    events.push(
      { _tag: "ActorCall", at: 2000, actorId: 1, actor: "Counter", callId: 10, method: "add", from: -1 },
      { _tag: "ActorAnswer", at: 2001, actorId: 1, callId: 10, outcome: "Unavailable", workerId: -1 }
    )
    const report = reportOf(events, 3000)
    assert.strictEqual(report.runTime.count, 0, "no task ran")
    assert.strictEqual(report.calls.runTime.count, 10)
    assert.strictEqual(report.calls.runTime.max, 10)
    assert.closeTo(report.calls.queueWait.max, 5, 5 * 0.05)
    assert.deepStrictEqual(report.calls.outcomes, { Success: 10, Unavailable: 1 })
    assert.deepStrictEqual(
      report.calls.slowest.map((slow) => [slow.actor, slow.method, slow.callId, slow.workerId, slow.millis]),
      [["Counter", "get", 9, 0, 10], ["Counter", "add", 8, 0, 9], ["Counter", "get", 7, 0, 8], ["Counter", "add", 6, 0, 7], ["Counter", "get", 5, 0, 6]]
    )
    assert.strictEqual(report.total.tasks, 10, "the worker's count: tasks and calls it ran")
    const text = render(report)
    assert.match(text, /actor calls run time  : p50 .*\(10 calls\)/)
    assert.match(text, /actor call outcomes: Success 10, Unavailable 1/)
    assert.match(text, /slowest 5 actor calls:\n {2}10\.0 ms {2}Counter\.get call #9 on worker 0/)
    // No task ran: the tasks' lines say so instead of percentiles of nothing (p50 0.0 µs).
    assert.match(text, /^run time  : no tasks$/m)
    assert.match(text, /^queue wait: no tasks$/m)
    assert.notMatch(text, /0\.0 µs/)
  })
})

describe("Histogram", () => {
  it("cumulative counts at power-of-two microsecond boundaries are exact: values <= each boundary", () => {
    const histogram = new Histogram()
    for (const millis of [0.0005, 0.001, 0.0015, 0.003, 0.004, 0.005, 1, 2.5]) histogram.record(millis)
    // A value on a boundary counts under it (Prometheus' and Effect's `le`): 0.001 at 0.001, 0.004 at 0.004.
    assert.deepStrictEqual(histogram.cumulative([0.001, 0.002, 0.004, 1.024, 4.096]), [
      [0.001, 2],
      [0.002, 3],
      [0.004, 5],
      [1.024, 7],
      [4.096, 8]
    ])
  })

  it("every value lands in the bucket whose edges hold it, a few ulps from an edge too (closed above)", () => {
    // Bucket i = 8e + j (j = 0…7, i ≥ 1) has the upper edge 2^e · 2^(j/8) µs; bucket 0 holds [0, 1 µs].
    const upper = (i: number) => Math.pow(2, Math.floor(i / 8)) * Math.pow(2, (i % 8) / 8)
    const aroundEdges = fc.tuple(fc.integer({ min: 0, max: 8 * 32 - 1 }), fc.integer({ min: -3, max: 3 }))
      .map(([i, ulps]) => upper(i) * (1 + ulps * Number.EPSILON))
    const anywhere = fc.double({ min: 0, max: 2 ** 33, noNaN: true })
    fc.assert(fc.property(fc.oneof(aroundEdges, anywhere), (micros) => {
      const bucket = bucketOf(micros)
      if (micros <= 1) return assert.strictEqual(bucket, 0)
      if (micros > upper(8 * 32)) return assert.strictEqual(bucket, 8 * 32)
      assert.isAtMost(micros, upper(bucket), `${micros} µs is in bucket ${bucket}, under its upper edge`)
      assert.isAbove(micros, upper(bucket - 1), `${micros} µs is in bucket ${bucket}, over the edge below`)
    }))
    // The edges are 2^(i/8) µs within rounding, and exactly the powers of two every 8 buckets.
    for (let i = 1; i <= 8 * 32; i++) assert.approximately(upper(i) / Math.pow(2, i / 8), 1, 4 * Number.EPSILON)
    for (let e = 0; e <= 32; e++) assert.strictEqual(bucketOf(2 ** e), 8 * e)
  })
})
