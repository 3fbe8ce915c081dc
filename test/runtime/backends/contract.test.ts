/**
 * The task-runtime contract, run over every backend: what a caller sees for successes, declared
 * errors, defects, bad payloads, timeouts, interruption, dead workers, per-worker state and
 * shutdown. One loop over backend Layers: a row is a Layer, its capabilities, and how a program
 * runs on it (as it is, or as the program of a seeded simulation). Cases a backend cannot express
 * are skipped by capability (an in-thread worker cannot be terminated or crash alone).
 *
 * On the simulated backend each case runs as the program of one `Simulation.run` (fixed seed,
 * no faults): the same assertions, on virtual time. Crashes there are injected faults, so the
 * cases that kill a worker from its handler are covered by `Simulation.test.ts` instead.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { existsSync, mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PoolError, ProcessBackend, type Simulation, Task, TaskError, WorkerPool } from "../../../src/index.ts"
import {
  Add,
  ContractTasks,
  Die,
  DieOnce,
  Explode,
  HeapLimits,
  Liar,
  Overdrawn,
  Shift,
  Sleep,
  Spin,
  Sum,
  WhoAmI,
  Withdraw
} from "../../fixtures/tasks.ts"
import { poolReasonOf, reasonOf, rows } from "../../support/backends.ts"

const fixture = (name: string) => new URL(`../../fixtures/${name}.ts`, import.meta.url)
const entryUrl = fixture("worker")

const tempDir = () => mkdtempSync(join(tmpdir(), "ep-contract-"))

/** The worker ids that answer, once `count` distinct workers do (a replacement needs a moment to start). */
const awaitWorkers = (count: number) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 100; attempt++) {
      const answers = yield* Task.map(WhoAmI, Array.from({ length: 20 }, () => ({})), { chunkSize: 1 })
      const ids = new Set(answers.map((w) => w.workerId))
      if (ids.size >= count) return ids
      yield* Effect.sleep("50 millis")
    }
    return assert.fail(`${count} workers never answered`)
  })

afterEach(() => {
  // Every test closed its pool: no worker thread may outlive it.
  assert.strictEqual(WorkerPool.liveThreads(), 0)
  assert.strictEqual(ProcessBackend.liveProcesses(), 0)
})

