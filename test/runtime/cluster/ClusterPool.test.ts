/**
 * The cluster pool's rule 3 with a scripted transport (no cluster): a chunk lost with its runner
 * fails as `WorkerLost`, or, per `retries`, only its tasks are re-sent, each alone; the other
 * chunks of the map are sent once.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { ClusterError, Observe, Task, TaskError } from "../../../src/index.ts"
import { ClusterPool, type SendChunk } from "../../../src/runtime/cluster/ClusterPool.ts"
import { runnerKey } from "../../../src/runtime/client/PoolClient.ts"
import { EventHub } from "../../../src/runtime/observe/EventHub.ts"
import { Outcome } from "../../../src/runtime/protocol/protocol.ts"
import { Cube } from "../../fixtures/cluster-actors.ts"

/** A cluster whose lane `lost` loses the first chunk sent to it; every other chunk is answered. */
const scripted = (lost: string, retries: number) => {
  const sent: Array<ReadonlyArray<number>> = []
  let failed = false
  const send: SendChunk = (lane, payloads) =>
    Effect.suspend(() => {
      const ns = payloads.map((payload) => (payload as { readonly n: number }).n)
      sent.push(ns)
      if (lane === lost && !failed) {
        failed = true
        return Effect.fail(
          new ClusterError.ClusterError({
            actorName: "Task/Cube",
            entityId: lane,
            method: "run",
            reason: new ClusterError.Undelivered({ failure: "RpcClientError", message: "runner unreachable" })
          })
        )
      }
      return Effect.succeed({
        runner: "fake/1",
        settled: ns.flatMap((n, position) => [position, Outcome.Success, { cube: n ** 3, pid: 1 }, 0, 1, n])
      })
    })
  const pool = new ClusterPool(
    new Map([["Cube", { task: Cube, send }]]),
    { size: 2, concurrency: 4, retries },
    (effect) => Effect.runFork(effect),
    new EventHub(() => performance.now())
  )
  return { sent, pool, provide: Effect.provideContext(Context.make(runnerKey("Cube"), pool)) }
}

const inputs = Array.from({ length: 8 }, (_, n) => ({ n }))

/**
 * A runner whose pool retries a task once (`retries: 1` there) and reports input `n` lost with its
 * worker the first `lostTimes` times it is sent: two attempts on the runner each time.
 */
const retryingRunner = (n: number, lostTimes: number, retries: number) => {
  let sends = 0
  const send: SendChunk = (_lane, payloads) =>
    Effect.sync(() => ({
      runner: "fake/1",
      settled: payloads.flatMap((payload, position): Array<unknown> => {
        const value = (payload as { readonly n: number }).n
        if (value !== n) return [position, Outcome.Success, { cube: value ** 3, pid: 1 }, 0, 1, value]
        return ++sends <= lostTimes
          ? [position, Outcome.Lost, { kind: "Crashed", message: "worker died" }, 0, 2, value]
          : [position, Outcome.Success, { cube: value ** 3, pid: 1 }, 0, 1, value]
      })
    }))
  const pool = new ClusterPool(
    new Map([["Cube", { task: Cube, send }]]),
    { size: 2, concurrency: 4, retries },
    (effect) => Effect.runFork(effect),
    new EventHub(() => performance.now())
  )
  return { sends: () => sends, provide: Effect.provideContext(Context.make(runnerKey("Cube"), pool)) }
}

