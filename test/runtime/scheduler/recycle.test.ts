/**
 * Recycling (the Dispatcher's rule 11), on every backend: a worker is sent at most
 * `maxTasksPerWorker` tasks, then retires — a replacement starts, it answers what it holds, shuts
 * down gracefully (its exit hooks run) and is reported `Recycled`; no task is lost or sent twice.
 * A worker that hosts actors is kept while they live. `recycleAboveHeapMb` retires a worker whose
 * heap passed the threshold (backends whose workers have heaps of their own).
 *
 * The same under random faults is a property of `Simulation.test.ts` (its pools draw a quota).
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Actor, PoolError, type Simulation, Task, WorkerPool } from "../../../src/index.ts"
import { Hoard, RecycleTasks, Tally, Where } from "../../fixtures/recycle.ts"
import { ContractTasks, DieOnce } from "../../fixtures/tasks.ts"
import { poolReasonOf, rows } from "../../support/backends.ts"

const entry = new URL("../../fixtures/recycle-worker.ts", import.meta.url)
const contractEntry = new URL("../../fixtures/worker.ts", import.meta.url)

type PoolEvent = WorkerPool.PoolEvent

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

/** Every event of the pool, while the scope is open. */
const record = Effect.gen(function*() {
  const events: Array<PoolEvent> = []
  yield* WorkerPool.observe(RecycleTasks, (event) => void events.push(event))
  return events
})

/** Each task's dispatches and settles by `submission#index`: each must be exactly one. */
const assertOnceEach = (events: ReadonlyArray<PoolEvent>) => {
  const sent = new Map<string, number>()
  const settled = new Map<string, number>()
  const bump = (counts: Map<string, number>, key: string) => counts.set(key, (counts.get(key) ?? 0) + 1)
  for (const event of events) {
    if (event._tag === "Dispatched") for (const task of event.tasks) bump(sent, `${task.submission}#${task.index}`)
    if (event._tag === "Settled") bump(settled, `${event.submission}#${event.index}`)
    assert.notStrictEqual(event._tag, "Requeued", "no task goes back to the queue when a worker is recycled")
  }
  for (const [key, count] of sent) assert.strictEqual(count, 1, `task ${key} sent ${count} times`)
  for (const [key, count] of settled) assert.strictEqual(count, 1, `task ${key} settled ${count} times`)
  return sent.size
}

