/**
 * `Cluster.pool` on the in-memory cluster: the unchanged `Task.run` / `map` / `mapUnordered` /
 * `stream` run their chunks on the runner's lane entities, which run them on the runner's own pool
 * of worker threads; ordering, errors (with the runner, the worker and the failing input),
 * fail-fast cancellation, timeouts and retries as on a local pool.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { existsSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { Cluster, Pipeline, PoolError, Task, TaskError } from "../../src/index.ts"
import { runnerKey } from "../../src/runtime/client/PoolClient.ts"
import Host, { ClusterTasks, Cube, Nap, Negative } from "../fixtures/cluster-actors.ts"
import { SumShared } from "../fixtures/shared-tasks.ts"

const Runner = Cluster.layerRunner(Host, Cluster.layerMemory)
const here = `${hostname()}/${process.pid}`

/** `effect` on a cluster pool over the in-memory runner. */
const onCluster = <A, E, R>(effect: Effect.Effect<A, E, R>, options?: Cluster.PoolOptions) =>
  effect.pipe(Effect.provide(Cluster.pool(ClusterTasks, options)), Effect.provide(Runner))

/** The runner's own pool (the one `layerRunner` builds; its type hides it): its tasks in flight or queued. */
const runnerPoolInFlight = Effect.map(runnerKey("Account"), (pool) => pool.stats().inFlight + pool.stats().queued) as unknown as Effect.Effect<number>

/**
 * The runner's pool's tasks once `done` holds of them, polled: what the pool does follows the
 * cluster's messages, which a loaded machine delays. Gives up (answering the last count) after 30 s.
 */
const runnerPoolUntil = (done: (tasks: number) => boolean) =>
  Effect.gen(function*() {
    let tasks = yield* runnerPoolInFlight
    for (let tries = 0; !done(tasks) && tries < 3_000; tries++) {
      yield* Effect.sleep(10)
      tasks = yield* runnerPoolInFlight
    }
    return tasks
  })

