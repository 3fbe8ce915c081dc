/**
 * Pipelines on real threads: task and actor-pool stages keep input order when asked, fail fast by
 * default or record and skip within a budget, backpressure (a slow last stage bounds how far the
 * source runs ahead, so an unbounded source runs in bounded memory — counted, not timed), a
 * stateful actor stage, and worker-to-worker stages through channels.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scheduler from "effect/Scheduler"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Actor, ActorPool, Channel, Pipeline, Task, TaskError, WorkerPool } from "../../src/index.ts"
import {
  Accumulator,
  Boom,
  Jitter,
  Liar,
  Offset,
  Picky,
  PipelineTasks,
  Quits,
  Reissue,
  Relay,
  ScratchTotal,
  Spread,
  Square,
  Total,
  Unlucky
} from "../fixtures/pipeline-tasks.ts"

const entry = new URL("../fixtures/pipeline-worker.ts", import.meta.url)
const pool = WorkerPool.layer(PipelineTasks, { entry, size: 2 })

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe("Pipeline", () => {
  it.live("ordered stages keep input order through jittered tasks and actors; unordered ones deliver every element once", () =>
    Effect.gen(function*() {
      const replicas = ActorPool.make(yield* Actor.spawnMany(Accumulator, 2, {}))
      const input = range(300).map((i) => i * 13 + 1) // no multiples of 13
      const ordered = yield* Stream.fromIterable(input).pipe(
        Pipeline.task(Jitter, { batch: 8, concurrency: 4 }),
        Pipeline.actors(replicas, "slowAdd"),
        Stream.runCollect
      )
      assert.deepStrictEqual(ordered, input)
      const unordered = yield* Stream.fromIterable(input).pipe(
        Pipeline.task(Jitter, { batch: 8, concurrency: 4, ordered: false }),
        Pipeline.actors(replicas, "add", { ordered: false }),
        Stream.runCollect
      )
      assert.deepStrictEqual([...unordered].sort((a, b) => a - b), input)
      // The actor stage is stateful: the replicas' totals add up to what went through them.
      const totals = yield* Effect.forEach(replicas.handles, (h) => h.call("total"))
      assert.strictEqual(totals[0]! + totals[1]!, 2 * input.reduce((a, b) => a + b, 0))
    }).pipe(Effect.scoped, Effect.provide(pool)))

  it.live("fail fast by default: the first failure fails the stream with the stage's declared error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Stream.fromIterable(range(50).map((i) => i + 1)).pipe(
        Pipeline.task(Square, { batch: 4 }),
        Stream.runDrain
      ))
      assert.instanceOf(error, Unlucky)
      assert.strictEqual((error as Unlucky).n % 13, 0)
    }).pipe(Effect.scoped, Effect.provide(pool)))

  it.live("skip and record: failed elements become typed records (element, stage, error) and the rest flows", () =>
    Effect.gen(function*() {
      const replicas = ActorPool.make(yield* Actor.spawnMany(Accumulator, 2, {}))
      const log = Pipeline.errorLog({ budget: 20 })
      const out = yield* Stream.fromIterable(range(100)).pipe(
        Pipeline.task(Square, { batch: 8, onError: log, name: "square" }),
        Stream.map((sq) => Math.sqrt(sq) + 13), // 14…112: the next stage fails on 26, 39, …
        Pipeline.actors(replicas, "add", { onError: log }),
        Stream.runCollect
      )
      const squareFailed = range(100).filter((i) => i % 13 === 0)
      const survivors = range(100).filter((i) => i % 13 !== 0).map((i) => i + 13)
      assert.deepStrictEqual(out, survivors.filter((n) => n % 13 !== 0))
      const squareRecords = log.failures.filter((f) => f.stage === "square")
      assert.deepStrictEqual(squareRecords.map((f) => f.element as number).sort((a, b) => a - b), squareFailed)
      for (const record of log.failures) assert.instanceOf(record.error, Unlucky)
      const addRecords = log.failures.filter((f) => f.stage === "Accumulator.add")
      assert.deepStrictEqual(addRecords.map((f) => f.element).sort((a, b) => (a as number) - (b as number)), survivors.filter((n) => n % 13 === 0))
    }).pipe(Effect.scoped, Effect.provide(pool)))

  it.live("a record says what a moved element was: its kind and length, though the element itself is now empty", () =>
    Effect.gen(function*() {
      // Was: the element had moved to the worker, so the record held only an empty (detached)
      // Float64Array(0), and nothing said what had failed.
      const log = Pipeline.errorLog({ budget: 5 })
      const inputs = [Float64Array.of(1, 2), Float64Array.of(6, 7, 0), Float64Array.of(3)]
      const out = yield* Stream.fromIterable(inputs).pipe(Pipeline.task(Picky, { onError: log }), Stream.runCollect)
      assert.deepStrictEqual(out, [3, 3])
      assert.strictEqual(log.failures.length, 1)
      const failure = log.failures[0]!
      assert.strictEqual(failure.element, inputs[1], "the element is the one the stage took")
      assert.strictEqual((failure.element as Float64Array).length, 0, "moved: its view is detached")
      assert.strictEqual(failure.input, "Moved { kind: 'Float64Array', length: 3 }")
      // Elements that did not move render as themselves.
      const plain = Pipeline.errorLog({ budget: 5 })
      yield* Stream.fromIterable([1, 13]).pipe(Pipeline.task(Square, { onError: plain }), Stream.runDrain)
      assert.deepStrictEqual(plain.failures.map((f) => f.input), ["13"])
    }).pipe(Effect.scoped, Effect.provide(pool)))

  it.live("past its budget, the pipeline fails with PipelineError", () =>
    Effect.gen(function*() {
      const log = Pipeline.errorLog({ budget: 2 })
      const error = yield* Effect.flip(Stream.fromIterable(range(100)).pipe(
        Pipeline.task(Square, { batch: 1, concurrency: 1, onError: log }),
        Stream.runDrain
      ))
      assert.instanceOf(error, Pipeline.PipelineError)
      assert.strictEqual((error as Pipeline.PipelineError).failures, 3)
      assert.strictEqual((error as Pipeline.PipelineError).stage, "Square")
      assert.strictEqual(log.failures.length, 3)
      // The last failure is 26's, rendered by what it says, not by its stack.
      assert.include((error as Pipeline.PipelineError).last, "Unlucky")
      assert.include((error as Pipeline.PipelineError).last, "n: 26")
      assert.notInclude((error as Pipeline.PipelineError).last, "    at ")
    }).pipe(Effect.scoped, Effect.provide(pool)))

  it.live("an error log's budget that is not an integer >= 0 or Infinity: each stage given it dies naming it, never a throw", () =>
    Effect.gen(function*() {
      // Was: errorLog threw a RangeError where the pipeline was written, and took 2.5 (a third failure
      // failed the stream, as budget 2) as a budget.
      const replicas = ActorPool.make(yield* Actor.spawnMany(Accumulator, 2, {}))
      const source = Stream.fromIterable([1, 2, 3])
      for (const bad of [-1, 2.5, Number.NaN]) {
        const log = Pipeline.errorLog({ budget: bad })
        const cases: ReadonlyArray<readonly [string, Stream.Stream<unknown, unknown, any>]> = [
          ["Pipeline.task(Square)", source.pipe(Pipeline.task(Square, { onError: log }))],
          ["Pipeline.task(Offset+Square)", source.pipe(Pipeline.task(Pipeline.fuse(Offset, Square), { onError: log }))],
          ["Pipeline.actors(Accumulator.add)", source.pipe(Pipeline.actors(replicas, "add", { onError: log }))]
        ]
        for (const [stage, stream] of cases) {
          const exit = yield* Effect.exit(Stream.runDrain(stream))
          assert.isTrue(Exit.isFailure(exit), `${stage} ${bad} ran`)
          const defect = Cause.findDefect((exit as Exit.Failure<unknown, unknown>).cause)
          assert.isTrue(defect._tag === "Success", `${stage} ${bad}: not a defect`)
          const error = (defect as { readonly success: unknown }).success
          assert.instanceOf(error, RangeError)
          assert.strictEqual(
            (error as RangeError).message,
            `${stage}: onError's budget (Pipeline.errorLog) must be an integer >= 0, or Infinity for no limit; got ${bad}`
          )
        }
      }
      // Infinity: every failure recorded, the stream never fails; 0: the first failure fails it.
      const all = Pipeline.errorLog({ budget: Infinity })
      yield* Stream.fromIterable(range(100)).pipe(Pipeline.task(Square, { onError: all }), Stream.runDrain)
      assert.strictEqual(all.failures.length, 8)
      const none = yield* Effect.flip(
        Stream.fromIterable(range(5)).pipe(Pipeline.task(Square, { onError: Pipeline.errorLog({ budget: 0 }) }), Stream.runDrain)
      )
      assert.instanceOf(none, Pipeline.PipelineError)
    }).pipe(Effect.scoped, Effect.provide(pool)))

  it.live("past its budget with failures in flight, the log holds what PipelineError counts", () =>
    Effect.gen(function*() {
      // Was: every element failing at once (4 batches of 8 in flight), the ones that failed after
      // the third were still recorded: the log held 5 or more where the error said 3.
      const log = Pipeline.errorLog({ budget: 2 })
      const error = yield* Effect.flip(Stream.fromIterable(range(40).map((i) => i * 13)).pipe(
        Pipeline.task(Square, { batch: 8, concurrency: 4, onError: log }),
        Stream.runDrain
      ))
      assert.instanceOf(error, Pipeline.PipelineError)
      assert.strictEqual((error as Pipeline.PipelineError).failures, 3)
      assert.strictEqual(log.failures.length, 3)
      // A log spent by one pipeline fails the next at its first failure, and records nothing more.
      const again = yield* Effect.flip(Stream.fromIterable([13]).pipe(Pipeline.task(Square, { onError: log }), Stream.runDrain))
      assert.strictEqual((again as Pipeline.PipelineError).failures, 3)
      assert.strictEqual(log.failures.length, 3)
    }).pipe(Effect.scoped, Effect.provide(pool)))

  it.live("a source that fails mid-way: what it gave before the failure goes through every kind of stage, then the stream fails with it", () =>
    Effect.gen(function*() {
      class SourceBroke extends Schema.TaggedError<SourceBroke>()("SourceBroke", {}) {}
      // Three elements, then the failure, long before a batch is full or its window ends.
      const source = Stream.concat(Stream.fromIterable([1, 2, 3]), Stream.fail(new SourceBroke()))
      const batching = { batch: 64, batchWindow: "1 minute" } as const
      const stages: ReadonlyArray<readonly [string, (s: typeof source) => Stream.Stream<number, unknown, any>]> = [
        ["task", (s) => s.pipe(Pipeline.task(Square, batching))],
        ["task, unordered", (s) => s.pipe(Pipeline.task(Square, { ...batching, ordered: false }))],
        ["task, skip and record", (s) => s.pipe(Pipeline.task(Square, { ...batching, onError: Pipeline.errorLog({ budget: 5 }) }))],
        ["fused", (s) => s.pipe(Pipeline.task(Pipeline.fuse(Offset, Square), batching))],
        ["fused, skip and record", (s) => s.pipe(Pipeline.task(Pipeline.fuse(Offset, Square), { ...batching, onError: Pipeline.errorLog({ budget: 5 }) }))],
        ["Task.stream", (s) => s.pipe(Task.stream(Square, { chunkSize: 64, chunkWindow: "1 minute" }))]
      ]
      for (const [name, stage] of stages) {
        const got: Array<number> = []
        const error = yield* Effect.flip(stage(source).pipe(Stream.runForEach((n) => Effect.sync(() => void got.push(n)))))
        assert.instanceOf(error, SourceBroke, name)
        const expected = name.startsWith("fused") ? [4, 9, 16] : [1, 4, 9]
        assert.deepStrictEqual([...got].sort((a, b) => a - b), expected, name)
      }
    }).pipe(Effect.scoped, Effect.provide(pool)), 30_000)

  it.live("an actor call interrupted at any step gives its actor back to the pool's routing", () =>
    Effect.gen(function*() {
      const replicas = ActorPool.make(yield* Actor.spawnMany(Accumulator, 2, {}))
      // A fiber yields every few steps: interrupted at each of its first ones, a call must leave
      // no actor counted busy (an actor stage's calls are interrupted so when the stage stops).
      for (let steps = 2; steps < 12; steps++) {
        for (let yields = 0; yields < 6; yields++) {
          const call = yield* ActorPool.submit(replicas, "slowAdd", 1).pipe(
            Effect.provideService(Scheduler.MaxOpsBeforeYield, steps),
            Effect.forkChild
          )
          for (let i = 0; i < yields; i++) yield* Effect.yieldNow
          yield* Fiber.interrupt(call)
          assert.deepStrictEqual(replicas.busy, [0, 0], `interrupted after ${yields} yields, yielding every ${steps} steps`)
        }
      }
    }).pipe(Effect.scoped, Effect.provide(pool)), 30_000)

  it.live("an actor stage sends no more calls to a replica that is not alive once it said so", () =>
    Effect.gen(function*() {
      const handles = yield* Actor.spawnMany(Accumulator, 2, {})
      const replicas = ActorPool.make(handles)
      yield* Actor.stop(handles[0]!)
      const input = range(60).map((i) => i * 13 + 1) // no multiples of 13
      const log = Pipeline.errorLog({ budget: 5 })
      const out = yield* Stream.fromIterable(input).pipe(
        Pipeline.actors(replicas, "slowAdd", { onError: log }),
        Stream.runCollect
      )
      // The call the stopped replica refused never reached it: it went to the other, as did the rest.
      assert.strictEqual(log.failures.length, 0)
      assert.deepStrictEqual(out, input)
      assert.deepStrictEqual(replicas.unavailable, [true, false])
      assert.strictEqual(yield* handles[1]!.call("total"), out.reduce((a, b) => a + b, 0))
      // With every replica gone, calls fail as they did: with the replicas' own error.
      yield* Actor.stop(handles[1]!)
      const error = yield* Effect.flip(ActorPool.submit(replicas, "add", 1))
      assert.strictEqual(error._tag, "ActorError")
    }).pipe(Effect.scoped, Effect.provide(pool)), 30_000)

  it.live("Infinity as a batch or a concurrency is no limit, not the default", () =>
    Effect.gen(function*() {
      const submitted = () => Effect.map(WorkerPool.stats(PipelineTasks), (s) => s.submitted)
      // 100 elements in one window: one batch, where the default (64) makes two.
      const input = range(100).map((i) => i * 13 + 1)
      const before = yield* submitted()
      const whole = yield* Stream.fromIterable(input).pipe(
        Pipeline.task(Jitter, { batch: Infinity, batchWindow: "1 minute" }),
        Stream.runCollect
      )
      assert.deepStrictEqual(whole, input)
      const afterTask = yield* submitted()
      assert.strictEqual(afterTask - before, 1)
      const streamed = yield* Stream.fromIterable(input).pipe(
        Task.stream(Jitter, { chunkSize: Infinity, chunkWindow: "1 minute" }),
        Stream.runCollect
      )
      assert.deepStrictEqual(streamed, input)
      assert.strictEqual((yield* submitted()) - afterTask, 1)
      // Batches of one, every 4 ms long: with no limit on batches in flight, more than the
      // default 4 are out before the first comes back (the source is pulled in microseconds).
      let pulled = 0
      let delivered = 0
      let maxAhead = 0
      yield* Stream.fromIterable(range(16).map((i) => i * 5 + 2)).pipe(
        Stream.tap(() => Effect.sync(() => void pulled++)),
        Pipeline.task(Jitter, { batch: 1, concurrency: Infinity }),
        Stream.runForEach(() => Effect.sync(() => void (maxAhead = Math.max(maxAhead, pulled - delivered++))))
      )
      assert.isAbove(maxAhead, 4)
    }).pipe(Effect.scoped, Effect.provide(pool)), 30_000)

  it.live("a count option that is not a positive integer or Infinity: the stage dies naming it, never a throw, never rounded", () =>
    Effect.gen(function*() {
      // Was: 0 and -1 read as 1, 2.5 as 2, NaN as the default; each ran, as something not asked for.
      const replicas = ActorPool.make(yield* Actor.spawnMany(Accumulator, 2, {}))
      const source = Stream.fromIterable([1, 2, 3])
      for (const bad of [0, -1, 2.5, Number.NaN]) {
        const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown, any>]> = [
          ["Pipeline.task(Jitter): batch", Stream.runDrain(source.pipe(Pipeline.task(Jitter, { batch: bad })))],
          ["Pipeline.task(Jitter): concurrency", Stream.runDrain(source.pipe(Pipeline.task(Jitter, { concurrency: bad })))],
          [
            "Pipeline.task(Jitter+Offset): concurrency",
            Stream.runDrain(source.pipe(Pipeline.task(Pipeline.fuse(Jitter, Offset), { concurrency: bad })))
          ],
          ["Pipeline.actors(Accumulator.add): concurrency", Stream.runDrain(source.pipe(Pipeline.actors(replicas, "add", { concurrency: bad })))],
          ["Task.stream(Jitter): chunkSize", Stream.runDrain(source.pipe(Task.stream(Jitter, { chunkSize: bad })))],
          ["Task.stream(Jitter): concurrency", Stream.runDrain(source.pipe(Task.stream(Jitter, { concurrency: bad })))],
          ["Task.map(Jitter): chunkSize", Task.map(Jitter, [1, 2, 3], { chunkSize: bad })],
          ["Task.mapUnordered(Jitter): chunkSize", Task.mapUnordered(Jitter, [1, 2, 3], { chunkSize: bad })]
        ]
        for (const [option, effect] of cases) {
          const exit = yield* Effect.exit(effect)
          assert.isTrue(Exit.isFailure(exit), `${option} ${bad} ran`)
          const defect = Cause.findDefect((exit as Exit.Failure<unknown, unknown>).cause)
          assert.isTrue(defect._tag === "Success", `${option} ${bad}: not a defect`)
          const error = (defect as { readonly success: unknown }).success
          assert.instanceOf(error, RangeError)
          assert.strictEqual((error as RangeError).message, `${option} must be a positive integer, or Infinity for no limit; got ${bad}`)
        }
      }
    }).pipe(Effect.scoped, Effect.provide(pool)))

  it.live("a batch or chunk window that is no duration: the stage dies naming it, never a throw where it is written", () =>
    Effect.gen(function*() {
      // Was: "soon" threw from Task.stream / Pipeline.task themselves (Duration's 'Invalid Input'),
      // outside any Effect; NaN and -1 were read as no wait at all.
      const source = Stream.fromIterable([1, 2, 3])
      for (const bad of [Number.NaN, -1, "soon"] as ReadonlyArray<any>) {
        const cases: ReadonlyArray<readonly [string, () => Stream.Stream<unknown, unknown, any>]> = [
          ["Task.stream(Jitter): chunkWindow", () => source.pipe(Task.stream(Jitter, { chunkWindow: bad }))],
          ["Pipeline.task(Jitter): batchWindow", () => source.pipe(Pipeline.task(Jitter, { batchWindow: bad }))],
          ["Pipeline.task(Jitter+Offset): batchWindow", () => source.pipe(Pipeline.task(Pipeline.fuse(Jitter, Offset), { batchWindow: bad }))]
        ]
        for (const [option, make] of cases) {
          const exit = yield* Effect.exit(Stream.runDrain(make()))
          assert.isTrue(Exit.isFailure(exit), `${option} ${bad} ran`)
          const defect = Cause.findDefect((exit as Exit.Failure<unknown, unknown>).cause)
          assert.isTrue(defect._tag === "Success", `${option} ${bad}: not a defect`)
          const error = (defect as { readonly success: unknown }).success
          assert.instanceOf(error, RangeError)
          assert.strictEqual((error as RangeError).message, `${option} must be a duration >= 0, got ${bad}`)
        }
      }
      // Infinity: a partial batch waits for the source's end.
      const all = yield* source.pipe(Task.stream(Jitter, { chunkSize: 2, chunkWindow: Infinity }), Stream.runCollect)
      assert.deepStrictEqual(all, [1, 2, 3])
    }).pipe(Effect.scoped, Effect.provide(pool)))

  it.live("backpressure: over an unbounded source, a slow last stage bounds how far the first runs ahead (constant memory)", () =>
    Effect.gen(function*() {
      const replicas = ActorPool.make(yield* Actor.spawnMany(Accumulator, 2, {}))
      let pulled = 0
      let delivered = 0
      let maxAhead = 0
      yield* Stream.iterate(1, (n) => n + 1).pipe(
        Stream.filter((n) => n % 13 !== 0),
        Stream.tap(() => Effect.sync(() => void pulled++)),
        Pipeline.task(Jitter, { batch: 16, concurrency: 2 }),
        Pipeline.actors(replicas, "slowAdd", { concurrency: 2 }),
        Stream.take(1500),
        Stream.runForEach(() =>
          Effect.sync(() => {
            delivered++
            maxAhead = Math.max(maxAhead, pulled - delivered)
          })
        )
      )
      assert.strictEqual(delivered, 1500)
      // Batches in flight (2 × 16), the batch being filled, the actor calls and the streams'
      // small buffers: a bound in the low hundreds, however long the source runs.
      assert.isAtMost(maxAhead, 256, `the source ran ${maxAhead} elements ahead`)
      assert.isAtMost(pulled, 1500 + 256)
    }).pipe(Effect.scoped, Effect.provide(pool)), 60_000)

  it.live("worker to worker: stages connected by channels; the caller sees only the result", () =>
    Effect.gen(function*() {
      const raw = yield* Channel.make("Float64", { capacity: 1024 })
      const squared = yield* Channel.make("Float64", { capacity: 1024 })
      const [emitter, squarer, summer] = [
        yield* Actor.spawn(Relay, {}, { worker: 0 }),
        yield* Actor.spawn(Relay, {}, { worker: 1 }),
        yield* Actor.spawn(Relay, {}, { worker: 0 })
      ]
      const n = 20_000
      const [, , sum] = yield* Effect.all([
        Effect.andThen(emitter.call("emit", { out: raw, count: n }), Channel.close(raw)),
        Effect.andThen(squarer.call("square", { from: raw, to: squared }), Channel.close(squared)),
        summer.call("sum", { from: squared })
      ], { concurrency: "unbounded" })
      assert.strictEqual(sum, ((n - 1) * n * (2 * n - 1)) / 6)
    }).pipe(Effect.scoped, Effect.provide(pool)), 60_000)

  describe("fused stages", () => {
    it.live("give what the unfused stages give, in input order, each element in one task (one visit to a worker)", () =>
      Effect.gen(function*() {
        const input = range(300).map((i) => i * 13 + 1) // no multiples of 13
        const settled = () => Effect.map(WorkerPool.stats(PipelineTasks), (s) => s.settled)
        const before = yield* settled()
        const unfused = yield* Stream.fromIterable(input).pipe(
          Pipeline.task(Jitter, { batch: 8, concurrency: 4 }),
          Pipeline.task(Offset, { batch: 8 }),
          Pipeline.task(Spread, { batch: 8 }),
          Pipeline.task(Total, { batch: 8 }),
          Stream.runCollect
        )
        const between = yield* settled()
        const fused = yield* Stream.fromIterable(input).pipe(
          Pipeline.task(Pipeline.fuse(Jitter, Offset, Spread, Total), { batch: 8, concurrency: 4 }),
          Stream.runCollect
        )
        const after = yield* settled()
        assert.deepStrictEqual(unfused, input.map((n) => 6 * (n + 1)))
        assert.deepStrictEqual(fused, unfused)
        assert.strictEqual(between - before, 4 * input.length)
        assert.strictEqual(after - between, input.length)
      }).pipe(Effect.scoped, Effect.provide(pool)))

    it.live("fail fast with the failed stage's error; a defect's TaskError names the stage's task and its input", () =>
      Effect.gen(function*() {
        // 1..20: elements 12 (Square refuses 13) and 13 (Offset refuses it) both fail with n = 13;
        // 25 and 26 (n = 26) stay out, so whichever settles first, the error is the same.
        const declared = yield* Effect.flip(Stream.fromIterable(range(20).map((i) => i + 1)).pipe(
          Pipeline.task(Pipeline.fuse(Offset, Square), { batch: 4 }),
          Stream.runDrain
        ))
        // Offset passes 12 on as 13, which Square refuses.
        assert.instanceOf(declared, Unlucky)
        assert.strictEqual((declared as Unlucky).n, 13)
        // 1..10: the one failure is element 7's (Offset passes 8 to Boom); with 1..20 Offset also
        // refused 13 (and 12 + 1 further on), and fail-fast reported whichever settled first.
        const defect = yield* Effect.flip(Stream.fromIterable(range(10).map((i) => i + 1)).pipe(
          Pipeline.task(Pipeline.fuse(Offset, Boom, Offset), { batch: 4 }),
          Stream.runDrain
        ))
        assert.instanceOf(defect, TaskError.TaskError)
        const error = defect as TaskError.TaskError
        assert.strictEqual(error.taskName, "Boom")
        assert.strictEqual(error.reason._tag, "Defect")
        assert.include(error.reason.message, "boom at 8")
        assert.strictEqual(error.input, "8")
        assert.isAtLeast(error.workerId, 0)
      }).pipe(Effect.scoped, Effect.provide(pool)))

    it.live("a last stage whose result does not match its success Schema is named, as unfused", () =>
      Effect.gen(function*() {
        // 4: Offset gives 5, for which Liar returns a string.
        const source = Stream.fromIterable(range(10).map((i) => i + 1))
        const unfused = yield* Effect.flip(source.pipe(Pipeline.task(Offset), Pipeline.task(Liar), Stream.runDrain))
        const fused = yield* Effect.flip(source.pipe(Pipeline.task(Pipeline.fuse(Offset, Liar)), Stream.runDrain))
        for (const error of [unfused, fused]) {
          assert.instanceOf(error, TaskError.TaskError)
          assert.strictEqual((error as TaskError.TaskError).taskName, "Liar")
          assert.strictEqual((error as TaskError.TaskError).reason._tag, "Defect")
          assert.include((error as TaskError.TaskError).reason.message, "success Schema")
        }
        const log = Pipeline.errorLog({ budget: 5 })
        const out = yield* source.pipe(Pipeline.task(Pipeline.fuse(Offset, Liar), { onError: log }), Stream.runCollect)
        assert.deepStrictEqual(out, range(10).map((i) => i + 2).filter((n) => n !== 5))
        assert.deepStrictEqual(log.failures.map((f) => [f.stage, f.element]), [["Liar", 4]])
      }).pipe(Effect.scoped, Effect.provide(pool)))

    it.live("a stage returning shared memory it released is that stage's defect, as its result alone would be", () =>
      Effect.gen(function*() {
        // Was: the next stage got the released block as its input, and its own `put` of the size
        // reused it: ScratchTotal summed its zeroed scratch (0) instead of 1 + 2 + 3.
        const source = Stream.make(1)
        for (const stages of [[Pipeline.task(Reissue)], [Pipeline.task(Pipeline.fuse(Reissue, ScratchTotal))]]) {
          const error = yield* Effect.flip(stages.reduce((s, stage) => stage(s), source as Stream.Stream<any, any, any>).pipe(Stream.runDrain))
          assert.instanceOf(error, TaskError.TaskError)
          assert.strictEqual((error as TaskError.TaskError).taskName, "Reissue")
          assert.strictEqual((error as TaskError.TaskError).reason._tag, "Defect")
          assert.match((error as TaskError.TaskError).reason.message, /result holds memory its worker released/)
          assert.strictEqual((error as TaskError.TaskError).input, "1")
        }
      }).pipe(Effect.scoped, Effect.provide(pool)))

    it.live("a stage whose handler interrupts itself is named, as unfused", () =>
      Effect.gen(function*() {
        // Was: named by the chain ("Offset+Quits+Offset", stage -1), as if its worker was lost.
        // 2: Offset gives 3, at which Quits interrupts itself.
        const source = Stream.fromIterable(range(6))
        for (const stage of [Pipeline.task(Quits), Pipeline.task(Pipeline.fuse(Offset, Quits, Offset))]) {
          const error = yield* Effect.flip(source.pipe(Stream.map((n) => n + 1), stage, Stream.runDrain))
          assert.instanceOf(error, TaskError.TaskError)
          assert.strictEqual((error as TaskError.TaskError).taskName, "Quits")
          assert.strictEqual((error as TaskError.TaskError).reason._tag, "Defect")
          assert.include((error as TaskError.TaskError).reason.message, "interrupted, not by its caller")
          assert.strictEqual((error as TaskError.TaskError).input, "3")
        }
        const log = Pipeline.errorLog({ budget: 5 })
        const out = yield* Stream.fromIterable(range(6).map((n) => n + 1)).pipe(
          Pipeline.task(Pipeline.fuse(Offset, Quits, Offset), { onError: log }),
          Stream.runCollect
        )
        assert.deepStrictEqual(out, [3, 5, 6, 7, 8])
        assert.deepStrictEqual(log.failures.map((f) => [f.stage, f.element]), [["Quits", 2]])
      }).pipe(Effect.scoped, Effect.provide(pool)))

    it.live("skip and record: each failure is recorded under the stage that failed; past the budget, PipelineError names it", () =>
      Effect.gen(function*() {
        const log = Pipeline.errorLog({ budget: 100 })
        const out = yield* Stream.fromIterable(range(60)).pipe(
          Pipeline.task(Pipeline.fuse(Offset, Square), { batch: 8, onError: log }),
          Stream.runCollect
        )
        const offsetFailed = range(60).filter((n) => n % 13 === 0)
        const squareFailed = range(60).filter((n) => n % 13 !== 0 && (n + 1) % 13 === 0)
        assert.deepStrictEqual(out, range(60).filter((n) => !offsetFailed.includes(n) && !squareFailed.includes(n)).map((n) => (n + 1) ** 2))
        const elements = (stage: string) =>
          log.failures.filter((f) => f.stage === stage).map((f) => f.element as number).sort((a, b) => a - b)
        assert.deepStrictEqual(elements("Offset"), offsetFailed)
        assert.deepStrictEqual(elements("Square"), squareFailed)
        for (const f of log.failures) {
          assert.instanceOf(f.error, Unlucky)
          assert.strictEqual((f.error as Unlucky).n, f.stage === "Offset" ? f.element : (f.element as number) + 1)
        }

        const small = Pipeline.errorLog({ budget: 2 })
        const error = yield* Effect.flip(Stream.fromIterable(range(60)).pipe(
          Pipeline.task(Pipeline.fuse(Offset, Square), { batch: 1, concurrency: 1, onError: small }),
          Stream.runDrain
        ))
        // 0 fails in Offset, 12 in Square, 13 in Offset: the third is past the budget.
        assert.instanceOf(error, Pipeline.PipelineError)
        assert.strictEqual((error as Pipeline.PipelineError).stage, "Offset")
        assert.deepStrictEqual(small.failures.map((f) => [f.stage, f.element]), [["Offset", 0], ["Square", 12], ["Offset", 13]])
      }).pipe(Effect.scoped, Effect.provide(pool)))
  })
})
