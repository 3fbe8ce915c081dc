/**
 * The dashboard's state over synthetic events: a worker that was still starting when the page
 * subscribed (a replacement) is shown, and counted in the page's insights, once it is ready; a
 * finished map is shown without holding its inputs; the slowest rows hold actor calls with tasks.
 */
import { assert, describe, it } from "@effect/vitest"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import type { PoolEvent, PoolStats } from "../../../src/core/PoolEvent.ts"
import { DashboardState } from "../../../src/runtime/observe/Dashboard.ts"
import { Insights } from "../../../src/runtime/observe/Insights.ts"

const stats: PoolStats = {
  workers: 2,
  readyWorkers: 2,
  queued: 0,
  peakQueued: 0,
  waiting: 0,
  inFlight: 0,
  maxInFlight: 0,
  workersStarted: 2,
  submitted: 0,
  settled: 0,
  recycled: 0
}

describe("DashboardState", () => {
  it("a worker starting when the page subscribed is shown, with its insights, once ready", () => {
    let now = 1_000
    const insights = new Insights(() => now)
    // Worker 0 was ready when the page subscribed (Observe.dashboard seeds it); worker 1 was starting.
    insights.onEvent({ _tag: "WorkerStarting", at: now, workerId: 0, replacement: false })
    insights.onEvent({ _tag: "WorkerReady", at: now, workerId: 0, initStartedAt: now })
    const state = new DashboardState(() => now, () => stats, insights, [0])
    const events: Array<PoolEvent> = [
      { _tag: "WorkerReady", at: 1_010, workerId: 1, initStartedAt: 1_005 },
      { _tag: "Submitted", at: 1_020, submission: 0, taskName: "Work", count: 1, chunkSize: 1, payloads: [{ n: 1 }] },
      { _tag: "Dispatched", at: 1_020, workerId: 1, tasks: [{ taskId: 7, submission: 0, index: 0, attempt: 1 }] }
    ]
    for (const event of events) {
      insights.onEvent(event)
      state.onEvent(event)
    }
    now = 1_030
    assert.deepStrictEqual(state.snapshot().workers.map((w) => [w.workerId, w.state, w.task]), [[0, "idle", undefined], [1, "busy", "Work"]])
    const settled: PoolEvent = {
      _tag: "Settled",
      at: 1_040,
      submission: 0,
      index: 0,
      taskId: 7,
      workerId: 1,
      attempt: 1,
      outcome: "Success",
      startedAt: 1_021,
      endedAt: 1_039
    }
    insights.onEvent(settled)
    state.onEvent(settled)
    now = 1_050
    const snapshot = state.snapshot()
    assert.deepStrictEqual(snapshot.workers.map((w) => [w.workerId, w.state, w.done]), [[0, "idle", 0], [1, "idle", 1]])
    const worker = snapshot.insights!.workers.find((w) => w.workerId === 1)
    assert.isDefined(worker, "in the page's insights")
    assert.strictEqual(worker!.working, 18)
    assert.strictEqual(worker!.tasks, 1)
    assert.strictEqual(worker!.startup + worker!.init + worker!.waiting + worker!.working + worker!.exitTime, worker!.wall)
  })
})

describe("DashboardState's maps", () => {
  it("a finished map's inputs are let go (the page keeps its last maps, not their payloads)", async () => {
    setFlagsFromString("--expose-gc")
    const gc = runInNewContext("gc") as () => void
    const state = new DashboardState(() => 0, () => stats, undefined, [0])
    let payloads: Array<unknown> | undefined = Array.from({ length: 3 }, (_, n) => ({ n }))
    const held = new WeakRef(payloads)
    state.onEvent({ _tag: "Submitted", at: 1, submission: 0, taskName: "Work", count: 3, chunkSize: 1, payloads })
    payloads = undefined
    for (let index = 0; index < 3; index++) {
      state.onEvent({ _tag: "Settled", at: 2, submission: 0, index, taskId: index, workerId: 0, attempt: 1, outcome: index === 1 ? "Failure" : "Success" })
    }
    const snapshot = state.snapshot()
    assert.deepStrictEqual(snapshot.maps.map((m) => [m.count, m.succeeded, m.failed, m.endedAt]), [[3, 2, 1, 2]])
    assert.strictEqual(snapshot.failures[0]!.input, "{ n: 1 }")
    // A WeakRef's target lives until the turn that made it ends.
    await new Promise((resolve) => setTimeout(resolve, 0))
    gc()
    assert.isUndefined(held.deref(), "the map's payloads were collected")
  })
})