describe("ClusterPool", () => {
  it.effect("retries: a chunk lost with its runner is re-sent, only its tasks, each alone", () =>
    Effect.gen(function*() {
      const cluster = scripted("lane-1", 1)
      const cubes = yield* cluster.provide(Task.map(Cube, inputs, { chunkSize: 2 }))
      assert.deepStrictEqual(cubes.map((c) => c.cube), inputs.map(({ n }) => n ** 3))
      // The four chunks once each, then the lost chunk's two tasks again, alone.
      const chunks = cluster.sent.filter((ns) => ns.length === 2).map((ns) => ns.join(",")).sort()
      assert.deepStrictEqual(chunks, ["0,1", "2,3", "4,5", "6,7"])
      assert.deepStrictEqual(cluster.sent.filter((ns) => ns.length === 1).map((ns) => ns[0]).sort(), [2, 3])
      assert.strictEqual(cluster.sent.length, 6)
    }))

  it.effect("observers see its lanes as workers: a timeline's counters of a map with a lost chunk never go below zero and end at zero", () =>
    Effect.gen(function*() {
      const cluster = scripted("lane-1", 1)
      const counters = yield* cluster.provide(Effect.scoped(Effect.gen(function*() {
        const timeline = yield* Observe.timeline(Task.group(Cube))
        yield* Task.map(Cube, inputs, { chunkSize: 2 })
        return timeline.trace().traceEvents.flatMap((event) =>
          event.ph === "C" ? [event.args as { readonly queued: number; readonly inFlight: number }] : []
        )
      })))
      // Tasks were settled by runners' workers the pool never dispatched to: in flight went
      // below zero and queued never came down.
      for (const counter of counters) {
        assert.isAtLeast(counter.queued, 0)
        assert.isAtLeast(counter.inFlight, 0)
      }
      assert.isTrue(counters.some((counter) => counter.inFlight > 0))
      assert.deepStrictEqual(counters.at(-1), { queued: 0, inFlight: 0 })
      assert.strictEqual(cluster.pool.stats().busyWorkers, 0)
    }))

  it.effect("retries count the pool's own sends: a runner's pool retries do not use them up", () =>
    Effect.gen(function*() {
      // The runner tried twice and lost it; retries: 1 re-sends it once, whatever the runner's pool did.
      const once = retryingRunner(3, 1, 1)
      const cubes = yield* once.provide(Task.map(Cube, inputs, { chunkSize: 2 }))
      assert.deepStrictEqual(cubes.map((c) => c.cube), inputs.map(({ n }) => n ** 3))
      assert.strictEqual(once.sends(), 2)
      // Lost at every send: retries + 1 sends, the error counting every attempt on every runner.
      const always = retryingRunner(3, Infinity, 2)
      const error = yield* Effect.flip(always.provide(Task.map(Cube, inputs, { chunkSize: 2 })))
      assert.instanceOf(error, TaskError.TaskError)
      assert.strictEqual((error as TaskError.TaskError).reason._tag, "WorkerLost")
      assert.strictEqual(always.sends(), 3)
      assert.strictEqual((error as TaskError.TaskError).attempts, 6)
    }))

  it.effect("stats: busy workers never exceed workers, with more chunks in flight than workers", () =>
    Effect.gen(function*() {
      // Four chunks held on four lanes of a pool of two workers: the old count said 4 busy of 2.
      const pool = new ClusterPool(
        new Map([["Cube", { task: Cube, send: () => Effect.never }]]),
        { size: 2, concurrency: 4, retries: 0 },
        (effect) => Effect.runFork(effect),
        new EventHub(() => performance.now())
      )
      const ticket = pool.submit({
        taskName: "Cube",
        payloads: inputs,
        chunkSize: 2,
        coalesce: false,
        timeoutMillis: 0,
        whenFull: "wait",
        settle: () => {}
      })
      const stats = pool.stats()
      assert.strictEqual(stats.inFlight, 8)
      assert.strictEqual(stats.busyWorkers, 2)
      assert.isAtMost(stats.busyWorkers!, stats.workers)
      yield* Effect.promise(() => ticket.cancel())
      assert.strictEqual(pool.stats().busyWorkers, 0)
    }))

  it.effect("cancel drops a submission's queued chunks at once, not when a slot frees", () =>
    Effect.gen(function*() {
      let sends = 0
      const pool = new ClusterPool(
        new Map([["Cube", { task: Cube, send: () => Effect.suspend(() => (sends++, Effect.never)) }]]),
        { size: 2, concurrency: 1, retries: 0 },
        (effect) => Effect.runFork(effect),
        new EventHub(() => performance.now())
      )
      const submit = (payloads: ReadonlyArray<unknown>) =>
        pool.submit({ taskName: "Cube", payloads, chunkSize: 2, coalesce: false, timeoutMillis: 0, whenFull: "wait", settle: () => {} })
      const holding = submit(inputs.slice(0, 2))
      const queued = submit(inputs)
      assert.strictEqual(pool.stats().queued, 8)
      yield* Effect.promise(() => queued.cancel())
      // They stayed queued (and counted) until the chunk holding the only slot ended: a minute, say.
      assert.strictEqual(pool.stats().queued, 0)
      yield* Effect.promise(() => holding.cancel())
      assert.strictEqual(pool.stats().queued, 0)
      assert.strictEqual(sends, 1, "the cancelled chunks were never sent")
    }))

  it.effect("no retries: the lost chunk's task fails as TaskError / WorkerLost naming its input; no chunk is re-sent", () =>
    Effect.gen(function*() {
      const cluster = scripted("lane-1", 0)
      const error = yield* Effect.flip(cluster.provide(Task.map(Cube, inputs, { chunkSize: 2 })))
      assert.instanceOf(error, TaskError.TaskError)
      const lost = error as TaskError.TaskError
      assert.strictEqual(lost.reason._tag, "WorkerLost")
      assert.include(lost.reason.message, "runner unreachable")
      assert.strictEqual(lost.attempts, 1)
      assert.strictEqual(lost.input, "{ n: 2 }")
      assert.strictEqual(cluster.sent.length, 4)
    }))
})