describe.each(rows)("recycling on $name", (row) => {
  const pool = (options: Partial<WorkerPool.Options>): Layer.Layer<
    Task.Runner<"Where" | "Hoard" | "Tally">,
    PoolError.PoolError,
    Simulation.World
  > => WorkerPool.layer(RecycleTasks, { entry, size: 2, ...options }).pipe(Layer.provide(row.backend))
  const heapLimits = row.capabilities.heapLimits ? it.live : it.live.skip
  const crashes = row.capabilities.isolatesCrashes && row.realTime ? it.live : it.live.skip

  it.live("maxTasksPerWorker: each worker is sent at most its quota, recycled gracefully, nothing lost or sent twice", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "ep-recycle-"))
      process.env.EP_EXIT_DIR = dir
      const { events, perWorker } = yield* Effect.scoped(Effect.gen(function*() {
        const events = yield* record
        const perWorker = new Map<number, number>()
        // Chunks of 4 against a quota of 10: the third message to a worker is cut to 2.
        for (const round of [0, 1]) {
          const answers = yield* Task.map(Where, Array.from({ length: 45 }, (_, i) => ({ i: i + round * 45 })), { chunkSize: 4 })
          answers.forEach((answer, i) => assert.strictEqual(answer.i, i + round * 45, "map order"))
          for (const { workerId } of answers) perWorker.set(workerId, (perWorker.get(workerId) ?? 0) + 1)
          // Lone runs coalesce; they count against the quota too.
          const lone = yield* Effect.all(Array.from({ length: 7 }, (_, i) => Task.run(Where, { i })), { concurrency: "unbounded" })
          for (const { workerId } of lone) perWorker.set(workerId, (perWorker.get(workerId) ?? 0) + 1)
        }
        const stats = yield* WorkerPool.stats(RecycleTasks)
        assert.strictEqual(stats.settled, 104)
        assert.isAtLeast(stats.recycled, 8, "104 tasks over quotas of 10")
        return { events, perWorker }
      }).pipe(Effect.provide(pool({ maxTasksPerWorker: 10 }))))
      delete process.env.EP_EXIT_DIR
      for (const [id, count] of perWorker) assert.isAtMost(count, 10, `worker ${id} ran ${count} tasks`)
      assert.strictEqual(assertOnceEach(events), 104)
      const recycled = events.flatMap((e) => e._tag === "WorkerExited" && e.exit === "Recycled" ? [e] : [])
      assert.isAtLeast(recycled.length, 8)
      for (const event of recycled) assert.include(event.message, "after 10 tasks")
      // Every worker that ran tasks, recycled or closed with the pool, ran its exit hooks. (A
      // replacement still starting when the pool closes is terminated: it never served.)
      const exited = readdirSync(dir)
      for (const id of perWorker.keys()) assert.include(exited, `exit-${id}`)
      for (const event of recycled) assert.include(exited, `exit-${event.workerId}`)
    }).pipe(row.within))

  it.live("a worker that hosts an actor is not recycled while it lives; its state survives; it is recycled once the actor stops", () =>
    Effect.gen(function*() {
      yield* Effect.scoped(Effect.gen(function*() {
        const events = yield* record
        const home = yield* Effect.scoped(Effect.gen(function*() {
          const counter = yield* Actor.spawn(Tally, { start: 0 }, { worker: 0 })
          const home = (yield* counter.call("add", { n: 1 })).workerId
          yield* Task.map(Where, Array.from({ length: 40 }, (_, i) => ({ i })), { chunkSize: 1 })
          const after = yield* counter.call("add", { n: 1 })
          assert.deepStrictEqual(after, { total: 2, workerId: home }, "the actor kept its worker and its state")
          assert.isFalse(events.some((e) => e._tag === "WorkerExited" && e.workerId === home), "its worker was kept")
          return home
        }))
        // The actor stopped with its scope.
        yield* Task.map(Where, Array.from({ length: 10 }, (_, i) => ({ i })), { chunkSize: 1 })
        yield* Effect.sleep("50 millis")
        assert.isTrue(
          events.some((e) => e._tag === "WorkerExited" && e.workerId === home && e.exit === "Recycled"),
          "recycled once the actor was gone"
        )
      }).pipe(Effect.provide(pool({ maxTasksPerWorker: 5 }))))
    }).pipe(row.within))

  heapLimits("recycleAboveHeapMb: a worker whose heap passed the threshold after a task is recycled gracefully", () =>
    Effect.gen(function*() {
      yield* Effect.scoped(Effect.gen(function*() {
        const events = yield* record
        const first = yield* Task.run(Hoard, { mb: 8 })
        const leaky = yield* Task.run(Hoard, { mb: 96 })
        assert.strictEqual(leaky, first, "one worker")
        // The heap report follows the answer; the next task goes to the replacement.
        for (let i = 0; i < 100 && !events.some((e) => e._tag === "WorkerExited"); i++) yield* Effect.sleep("20 millis")
        const exit = events.find((e) => e._tag === "WorkerExited")
        assert.deepInclude(exit, { workerId: leaky, exit: "Recycled" })
        assert.include((exit as { message: string }).message, "heap")
        assert.notStrictEqual(yield* Task.run(Hoard, { mb: 1 }), leaky)
      }).pipe(Effect.provide(pool({ size: 1, recycleAboveHeapMb: 64 }))))
    }).pipe(row.within))

  if (!row.capabilities.heapLimits) {
    it.live("recycleAboveHeapMb is Unsupported where workers share the caller's heap", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(pool({ recycleAboveHeapMb: 64 }))))
        const reason = poolReasonOf(error)
        assert.instanceOf(reason, PoolError.Unsupported)
        assert.strictEqual((reason as PoolError.Unsupported).capability, "heapLimits")
      }).pipe(row.within))
  }

  crashes("a retiring worker that dies before it is shut down is reported as it died, not Recycled", () =>
    Effect.gen(function*() {
      // Was: any "Exited" end of a retired worker counted as its recycling — a `process.exit(1)`
      // in its last task too: `exit: "Recycled"`, `stats.recycled` raised, though no exit hook ran.
      const dir = mkdtempSync(join(tmpdir(), "ep-recycle-"))
      process.env.EP_EXIT_DIR = dir
      const events = yield* Effect.scoped(Effect.gen(function*() {
        const events: Array<PoolEvent> = []
        yield* WorkerPool.observe(ContractTasks, (event) => void events.push(event))
        // Its one task retires worker 0 as it is sent; it exits running it, and its retry runs on the replacement.
        assert.strictEqual(yield* Task.run(DieOnce, { marker: join(dir, "died") }), 1)
        return events
      }).pipe(Effect.provide(
        WorkerPool.layer(ContractTasks, { entry: contractEntry, size: 1, maxTasksPerWorker: 1, retries: 1 }).pipe(Layer.provide(row.backend))
      )))
      delete process.env.EP_EXIT_DIR
      const first = events.find((e) => e._tag === "WorkerExited" && e.workerId === 0)
      assert.deepInclude(first, { exit: "Exited" })
      assert.notInclude(readdirSync(dir), "exit-0", "it ran no exit hook")
    }).pipe(row.within))

  it.live("maxTasksPerWorker must be a positive integer", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Layer.build(pool({ maxTasksPerWorker: 0 }))))
      assert.deepStrictEqual((poolReasonOf(error) as PoolError.InvalidOptions).path, ["maxTasksPerWorker"])
    }).pipe(row.within))
})
