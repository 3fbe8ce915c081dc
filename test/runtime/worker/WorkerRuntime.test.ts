/**
 * The worker side's promises that only a schedule shows, replayed on the simulated backend.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Context from "effect/Context"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Actor, InlineBackend, PoolError, Simulation, Task, TaskError, Worker, WorkerPool } from "../../../src/index.ts"
import { type FromWorker, Op, Outcome, Result } from "../../../src/runtime/protocol/protocol.ts"
import { WorkerRuntime } from "../../../src/runtime/worker/WorkerRuntime.ts"
import entry, { Echo, SimTasks } from "../../fixtures/simulation.ts"
import { poolReasonOf, reasonOf } from "../../support/backends.ts"

const elapsed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    yield* effect
    return (yield* Clock.currentTimeMillis) - start
  })

describe("WorkerRuntime", () => {
  it.effect("a finished task's answer leaves within flushAfterMillis, even behind a long task of its message", () =>
    Effect.gen(function*() {
      // One message at a time: while the first run is out, three more queue up and then travel
      // in one message — a quick task, a ten-second one, another. The first takes no time: the
      // pool sizes messages by what the task cost so far (the Dispatcher's rule 12).
      const program = Effect.all([
        Task.run(Echo, { n: 0, millis: 0, fail: "none" }),
        elapsed(Task.run(Echo, { n: 1, millis: 0, fail: "none" })),
        elapsed(Task.run(Echo, { n: 2, millis: 10_000, fail: "none" })),
        elapsed(Task.run(Echo, { n: 3, millis: 0, fail: "none" }))
      ], { concurrency: "unbounded" }).pipe(Effect.provide(Simulation.layer(SimTasks, { entry, size: 1, pipelineDepth: 1 })))
      const report = yield* Simulation.run(program, { seed: 1, latency: { min: 1, max: 1 }, work: { min: 0, max: 0 } })
      Simulation.verify(report, ({ exit, trace }) => {
        const dispatches = trace.filter((event) => event._tag === "Dispatch")
        assert.deepStrictEqual(dispatches.map((event) => event.tasks.length), [1, 3], "three tasks travel in one message")
        assert.isTrue(Exit.isSuccess(exit))
        const [, quick, long] = (exit as unknown as Exit.Success<ReadonlyArray<number>>).value
        assert.isAtLeast(long!, 10_000)
        assert.isBelow(quick!, 100, "the quick task's answer waited for the long one")
        // Precisely: at most flushAfterMillis (10 ms) waiting to be sent, then 1 ms on the way.
        const finished = trace.find((event) => event._tag === "Finish" && event.task === 1)!
        const replied = trace.find((event) => event._tag === "Reply" && event.task === 1)!
        assert.isAtMost(replied.at - finished.at, 11)
      })
    }))

  it.effect("a message's answers leave before the next message's tasks start, when it took a millisecond or more", () =>
    Effect.gen(function*() {
      // Two messages of two 5 ms tasks reach the worker at once (pipelineDepth 2): the first's
      // answers must not wait for the second (the pool sends the next message meanwhile).
      const inputs = Array.from({ length: 4 }, (_, n) => ({ n, millis: 5, fail: "none" as const }))
      const program = Task.map(Echo, inputs, { chunkSize: 2 }).pipe(
        Effect.provide(Simulation.layer(SimTasks, { entry, size: 1, pipelineDepth: 2 }))
      )
      const report = yield* Simulation.run(program, { seed: 1, latency: { min: 1, max: 1 }, work: { min: 0, max: 0 } })
      Simulation.verify(report, ({ exit, trace }) => {
        assert.isTrue(Exit.isSuccess(exit))
        const dispatches = trace.filter((event) => event._tag === "Dispatch")
        assert.deepStrictEqual(dispatches.map((event) => event.tasks.length), [2, 2])
        const [first, second] = dispatches.map((event) => event.tasks.map((task) => task.id))
        const at = (tag: "Reply" | "Start", task: number) => trace.find((event) => event._tag === tag && event.task === task)!.at
        // Sent as the second message's first task starts: they reach the pool 1 ms later.
        assert.isBelow(at("Reply", first![1]!), at("Start", second![1]!), "the first message's answers waited for the second")
      })
    }))

  it("a handler that blocks before it returns its Effect is timed from its start: Started first, then Timeout", async () => {
    // Handlers often compute in their body (`(p) => Effect.succeed(work(p))`). Was: the timeout and
    // `Started` (which arms the pool's backstop) began only once the body had returned, so such a
    // handler ran past its timeout and answered Success — or, never returning, was never stopped.
    const Busy = Task.make("Busy", { payload: { millis: Schema.Number }, success: Schema.Number })
    const spin = (millis: number) => {
      const end = performance.now() + millis
      while (performance.now() < end) {
        // blocks the thread
      }
      return millis
    }
    const entry = Worker.serve(Task.group(Busy), { Busy: ({ millis }) => Effect.succeed(spin(millis)) })
    const sent: Array<FromWorker> = []
    let startedBeforeBody = false
    const runtime = new WorkerRuntime(entry, 0, (message) => void sent.push(structuredClone(message)), {
      onStart: () => void (startedBeforeBody = sent.some((message) => message[0] === Op.Started))
    })
    await runtime.start()
    runtime.receive([Op.Run, 1, "Busy", { millis: 60 }, 20])
    await new Promise((resolve) => setTimeout(resolve, 50))
    runtime.flush()
    const results = sent.filter((message) => message[0] === Op.Results)
    assert.strictEqual(results.length, 1)
    assert.deepStrictEqual(results[0]!.slice(1, 1 + Result.stride - 1), [1, Outcome.Timeout])
    assert.isTrue(startedBeforeBody, "the pool heard Started only after the body had run")
  })

  it.live("a handler that interrupts itself is its task's defect, not a closed pool", () =>
    Effect.gen(function*() {
      // Was: the worker answered Interrupted, which the pool reads as its own shutdown (nobody
      // else interrupts a task its caller did not cancel): TaskError / PoolClosed, pool open.
      const Quits = Task.make("Quits", { payload: {}, success: Schema.Number })
      const Quitting = Task.group(Quits)
      const quitting = Worker.serve(Quitting, { Quits: () => Effect.interrupt })
      const error = yield* Effect.flip(Task.run(Quits, {})).pipe(
        Effect.provide(WorkerPool.layer(Quitting, { entry: quitting, size: 1 })),
        Effect.provide(InlineBackend.layer)
      )
      assert.instanceOf(reasonOf(error), TaskError.Defect)
    }))

  it("shutdown interrupts an actor's constructor still running, before the worker says Closed", async () => {
    // Was: stopping an actor knew only its calls, so the constructor ran on after its scope had
    // closed and the worker had said Closed (its Layer's exit hooks run), acquiring as it went.
    const Slow = Actor.make("Slow", { init: Schema.Struct({}), methods: { get: { payload: Schema.Struct({}), success: Schema.Number } } })
    const log: Array<string> = []
    const resource = (name: string) =>
      Effect.acquireRelease(Effect.sync(() => log.push(`open ${name}`)), () => Effect.sync(() => log.push(`close ${name}`)))
    const entry = Worker.serve(Task.group(Slow), {
      Slow: () =>
        Effect.gen(function*() {
          yield* resource("a")
          yield* Effect.sleep("100 millis")
          yield* resource("b")
          return { get: () => Effect.succeed(1) }
        })
    })
    const runtime = new WorkerRuntime(entry, 0, () => {})
    await runtime.start()
    runtime.receive([Op.Spawn, 1, "Slow", {}])
    await new Promise((resolve) => setTimeout(resolve, 20))
    await runtime.shutdown(1_000)
    assert.deepStrictEqual(log, ["open a", "close a"])
    await new Promise((resolve) => setTimeout(resolve, 150))
    assert.deepStrictEqual(log, ["open a", "close a"], "the constructor went on after the worker closed")
  })

  it("a constructor's declared error that cannot be sent fails that spawn with a defect, and only it", async () => {
    // Was: posting Spawned threw inside a promise: no answer, and an unhandled rejection that
    // ends a worker thread (every task and actor on it) or, inline, reaches the caller's process.
    class Refusal extends Schema.TaggedError<Refusal>()("Refusal", { detail: Schema.Unknown }) {}
    const Picky = Actor.make("Picky", { init: Schema.Struct({}), initError: Refusal, methods: { get: { payload: Schema.Struct({}), success: Schema.Number } } })
    const entry = Worker.serve(Task.group(Picky), { Picky: () => Effect.fail(new Refusal({ detail: () => 1 })) })
    const sent: Array<FromWorker> = []
    const rejections: Array<unknown> = []
    const onRejection = (reason: unknown) => void rejections.push(reason)
    process.on("unhandledRejection", onRejection)
    try {
      const runtime = new WorkerRuntime(entry, 0, (message) => void sent.push(structuredClone(message)))
      await runtime.start()
      runtime.receive([Op.Spawn, 1, "Picky", {}])
      await new Promise((resolve) => setTimeout(resolve, 50))
    } finally {
      process.off("unhandledRejection", onRejection)
    }
    assert.deepStrictEqual(rejections, [])
    const spawned = sent.filter((message) => message[0] === Op.Spawned)
    assert.strictEqual(spawned.length, 1)
    assert.strictEqual(spawned[0]![2], Outcome.Defect)
    assert.include((spawned[0]![3] as { message: string }).message, "cannot be sent to the pool")
  })

  it.live("an inline worker whose Layer hangs past initTimeout has its build interrupted: nothing runs on, what it acquired is released", () =>
    Effect.gen(function*() {
      // Was: the build ran on in the caller's thread after the pool had given up on it (its hour-long
      // sleep a live timer), and what it had acquired was never released.
      class Model extends Context.Service<Model, {}>()("test/HangingModel") {}
      const log: Array<string> = []
      let released!: () => void
      const closed = new Promise<void>((resolve) => (released = resolve))
      const Ping = Task.make("Ping", { payload: {}, success: Schema.Number })
      const hangs = Worker.serve(Task.group(Ping), { Ping: () => Effect.succeed(1) }, {
        layer: Layer.effect(
          Model,
          Effect.gen(function*() {
            yield* Effect.acquireRelease(Effect.sync(() => log.push("open")), () =>
              Effect.sync(() => {
                log.push("close")
                released()
              }))
            return yield* Effect.sleep("1 hour").pipe(Effect.onInterrupt(() => Effect.sync(() => log.push("interrupted"))), Effect.as({}))
          })
        )
      })
      const error = yield* Effect.flip(Effect.scoped(Layer.build(
        WorkerPool.layer(Task.group(Ping), { entry: hangs, size: 1, initTimeout: "100 millis" }).pipe(Layer.provide(InlineBackend.layer))
      )))
      assert.strictEqual((poolReasonOf(error) as PoolError.WorkerInitFailed).failure, "Timeout")
      // Bounded by the test's timeout: the build is interrupted and releases, or this never resolves.
      yield* Effect.promise(() => closed)
      assert.deepStrictEqual(log, ["open", "interrupted", "close"])
    }), 10_000)

  it("an exit hook that never ends is cut off after exitTimeout: the worker still says Closed", async () => {
    // Was: the Layer's scope was closed under `Effect.timeoutOption`, which waits for the
    // (uninterruptible) finalizers it interrupts: exitTimeout cut off nothing, and the worker went
    // on until the pool terminated it after shutdownTimeout, its end a termination, not an exit.
    class Stubborn extends Context.Service<Stubborn, {}>()("test/Stubborn") {}
    const Ping = Task.make("Ping", { payload: {}, success: Schema.Number })
    const entry = Worker.serve(Task.group(Ping), { Ping: () => Effect.succeed(1) }, {
      layer: Layer.effect(Stubborn, Effect.acquireRelease(Effect.succeed({}), () => Effect.never))
    })
    const sent: Array<FromWorker> = []
    const runtime = new WorkerRuntime(entry, 0, (message) => void sent.push(message))
    await runtime.start()
    // Bounded by the test's timeout: never resolved before.
    await runtime.shutdown(50)
    assert.strictEqual(sent.at(-1)![0], Op.Closed)
  }, 10_000)

  it("an actor finalizer that never ends is cut off within exitTimeout: the Layer's exit hooks still run", async () => {
    // Was: the worker waited for its actors to stop without a bound, before exitTimeout applied:
    // a finalizer that hung held it until the pool terminated it, and the Layer's hooks never ran.
    class Hooked extends Context.Service<Hooked, {}>()("test/Hooked") {}
    const log: Array<string> = []
    const Stuck = Actor.make("Stuck", { init: Schema.Struct({}), methods: { get: { payload: Schema.Struct({}), success: Schema.Number } } })
    const entry = Worker.serve(Task.group(Stuck), {
      Stuck: () =>
        Effect.gen(function*() {
          yield* Effect.addFinalizer(() => Effect.never)
          return { get: () => Effect.succeed(1) }
        })
    }, { layer: Layer.effect(Hooked, Effect.acquireRelease(Effect.succeed({}), () => Effect.sync(() => void log.push("exit hook")))) })
    const sent: Array<FromWorker> = []
    const runtime = new WorkerRuntime(entry, 0, (message) => void sent.push(message))
    await runtime.start()
    runtime.receive([Op.Spawn, 1, "Stuck", {}])
    while (!sent.some((message) => message[0] === Op.Spawned)) await new Promise((resolve) => setTimeout(resolve, 5))
    // Bounded by the test's timeout: never resolved before.
    await runtime.shutdown(50)
    assert.deepStrictEqual(log, ["exit hook"])
    assert.strictEqual(sent.at(-1)![0], Op.Closed)
  }, 10_000)
})
