/**
 * `insights` on a pool, over every backend row: the report's parts add up to each worker's wall
 * time, working time is the handlers' own (tasks' and actor methods'; calls have percentiles of
 * their own), and `insights: true` prints the table when the pool closes — after its workers exited, so exit time is in it.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Actor, Observe, Task, WorkerPool } from "../../src/index.ts"
import { ActorTasks, Counter } from "../fixtures/actors.ts"
import { Add, ContractTasks, Hold, Sleep } from "../fixtures/tasks.ts"
import { poolReasonOf, rows } from "../support/backends.ts"

const entry = new URL("../fixtures/worker.ts", import.meta.url)
const actorEntry = new URL("../fixtures/actor-worker.ts", import.meta.url)

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

/** A Console that keeps what is logged. */
const capture = () => {
  const lines: Array<string> = []
  const console = { ...globalThis.console, log: (...args: ReadonlyArray<unknown>) => void lines.push(args.join(" ")) }
  return { lines, console: console as unknown as Console.Console }
}

describe.each(rows)("insights on $name", (row) => {
  const pool = (insights: WorkerPool.Options["insights"]) =>
    WorkerPool.layer(ContractTasks, { entry, size: 2, insights }).pipe(Layer.provide(row.backend))

  it.live("a map of sleeps: parts add up to wall time, working is the handlers' time, slowest tasks with input", () =>
    Effect.gen(function*() {
      const inputs = Array.from({ length: 8 }, (_, i) => ({ millis: 20 + i, marker: `m${i}` }))
      yield* Task.map(Sleep, inputs, { chunkSize: 1 })
      const report = yield* Observe.insights(ContractTasks)
      assert.strictEqual(report.workers.length, 2)
      assert.strictEqual(report.total.tasks, 8)
      assert.strictEqual(report.runTime.count, 8)
      assert.strictEqual(report.outcomes.Success, 8)
      for (const worker of report.workers) {
        const parts = worker.startup + worker.init + worker.waiting + worker.working + worker.exitTime
        assert.isAtMost(Math.abs(parts - worker.wall), worker.wall * 0.02, `worker ${worker.workerId}'s parts add up`)
        assert.strictEqual(worker.state, "ready")
      }
      // Each handler slept at least its millis (a lower bound only: no timing is asserted above it).
      const slept = inputs.reduce((total, input) => total + input.millis, 0)
      assert.isAtLeast(report.total.working, slept - 8)
      assert.isAtLeast(report.runTime.max, 27 - 1)
      assert.strictEqual(report.slowest.length, 5)
      assert.match(report.slowest[0]!.input, /millis: 2\d, marker: 'm\d'/)
      assert.isAtLeast(report.slowest[0]!.millis, report.slowest[4]!.millis)
    }).pipe(Effect.provide(pool({ print: false })), row.within))

  it.live("an actor's method calls are its worker's working time, as tasks are", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 0 })
      for (let i = 0; i < 6; i++) yield* counter.call("append", { value: `v${i}`, millis: 20 })
      const report = yield* Observe.insights(ActorTasks)
      assert.strictEqual(report.total.tasks, 6)
      assert.isAtLeast(report.total.working, 6 * 20 - 6)
      // Percentiles and the slowest list of calls, apart from tasks'.
      assert.strictEqual(report.calls.runTime.count, 6)
      assert.strictEqual(report.calls.outcomes.Success, 6)
      assert.isAtLeast(report.calls.runTime.max, 20 - 1)
      assert.deepStrictEqual(report.calls.slowest.map((slow) => `${slow.actor}.${slow.method}`), Array(5).fill("Counter.append"))
      for (const worker of report.workers) {
        const parts = worker.startup + worker.init + worker.waiting + worker.working + worker.exitTime
        assert.isAtMost(Math.abs(parts - worker.wall), worker.wall * 0.02, `worker ${worker.workerId}'s parts add up`)
      }
    }).pipe(
      Effect.scoped,
      Effect.provide(WorkerPool.layer(ActorTasks, { entry: actorEntry, size: 1, insights: { print: false } }).pipe(Layer.provide(row.backend))),
      row.within
    ))

  it.live("insights: true prints the table when the pool closes, exit time included", () =>
    Effect.gen(function*() {
      const { lines, console } = capture()
      yield* Task.map(Add, [{ a: 1, b: 2 }, { a: 3, b: 4 }]).pipe(Effect.provide(pool(true)), Effect.provideService(Console.Console, console))
      const text = lines.join("\n")
      assert.match(text, /^effect-parallel insights/)
      assert.match(text, /\n0\s+exited \(Exited\)/)
      assert.match(text, /\n1\s+exited \(Exited\)/)
      assert.match(text, /\ntotal\s/)
      assert.match(text, /efficiency: \d+\.\d% of worker time spent working/)
    }).pipe(row.within))
})

describe("insights", () => {
  const addsUp = (report: Observe.InsightsReport) => {
    for (const worker of report.workers) {
      const parts = worker.startup + worker.init + worker.waiting + worker.working + worker.exitTime
      assert.isAtMost(Math.abs(parts - worker.wall), worker.wall * 0.02, `worker ${worker.workerId}'s parts add up`)
    }
  }

  it.live("a cancelled map's handler ran: its time is its worker's working, not waiting", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "insights-cancel-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const fiber = yield* Effect.forkChild(Task.map(Hold, [{ millis: 60_000, dir, name: "a" }]))
      while (!existsSync(join(dir, "started-a"))) yield* Effect.sleep(5)
      yield* Effect.sleep(100)
      // Returns once the worker gave the task back (interrupted, with when its handler ran).
      yield* Fiber.interrupt(fiber)
      const report = yield* Observe.insights(ContractTasks)
      // The handler ran at least the 100 ms slept after it started (a lower bound only).
      assert.isAtLeast(report.workers[0]!.working, 100 - 2)
      addsUp(report)
    }).pipe(Effect.scoped, Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 1, insights: { print: false } }))))

  it.live("a cancelled actor call's method ran: its time is its worker's working", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 0 })
      yield* counter.call("get", {})
      // The call is sent as it is made (the mailbox is empty): its cancel, sent after it on the
      // same channel, finds the method running. Waiting for a time instead raced a slow machine.
      const events = yield* WorkerPool.events(ActorTasks)
      const made = yield* Deferred.make<void>()
      yield* events.pipe(
        Stream.filter((event) => event._tag === "ActorCall" && event.method === "stubborn"),
        Stream.runForEach(() => Deferred.succeed(made, undefined)),
        Effect.forkScoped
      )
      // `stubborn` ignores its interruption: it runs its 300 ms, and the cancel waits for its answer.
      const fiber = yield* Effect.forkChild(counter.call("stubborn", { millis: 300 }))
      yield* Deferred.await(made)
      yield* Fiber.interrupt(fiber)
      const report = yield* Observe.insights(ActorTasks)
      assert.isAtLeast(report.total.working, 300 - 2)
      addsUp(report)
    }).pipe(
      Effect.scoped,
      Effect.provide(WorkerPool.layer(ActorTasks, { entry: actorEntry, size: 1, insights: { print: false } }))
    ))

  it.live("asking a pool built without insights fails naming the option", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Observe.insights(ContractTasks))
      const reason = poolReasonOf(error)
      assert.isTrue(reason._tag === "InvalidOptions" && reason.path[0] === "insights")
    }).pipe(Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 1 }))))
})