describe.each(rows)("contract on $name", (row) => {
  const pool = (options: Partial<WorkerPool.Options> = {}): Layer.Layer<
    Task.Runner<Task.Tasks<typeof ContractTasks>["name"]>,
    PoolError.PoolError,
    Simulation.World
  > => WorkerPool.layer(ContractTasks, { entry: entryUrl, size: 2, ...options }).pipe(Layer.provide(row.backend))
  const within = row.within
  // Killing a worker from its handler (process.exit, out of memory) takes a worker with a heap of
  // its own; stopping a loop that never yields takes a worker that can be terminated.
  const crashes = row.capabilities.isolatesCrashes ? it.live : it.live.skip
  const terminates = row.capabilities.canTerminate ? it.live : it.live.skip
  const heapLimits = row.capabilities.heapLimits ? it.live : it.live.skip

  describe("results", () => {
    it.live("run returns the handler's success", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* Task.run(Add, { a: 2, b: 3 }), 5)
      }).pipe(Effect.provide(pool()), within))

    it.live("map keeps input order, over chunk sizes and both workers", () =>
      Effect.gen(function*() {
        const inputs = Array.from({ length: 1_000 }, (_, i) => ({ a: i, b: i }))
        for (const chunkSize of [undefined, 1, 7, 1_000]) {
          const out = yield* Task.map(Add, inputs, { chunkSize })
          assert.deepStrictEqual(out, inputs.map(({ a, b }) => a + b))
        }
        const workers = yield* Task.map(WhoAmI, Array.from({ length: 200 }, () => ({})), { chunkSize: 10 })
        assert.strictEqual(new Set(workers.map((w) => w.workerId)).size, 2)
      }).pipe(Effect.provide(pool()), within))

    it.live("mapUnordered returns every result once", () =>
      Effect.gen(function*() {
        const inputs = Array.from({ length: 500 }, (_, i) => ({ a: i, b: 0 }))
        const out = yield* Task.mapUnordered(Add, inputs, { chunkSize: 16 })
        assert.deepStrictEqual([...out].sort((x, y) => x - y), inputs.map(({ a }) => a))
      }).pipe(Effect.provide(pool()), within))

    it.live("stream keeps order and pulls upstream only as results leave", () =>
      Effect.gen(function*() {
        let pulled = 0
        let maxAhead = 0
        let emitted = 0
        const out = yield* Stream.range(0, 1_999).pipe(
          Stream.tap(() => Effect.sync(() => void pulled++)),
          Stream.map((i) => ({ a: i, b: 1 })),
          Task.stream(Add, { chunkSize: 50, concurrency: 2 }),
          Stream.tap(() =>
            Effect.sync(() => {
              emitted++
              maxAhead = Math.max(maxAhead, pulled - emitted)
            })
          ),
          Stream.runCollect
        )
        assert.deepStrictEqual(out, Array.from({ length: 2_000 }, (_, i) => i + 1))
        // Bounded: a few chunks ahead of the consumer, never the whole stream.
        assert.isBelow(maxAhead, 500)
      }).pipe(Effect.provide(pool()), within))

    it.live("a Schema with a transformation is encoded and decoded across the boundary", () =>
      Effect.gen(function*() {
        const at = new Date("2026-01-01T00:00:00.000Z")
        const out = yield* Task.run(Shift, { at })
        assert.instanceOf(out, Date)
        assert.strictEqual(out.getTime(), at.getTime() + 1000)
      }).pipe(Effect.provide(pool()), within))
  })

  describe("errors", () => {
    it.live("a declared error arrives as the same class and catchTag works", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Task.run(Withdraw, { balance: 10, amount: 25 }))
        assert.instanceOf(error, Overdrawn)
        assert.deepStrictEqual({ balance: (error as Overdrawn).balance, requested: (error as Overdrawn).requested }, {
          balance: 10,
          requested: 25
        })
        const recovered = yield* Task.run(Withdraw, { balance: 1, amount: 2 }).pipe(
          Effect.catchTag("Overdrawn", (e) => Effect.succeed(-e.requested))
        )
        assert.strictEqual(recovered, -2)
      }).pipe(Effect.provide(pool()), within))

    it.live("a thrown exception arrives as a Defect with remote message, stack, worker, task, task id and input", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Task.run(Explode, { message: "kernel blew up" }))
        const defect = reasonOf(error)
        assert.instanceOf(defect, TaskError.Defect)
        const failed = error as TaskError.TaskError
        assert.strictEqual(failed.taskName, "Explode")
        assert.strictEqual((defect as TaskError.Defect).remoteName, "RangeError")
        assert.strictEqual(defect.message, "kernel blew up")
        assert.include((defect as TaskError.Defect).remoteStack, "fixtures/worker.ts")
        assert.include(failed.input, "kernel blew up")
        assert.include([0, 1], failed.workerId)
        assert.isAtLeast(failed.taskId, 0)
      }).pipe(Effect.provide(pool()), within))

    it.live("the input rendering in an error is bounded", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Task.run(Explode, { message: "x".repeat(100_000) }))
        assert.isAtMost((error as TaskError.TaskError).input.length, TaskError.maxInputRendering)
      }).pipe(Effect.provide(pool()), within))

    it.live("a malformed payload fails only its own task, naming the path", () =>
      Effect.gen(function*() {
        const [bad, good1, good2] = yield* Effect.all([
          Task.run(Sum, { values: [1, 2, 2.5], label: "x" }),
          Task.run(Sum, { values: [1, 2], label: "y" }),
          Task.run(Add, { a: 1, b: 1 })
        ], { concurrency: "unbounded", mode: "result" })
        assert.isTrue(Result.isFailure(bad!))
        const error = (bad as Result.Failure<unknown, TaskError.TaskError>).failure
        const issue = reasonOf(error)
        assert.instanceOf(issue, TaskError.PayloadInvalid)
        assert.deepStrictEqual((issue as TaskError.PayloadInvalid).path, ["values", 2])
        assert.include(error.message, `PayloadInvalid at ["values",2]: `, "the message names the path too")
        assert.include([0, 1], error.workerId)
        assert.deepStrictEqual(good1, Result.succeed(3))
        assert.deepStrictEqual(good2, Result.succeed(2))
        // A payload that is not even an object, smuggled past the types.
        const wrong = yield* Effect.flip(Task.run(Sum, { values: "nope", label: 1 } as never))
        assert.deepStrictEqual((reasonOf(wrong) as TaskError.PayloadInvalid).path, ["values"])
      }).pipe(Effect.provide(pool()), within))

    it.live("a result that does not match the success Schema is a defect", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Task.run(Liar, {}))
        assert.instanceOf(reasonOf(error), TaskError.Defect)
        assert.include(reasonOf(error).message, "success Schema")
      }).pipe(Effect.provide(pool()), within))

    it.live("map fails fast with the first failure and stops the rest", () =>
      Effect.gen(function*() {
        const dir = tempDir()
        const inputs = [
          { balance: 1, amount: 5 },
          ...Array.from({ length: 50 }, () => ({ balance: 10, amount: 1 }))
        ]
        const error = yield* Effect.flip(Task.map(Withdraw, inputs, { chunkSize: 1 }))
        assert.instanceOf(error, Overdrawn)
        // The pool is still healthy afterwards.
        assert.strictEqual(yield* Task.run(Add, { a: 1, b: 2 }), 3)
        void dir
      }).pipe(Effect.provide(pool()), within))

    it.live("a per-task timeout fails with a Timeout and interrupts the handler in the worker", () =>
      Effect.gen(function*() {
        const marker = join(tempDir(), "timed-out")
        const error = yield* Effect.flip(Task.run(Sleep, { millis: 10_000, marker }, { timeout: "100 millis" }))
        assert.instanceOf(reasonOf(error), TaskError.Timeout)
        assert.strictEqual((reasonOf(error) as TaskError.Timeout).timeoutMillis, 100)
        assert.isTrue(existsSync(marker), "the handler's finalizer ran")
        assert.strictEqual(yield* Task.run(Sleep, { millis: 1, marker }, { timeout: "5 seconds" }), 1)
      }).pipe(Effect.provide(pool()), within))

    it.live("interrupting the caller interrupts the handler inside the worker; its finalizers run", () =>
      Effect.gen(function*() {
        const marker = join(tempDir(), "interrupted")
        const fiber = yield* Effect.forkChild(Task.run(Sleep, { millis: 10_000, marker }))
        yield* Effect.sleep("200 millis")
        yield* Fiber.interrupt(fiber)
        assert.isTrue(existsSync(marker), "the finalizer ran before interruption completed")
        assert.strictEqual(yield* Task.run(Add, { a: 1, b: 2 }), 3)
      }).pipe(Effect.provide(pool()), within))

    terminates("a handler that never yields is terminated after interruptGrace and its worker replaced", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Task.run(Spin, { millis: 60_000 }))
        yield* Effect.sleep("200 millis")
        const before = yield* Task.run(WhoAmI, {})
        yield* Fiber.interrupt(fiber)
        // Both workers answer again; the spinning one was replaced by a new worker id.
        const ids = yield* awaitWorkers(2)
        assert.isTrue(ids.has(before.workerId))
        assert.isTrue([...ids].some((id) => id >= 2), "a replacement worker serves tasks")
      }).pipe(Effect.provide(pool({ interruptGrace: "200 millis" })), within))

    terminates("a timed-out handler that never yields fails with a Timeout and its worker is replaced", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Task.run(Spin, { millis: 60_000 }, { timeout: "100 millis" }))
        assert.instanceOf(reasonOf(error), TaskError.Timeout)
        assert.strictEqual(yield* Task.run(Add, { a: 2, b: 2 }), 4)
      }).pipe(Effect.provide(pool({ interruptGrace: "200 millis" })), within))

    crashes("a worker that exits fails only the task it was running with WorkerLost, and is replaced", () =>
      Effect.gen(function*() {
        const [died, ...others] = yield* Effect.all([
          Task.run(Die, { how: "exit" }),
          ...Array.from({ length: 20 }, (_, i) => Task.run(Add, { a: i, b: 0 }))
        ], { concurrency: "unbounded", mode: "result" })
        assert.isTrue(Result.isFailure(died!))
        const lost = (died as Result.Failure<unknown, TaskError.TaskError>).failure
        const reason = reasonOf(lost)
        assert.instanceOf(reason, TaskError.WorkerLost)
        assert.strictEqual((reason as TaskError.WorkerLost).exit, "Exited")
        assert.strictEqual(lost.taskName, "Die")
        assert.include(reason.message, "exited with code 3")
        assert.strictEqual(lost.attempts, 1)
        // Tasks coalesced into the dying worker's message: those it finished were flushed as it
        // exited, those it never started were sent again. Every one succeeds.
        const succeeded = others.filter(Result.isSuccess).length
        const lostToo = others.filter((r) => Result.isFailure(r) && reasonOf(r.failure)._tag === "WorkerLost").length
        assert.strictEqual(succeeded + lostToo, 20)
        assert.strictEqual(succeeded, 20)
        const ids = yield* awaitWorkers(2)
        assert.isTrue([...ids].some((id) => id >= 2), "the pool is back to two workers, one a replacement")
      }).pipe(Effect.provide(pool()), within))

    crashes("a worker that runs out of memory fails its task with WorkerLost, OutOfMemory", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Task.run(Die, { how: "oom" }))
        assert.instanceOf(reasonOf(error), TaskError.WorkerLost)
        assert.strictEqual((reasonOf(error) as TaskError.WorkerLost).exit, "OutOfMemory")
        assert.strictEqual(yield* Task.run(Add, { a: 1, b: 1 }), 2)
      }).pipe(Effect.provide(pool({ size: 1, resourceLimits: { maxOldGenerationSizeMb: 48 } })), within))

    heapLimits("workers get a 16 MB young generation unless resourceLimits says otherwise, field by field", () =>
      Effect.gen(function*() {
        const limits = (options: Partial<WorkerPool.Options>) =>
          Task.run(HeapLimits, {}).pipe(Effect.provide(pool({ size: 1, ...options })))
        // A thread takes it exactly; a child process in whole semi-spaces (a third each): 15 MB.
        const byDefault = (yield* limits({})).maxYoungGenerationSizeMb
        assert.include([16, 15], byDefault)
        const oldOnly = yield* limits({ resourceLimits: { maxOldGenerationSizeMb: 96 } })
        assert.deepStrictEqual([oldOnly.maxYoungGenerationSizeMb, oldOnly.maxOldGenerationSizeMb], [byDefault, 96])
        assert.strictEqual((yield* limits({ resourceLimits: { maxYoungGenerationSizeMb: 48 } })).maxYoungGenerationSizeMb, 48)
        // A field left undefined is not given (threads gave V8 no limit, processes the default).
        const unset = yield* limits({ resourceLimits: { maxOldGenerationSizeMb: 96, maxYoungGenerationSizeMb: undefined } })
        assert.deepStrictEqual([unset.maxYoungGenerationSizeMb, unset.maxOldGenerationSizeMb], [byDefault, 96])
        // 0 hands V8 no limit: it picks its own, which is never our default.
        assert.notInclude([16, 15], (yield* limits({ resourceLimits: { maxYoungGenerationSizeMb: 0 } })).maxYoungGenerationSizeMb)
      }).pipe(within))

    crashes("with retries, a task whose worker died is re-sent, within its bound", () =>
      Effect.gen(function*() {
        const dir = tempDir()
        assert.strictEqual(yield* Task.run(DieOnce, { marker: join(dir, "once") }), 1)
        const error = yield* Effect.flip(Task.run(Die, { how: "exit" }))
        assert.instanceOf(reasonOf(error), TaskError.WorkerLost)
        assert.strictEqual((error as TaskError.TaskError).attempts, 3, "sent once, re-sent twice")
      }).pipe(Effect.provide(pool({ retries: 2 })), within))

    crashes("without retries, a task whose worker died is not re-sent", () =>
      Effect.gen(function*() {
        const dir = tempDir()
        const error = yield* Effect.flip(Task.run(DieOnce, { marker: join(dir, "once") }))
        assert.instanceOf(reasonOf(error), TaskError.WorkerLost)
      }).pipe(Effect.provide(pool()), within))
  })

  describe("per-worker layer and lifecycle", () => {
    it.live("the per-worker Layer is built once per worker and kept across calls and maps", () =>
      Effect.gen(function*() {
        for (let round = 0; round < 3; round++) {
          const answers = yield* Task.map(WhoAmI, Array.from({ length: 100 }, () => ({})), { chunkSize: 5 })
          for (const answer of answers) {
            assert.strictEqual(answer.model, `model@${answer.workerId}`)
            if (row.capabilities.isolatesCrashes) assert.strictEqual(answer.loads, 1, "one load per worker (its own module state)")
          }
        }
      }).pipe(Effect.provide(pool()), within))

    it.live("closing the pool runs every worker's exit hooks", () =>
      Effect.gen(function*() {
        const dir = tempDir()
        process.env.EP_EXIT_DIR = dir
        yield* Effect.scoped(Layer.build(pool()))
        delete process.env.EP_EXIT_DIR
        assert.deepStrictEqual(readdirSync(dir).sort(), ["exit-0", "exit-1"])
      }).pipe(within))

    it.live("an exit hook that never finishes is cut off by exitTimeout; the pool still closes", () =>
      Effect.gen(function*() {
        const options = { entry: fixture("worker-exit-hangs") }
        const context = yield* Effect.scoped(Layer.build(pool({ ...options, exitTimeout: "200 millis" })))
        void context
        // Reaching this line means the scope closed; afterEach checks no thread is left.
      }).pipe(within))

    it.live("a Layer that fails to build fails the pool with WorkerInitFailed", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(pool({ entry: fixture("worker-init-fails") }))))
        const reason = poolReasonOf(error)
        assert.instanceOf(reason, PoolError.WorkerInitFailed)
        assert.strictEqual((reason as PoolError.WorkerInitFailed).failure, "Failed")
        assert.include(reason.message, "model file is corrupt")
        // The remote stack once: its first line was printed twice (before it, and as its start).
        assert.strictEqual(reason.message.split("model file is corrupt").length, 2, reason.message)
      }).pipe(within))

    it.live("a Layer that never finishes fails the pool with WorkerInitFailed after initTimeout", () =>
      Effect.gen(function*() {
        const options = { entry: fixture("worker-init-hangs"), initTimeout: "1 second" } as const
        const error = yield* Effect.flip(Effect.scoped(Layer.build(pool(options))))
        const reason = poolReasonOf(error)
        assert.instanceOf(reason, PoolError.WorkerInitFailed)
        assert.strictEqual((reason as PoolError.WorkerInitFailed).failure, "Timeout")
      }).pipe(within))

    it.live("a module that is not a worker entry fails the pool with WorkerInitFailed", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(pool({ entry: fixture("worker-no-default") }))))
        assert.instanceOf(poolReasonOf(error), PoolError.WorkerInitFailed)
        assert.include(poolReasonOf(error).message, "Worker.serve")
        assert.strictEqual(poolReasonOf(error).message.split("has no default export").length, 2, poolReasonOf(error).message)
        assert.include(poolReasonOf(error).message, "export default Worker.serve(", "it says how to write one")
      }).pipe(within))

    it.live("invalid options fail with InvalidOptions naming the option", () =>
      Effect.gen(function*() {
        const cases: Array<[Partial<WorkerPool.Options>, ReadonlyArray<string>]> = [
          [{ size: 0 }, ["size"]],
          [{ size: 1.5 }, ["size"]],
          [{ retries: -1 }, ["retries"]],
          [{ initTimeout: "soon" as never }, ["initTimeout"]],
          [{ interruptGrace: -5 }, ["interruptGrace"]],
          // Duration.fromInput reads NaN as 0: every worker's init "timed out" at once.
          [{ initTimeout: Number.NaN }, ["initTimeout"]],
          [{ interruptGrace: Number.NaN }, ["interruptGrace"]],
          // The caller's thread would spin for a reply without end, deaf to timeouts and worker exits.
          [{ replyWait: Infinity }, ["replyWait"]],
          [{ pipelineDepth: Number.NaN }, ["pipelineDepth"]],
          [{ maxQueued: 0 }, ["maxQueued"]],
          [{ whenFull: "drop" as never }, ["whenFull"]],
          // V8 aborts the whole process for an old generation under 3 MB; "lots" is no size at all.
          [{ resourceLimits: { maxOldGenerationSizeMb: 0 } }, ["resourceLimits", "maxOldGenerationSizeMb"]],
          [{ resourceLimits: { maxOldGenerationSizeMb: 1 } }, ["resourceLimits", "maxOldGenerationSizeMb"]],
          [{ resourceLimits: { maxOldGenerationSizeMb: -5 } }, ["resourceLimits", "maxOldGenerationSizeMb"]],
          [{ resourceLimits: { maxOldGenerationSizeMb: "lots" as never } }, ["resourceLimits", "maxOldGenerationSizeMb"]],
          [{ resourceLimits: { maxYoungGenerationSizeMb: 2.5 } }, ["resourceLimits", "maxYoungGenerationSizeMb"]],
          [{ resourceLimits: { stackSizeMb: 4 } as never }, ["resourceLimits", "stackSizeMb"]],
          [{ resourceLimits: 64 as never }, ["resourceLimits"]],
          [{ resourceLimits: { maxYoungGenerationSizeMb: -1 } }, ["resourceLimits", "maxYoungGenerationSizeMb"]],
          [{ backend: "gpu" } as never, ["backend"]],
          // A number died in the module lookup (entry.startsWith is not a function).
          [{ entry: 42 as never }, ["entry"]]
        ]
        for (const [options, path] of cases) {
          const error = yield* Effect.flip(Effect.scoped(Layer.build(pool(options))))
          const reason = poolReasonOf(error)
          assert.instanceOf(reason, PoolError.InvalidOptions, JSON.stringify(options))
          assert.deepStrictEqual((reason as PoolError.InvalidOptions).path, path)
          // What a log shows: the message names the option too.
          assert.include(error.message, path.join("."), JSON.stringify(options))
        }
      }).pipe(within))

    it.live("tasks submitted to a closed pool fail with PoolClosed", () =>
      Effect.gen(function*() {
        const context = yield* Effect.scoped(Layer.build(pool()))
        const exit = yield* Effect.exit(Task.run(Add, { a: 1, b: 1 }).pipe(Effect.provideContext(context)))
        assert.isTrue(Exit.isFailure(exit))
        const error = yield* Effect.flip(Task.run(Add, { a: 1, b: 1 }).pipe(Effect.provideContext(context)))
        assert.instanceOf(reasonOf(error), TaskError.PoolClosed)
        assert.include(reasonOf(error).message, "closed")
      }).pipe(within))

    it.live("a map, a stream and a map that does not fit the queue fail typed when the pool answers at once", () =>
      Effect.gen(function*() {
        // Was: the pool settles these before it hands back the ticket, and the batch's fail-fast
        // cancelled through a ticket not yet assigned: a ReferenceError defect, not a TaskError.
        const closed = yield* Effect.scoped(Layer.build(pool()))
        const mapped = yield* Effect.flip(Task.map(Add, [{ a: 1, b: 1 }, { a: 2, b: 2 }]).pipe(Effect.provideContext(closed)))
        assert.instanceOf(reasonOf(mapped), TaskError.PoolClosed)
        const streamed = yield* Effect.flip(
          Stream.make({ a: 1, b: 1 }).pipe(Task.stream(Add), Stream.runCollect, Effect.provideContext(closed))
        )
        assert.instanceOf(reasonOf(streamed), TaskError.PoolClosed)
        const full = yield* Effect.flip(
          Task.map(Add, Array.from({ length: 4 }, (_, i) => ({ a: i, b: 0 })), { whenFull: "fail" }).pipe(
            Effect.provide(pool({ maxQueued: 1 }))
          )
        )
        assert.instanceOf(reasonOf(full), TaskError.PoolSaturated)
      }).pipe(within))
  })
})