describe("DashboardState's maps, cancelled", () => {
  it("a map its caller gave up on is shown cancelled, not done", () => {
    const state = new DashboardState(() => 0, () => stats, undefined, [0])
    state.onEvent({ _tag: "Submitted", at: 1, submission: 0, taskName: "Work", count: 3, chunkSize: 1, payloads: [{}, {}, {}] })
    state.onEvent({ _tag: "Settled", at: 2, submission: 0, index: 0, taskId: 0, workerId: 0, attempt: 1, outcome: "Success" })
    state.onEvent({ _tag: "Cancelled", at: 3, submission: 0 })
    state.onEvent({ _tag: "Submitted", at: 4, submission: 1, taskName: "Work", count: 2, chunkSize: 1, payloads: [{}, {}] })
    for (const index of [0, 1]) {
      state.onEvent({ _tag: "Settled", at: 5, submission: 1, index, taskId: 10 + index, workerId: 0, attempt: 1, outcome: "Success" })
    }
    assert.deepStrictEqual(state.snapshot().maps.map((m) => [m.submission, m.succeeded, m.endedAt, m.cancelled]), [[0, 1, 3, true], [1, 2, 5, false]])
  })
})

describe("DashboardState's workers", () => {
  it("a recycling pool's page keeps its live workers and the last ones that ended, not every worker ever", () => {
    const state = new DashboardState(() => 0, () => stats, undefined, [])
    // maxTasksPerWorker: 1 on one worker: each worker runs a task and is recycled.
    for (let workerId = 0; workerId < 1000; workerId++) {
      state.onEvent({ _tag: "WorkerStarting", at: workerId, workerId, replacement: false })
      state.onEvent({ _tag: "WorkerReady", at: workerId, workerId })
      state.onEvent({ _tag: "WorkerExited", at: workerId, workerId, exit: "Recycled", message: "" })
    }
    state.onEvent({ _tag: "WorkerStarting", at: 1000, workerId: 1000, replacement: false })
    const workers = state.snapshot().workers
    assert.deepStrictEqual(workers.at(-1), { workerId: 1000, state: "starting", replacement: false, task: undefined, held: 0, done: 0, exit: undefined })
    const dead = workers.filter((w) => w.state === "dead")
    assert.isAtMost(dead.length, 16)
    assert.isAtLeast(dead.length, 1)
    assert.strictEqual(dead.at(-1)!.workerId, 999, "the last to end is kept")
  })

  it("its insights name the workers the page shows, and total every worker", () => {
    const insights = new Insights(() => 2000)
    const state = new DashboardState(() => 2000, () => stats, insights, [])
    const feed = (event: PoolEvent) => {
      insights.onEvent(event)
      state.onEvent(event)
    }
    feed({ _tag: "Submitted", at: 0, submission: 0, taskName: "Work", count: 1000, chunkSize: 1, payloads: [] })
    for (let workerId = 0; workerId < 1000; workerId++) {
      feed({ _tag: "WorkerStarting", at: workerId, workerId, replacement: false })
      feed({ _tag: "WorkerReady", at: workerId, workerId })
      feed({ _tag: "Settled", at: workerId + 0.5, submission: 0, index: workerId, taskId: workerId, workerId, attempt: 1, outcome: "Success", startedAt: workerId, endedAt: workerId + 0.5 })
      feed({ _tag: "WorkerExited", at: workerId + 1, workerId, exit: "Recycled", message: "" })
    }
    feed({ _tag: "WorkerStarting", at: 1000, workerId: 1000, replacement: false })
    const snapshot = state.snapshot()
    assert.deepStrictEqual(snapshot.insights!.workers.map((w) => w.workerId), snapshot.workers.map((w) => w.workerId))
    assert.strictEqual(snapshot.insights!.total.tasks, 1000, "the totals are every worker's")
    assert.strictEqual(snapshot.insights!.total.working, 500)
  })
})

describe("DashboardState's slowest", () => {
  it("actor method calls are shown with the tasks, slowest first, each labelled by its kind", () => {
    const insights = new Insights(() => 0)
    const state = new DashboardState(() => 100, () => stats, insights, [0])
    const events: Array<PoolEvent> = [
      { _tag: "WorkerStarting", at: 0, workerId: 0, replacement: false },
      { _tag: "WorkerReady", at: 0, workerId: 0, initStartedAt: 0 },
      { _tag: "Submitted", at: 1, submission: 0, taskName: "Work", count: 1, chunkSize: 1, payloads: [{ n: 1 }] },
      { _tag: "Settled", at: 12, submission: 0, index: 0, taskId: 7, workerId: 0, attempt: 1, outcome: "Success", startedAt: 2, endedAt: 12 },
      { _tag: "ActorCall", at: 20, actorId: 3, actor: "Counter", callId: 9, method: "add", from: -1 },
      { _tag: "ActorAnswer", at: 51, actorId: 3, callId: 9, outcome: "Success", workerId: 0, startedAt: 21, endedAt: 50 }
    ]
    for (const event of events) {
      insights.onEvent(event)
      state.onEvent(event)
    }
    assert.deepStrictEqual(state.snapshot().slowest, [
      { kind: "actor call", name: "Counter.add", id: 9, workerId: 0, millis: 29, input: undefined },
      { kind: "task", name: "Work", id: 7, workerId: 0, millis: 10, input: "{ n: 1 }" }
    ])
  })
})