describe("Cluster.pool (in memory)", () => {
  it.live("Task.run, map, mapUnordered and stream run unchanged across the runner, in their order", () =>
    onCluster(Effect.gen(function*() {
      const inputs = Array.from({ length: 100 }, (_, n) => ({ n }))
      const cubes = yield* Task.map(Cube, inputs, { chunkSize: 7 })
      assert.deepStrictEqual(cubes.map((c) => c.cube), inputs.map(({ n }) => n ** 3))
      const auto = yield* Task.map(Cube, inputs)
      assert.deepStrictEqual(auto.map((c) => c.cube), inputs.map(({ n }) => n ** 3))
      const unordered = yield* Task.mapUnordered(Cube, inputs, { chunkSize: 9 })
      assert.deepStrictEqual(unordered.map((c) => c.cube).sort((a, b) => a - b), inputs.map(({ n }) => n ** 3))
      assert.strictEqual((yield* Task.run(Cube, { n: 4 })).cube, 64)
      const streamed = yield* Stream.range(0, 99).pipe(
        Stream.map((n) => ({ n })),
        Task.stream(Cube, { chunkSize: 9, concurrency: 3 }),
        Stream.runCollect
      )
      assert.deepStrictEqual(streamed.map((c) => c.cube), inputs.map(({ n }) => n ** 3))
      // Chunks ran in a worker of the runner's pool.
      const naps = yield* Task.map(Nap, [{ n: 1 }, { n: 2 }])
      assert.deepStrictEqual(naps.map((nap) => nap.n), [1, 2])
      assert.isAtLeast(naps[0]!.workerId, 0)
    })), 30_000)

  it.live("a fused pipeline stage runs unfused on a cluster pool (its runners serve the stages, not the chain)", () =>
    onCluster(Effect.gen(function*() {
      const naps = yield* Stream.range(1, 20).pipe(
        Stream.map((n) => ({ n })),
        Pipeline.task(Pipeline.fuse(Nap, Nap), { batch: 4 }),
        Stream.runCollect
      )
      assert.deepStrictEqual(naps.map((nap) => nap.n), Array.from({ length: 20 }, (_, i) => i + 1))
    })), 30_000)

  it.live("a declared error arrives as itself; a defect and a bad payload as TaskError naming the runner, worker and input", () =>
    onCluster(Effect.gen(function*() {
      const negative = yield* Effect.flip(Task.map(Cube, [{ n: 1 }, { n: -2 }, { n: 3 }], { chunkSize: 1 }))
      assert.instanceOf(negative, Negative)
      assert.strictEqual((negative as Negative).n, -2)
      const defect = yield* Effect.flip(Task.map(Nap, [{ n: 1 }, { n: 7, defect: true }, { n: 3 }]))
      assert.instanceOf(defect, TaskError.TaskError)
      const error = defect as TaskError.TaskError
      assert.strictEqual(error.reason._tag, "Defect")
      assert.include(error.reason.message, "no nap for 7")
      assert.strictEqual(error.runner, here)
      assert.isAtLeast(error.workerId, 0)
      assert.isAtLeast(error.taskId, 0)
      assert.strictEqual(error.attempts, 1)
      assert.include(error.input, "n: 7")
      assert.include(error.message, `of runner ${here}`)
      // Checked on the caller's side before anything is sent: only that task fails, with its path.
      const invalid = yield* Effect.flip(Task.run(Cube, { n: "x" as unknown as number }))
      assert.instanceOf(invalid, TaskError.TaskError)
      assert.strictEqual((invalid as TaskError.TaskError).reason._tag, "PayloadInvalid")
      assert.deepStrictEqual(((invalid as TaskError.TaskError).reason as TaskError.PayloadInvalid).path, ["n"])
      assert.strictEqual((invalid as TaskError.TaskError).workerId, -1)
    })), 30_000)

  it.live("fail-fast: the first failure cancels the chunks still running on the runner's pool", () =>
    onCluster(Effect.gen(function*() {
      const sleepers = Array.from({ length: 6 }, (_, n) => ({ n, millis: 60_000 }))
      // One task per chunk: the failure (first on the runner's one worker) is its own chunk, the
      // sleepers are on the runner's pool behind it when it fails.
      const failed = yield* Effect.flip(Task.map(Nap, [{ n: 99, millis: 300, defect: true }, ...sleepers], { chunkSize: 1 }))
      assert.strictEqual((failed as TaskError.TaskError).reason._tag, "Defect")
      // Cancelled there, not left running for a minute.
      assert.strictEqual(yield* runnerPoolUntil((n) => n === 0), 0, "the runner's pool still runs the cancelled tasks")
      // Interrupting the caller does the same, once its chunks reached the runner's pool (awaited:
      // a fixed 300 ms wait could end first on a loaded machine).
      const fiber = yield* Effect.forkChild(Task.map(Nap, sleepers, { chunkSize: 2 }))
      assert.isAbove(yield* runnerPoolUntil((n) => n > 0), 0)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(yield* runnerPoolUntil((n) => n === 0), 0)
    })), 30_000)

  it.live("a timeout is enforced in the runner's worker and fails only that task, as TaskError / Timeout", () =>
    onCluster(Effect.gen(function*() {
      const timedOut = yield* Effect.flip(Task.run(Nap, { n: 5, millis: 60_000 }, { timeout: "200 millis" }))
      assert.instanceOf(timedOut, TaskError.TaskError)
      assert.strictEqual((timedOut as TaskError.TaskError).reason._tag, "Timeout")
      assert.strictEqual((timedOut as TaskError.TaskError).runner, here)
      const fine = yield* Task.map(Nap, [{ n: 1, millis: 10 }, { n: 2 }], { timeout: "10 seconds" })
      assert.deepStrictEqual(fine.map((nap) => nap.n), [1, 2])
    })), 30_000)

  it.live("retries: a task lost with its worker on the runner fails as WorkerLost, or is re-sent alone per retries", () =>
    Effect.gen(function*() {
      const marker = (name: string) => join(tmpdir(), `ep-cluster-pool-${process.pid}-${Date.now()}-${name}`)
      const once = marker("no-retry")
      const lost = yield* Effect.flip(onCluster(Task.map(Nap, [{ n: 1 }, { n: 2, crashOnce: once }, { n: 3 }], { chunkSize: 1 })))
      assert.isTrue(existsSync(once), "the worker crashed")
      assert.instanceOf(lost, TaskError.TaskError)
      const error = lost as TaskError.TaskError
      assert.strictEqual(error.reason._tag, "WorkerLost")
      assert.strictEqual(error.attempts, 1)
      assert.strictEqual(error.runner, here)
      assert.include(error.input, "n: 2")
      const again = marker("retry")
      const naps = yield* onCluster(
        Task.map(Nap, [{ n: 1 }, { n: 2, crashOnce: again }, { n: 3 }, { n: 4 }], { chunkSize: 2 }),
        { retries: 1 }
      )
      assert.isTrue(existsSync(again), "the worker crashed")
      assert.deepStrictEqual(naps.map((nap) => nap.n), [1, 2, 3, 4])
    }), 60_000)

  it.live("Cluster.map and Cluster.stream are Task.map and Task.stream on a pool of their own", () =>
    Effect.gen(function*() {
      const inputs = Array.from({ length: 50 }, (_, n) => ({ n }))
      const cubes = yield* Cluster.map(Cube, inputs, { chunkSize: 7 })
      assert.deepStrictEqual(cubes.map((c) => c.cube), inputs.map(({ n }) => n ** 3))
      const streamed = yield* Stream.fromIterable(inputs).pipe(Cluster.stream(Cube, { chunkSize: 4 }), Stream.runCollect)
      assert.deepStrictEqual(streamed.map((c) => c.cube), inputs.map(({ n }) => n ** 3))
      const defect = yield* Effect.flip(Cluster.map(Nap, [{ n: 8, defect: true }]))
      assert.strictEqual((defect as TaskError.TaskError).runner, here)
    }).pipe(Effect.provide(Runner)), 30_000)

  it.effect("invalid options fail the Layer with PoolError / InvalidOptions", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.flip(Effect.provide(Effect.void, Cluster.pool(ClusterTasks, { size: 0 })))
      assert.instanceOf(bad, PoolError.PoolError)
      assert.strictEqual(bad.reason._tag, "InvalidOptions")
    }).pipe(Effect.provide(Cluster.layerMemory)))

  it.effect("Cluster.map and Cluster.stream fail with PoolError where their pool does (they died)", () =>
    Effect.gen(function*() {
      const options = yield* Effect.flip(Cluster.map(Cube, [{ n: 1 }], { concurrency: 0 }))
      assert.instanceOf(options, PoolError.PoolError)
      assert.strictEqual((options as PoolError.PoolError).reason._tag, "InvalidOptions")
      const retries = yield* Effect.flip(Stream.make({ n: 1 }).pipe(Cluster.stream(Cube, { retries: -1 }), Stream.runDrain))
      assert.instanceOf(retries, PoolError.PoolError)
      const shared = yield* Effect.flip(Cluster.map(SumShared, []))
      assert.instanceOf(shared, PoolError.PoolError)
      assert.strictEqual((shared as PoolError.PoolError).reason._tag, "Unsupported")
    }).pipe(Effect.provide(Cluster.layerMemory)))

  it.effect("a bad chunkSize or chunkWindow of Cluster.map / Cluster.stream dies naming the function called", () =>
    Effect.gen(function*() {
      // Was: named `Task.map(Cube)` / `Task.stream(Cube)`, which the caller never wrote.
      const source = Stream.make({ n: 1 })
      const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown, any>]> = [
        ["Cluster.map(Cube): chunkSize must be a positive integer", Cluster.map(Cube, [{ n: 1 }], { chunkSize: 0 })],
        ["Cluster.stream(Cube): chunkSize must be a positive integer", Stream.runDrain(source.pipe(Cluster.stream(Cube, { chunkSize: 2.5 })))],
        ["Cluster.stream(Cube): chunkWindow must be a duration", Stream.runDrain(source.pipe(Cluster.stream(Cube, { chunkWindow: -1 })))]
      ]
      for (const [message, effect] of cases) {
        const exit = yield* Effect.exit(effect)
        assert.isTrue(Exit.isFailure(exit), `${message}: ran`)
        const defect = Cause.findDefect((exit as Exit.Failure<unknown, unknown>).cause)
        assert.isTrue(defect._tag === "Success", `${message}: not a defect`)
        const error = (defect as { readonly success: unknown }).success
        assert.instanceOf(error, RangeError)
        assert.include((error as RangeError).message, message)
      }
    }).pipe(Effect.provide(Cluster.layerMemory)))
})
