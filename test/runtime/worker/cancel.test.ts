/**
 * Interrupting a `map` whose chunk put a running and a queued task in one worker (issue 12, case 1;
 * `WorkerRuntime` rule 2). Before the fix the worker interrupted the running handler first; its
 * end started the queued task, which nobody had marked cancelled, so it ran on until the pool
 * terminated the worker after `interruptGrace`: the interruption took the whole grace, and neither
 * the queued task's finalizers nor the worker Layer's exit hooks ran.
 *
 * On every backend row, and as a property of seeded simulated schedules.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Stream from "effect/Stream"
import { existsSync, mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Simulation, Task, WorkerPool } from "../../../src/index.ts"
import simulationEntry, { Echo, ledger, SimTasks } from "../../fixtures/simulation.ts"
import { Add, ContractTasks, Hold, WhoAmI } from "../../fixtures/tasks.ts"
import { rows } from "../../support/backends.ts"

const entry = new URL("../../fixtures/worker.ts", import.meta.url)
const tempDir = () => mkdtempSync(join(tmpdir(), "ep-cancel-"))

/** Waits (on the program's clock) until `path` exists. */
const awaitFile = (path: string) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 1_000; attempt++) {
      if (existsSync(path)) return
      yield* Effect.sleep("10 millis")
    }
    assert.fail(`${path} never appeared`)
  })

/** Waits (a bounded poll: a hang detector) until the events received so far satisfy `done`. */
const awaitEvents = (events: ReadonlyArray<WorkerPool.PoolEvent>, done: (events: ReadonlyArray<WorkerPool.PoolEvent>) => boolean) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 1_000 && !done(events); attempt++) yield* Effect.sleep("5 millis")
    assert.isTrue(done(events), "the pool's events never arrived")
  })

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

describe.each(rows)("interrupting a map on $name", (row) => {
  for (const pipelineDepth of [1, 2]) {
    it.live(
      `pipelineDepth ${pipelineDepth}: the running handler's finalizers run, the queued tasks never start, the worker lives on and runs its exit hooks at close`,
      () =>
        Effect.gen(function*() {
          const dir = tempDir()
          const exitDir = tempDir()
          // Read by the fixture's worker Layer as it is built; a thread takes a copy of the environment.
          yield* Effect.acquireRelease(
            Effect.sync(() => void (process.env.EP_EXIT_DIR = exitDir)),
            () => Effect.sync(() => void delete process.env.EP_EXIT_DIR)
          )
          // A grace the test cannot afford: needing it shows as a hang (cut off below), not a slow pass.
          const pool = WorkerPool.layer(ContractTasks, { entry, size: 1, pipelineDepth, interruptGrace: "30 seconds" }).pipe(
            Layer.provide(row.backend)
          )
          yield* Effect.scoped(
            Effect.gen(function*() {
              const events: Array<WorkerPool.PoolEvent> = []
              const stream = yield* WorkerPool.events(ContractTasks)
              yield* Effect.forkScoped(Stream.runForEach(stream, (event) => Effect.sync(() => void events.push(event))))
              // One worker, chunks of two: "running" and "queued" travel in one message; with a
              // pipeline of two, "behind" follows in a second one (else it waits in the pool).
              const inputs = ["running", "queued", "behind"].map((name) => ({ millis: 60_000, dir, name }))
              const fiber = yield* Effect.forkChild(Task.map(Hold, inputs, { chunkSize: 2 }))
              yield* awaitFile(join(dir, "started-running"))
              yield* Fiber.interrupt(fiber).pipe(
                // A hang detector, not a timing: the interruption needs no time of its own, and
                // anything near the 30 s grace means the worker was left to be terminated.
                Effect.timeoutOrElse({
                  duration: "15 seconds",
                  orElse: () => Effect.sync(() => assert.fail("interrupting the map waited for interruptGrace"))
                })
              )
              assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(fiber)))
              assert.isTrue(existsSync(join(dir, "finalized-running")), "the running handler's finalizer ran before the interruption completed")
              assert.isFalse(existsSync(join(dir, "started-queued")), "the queued task started after it was cancelled")
              assert.isFalse(existsSync(join(dir, "started-behind")), "the task behind started after it was cancelled")
              // The worker was not terminated: it is still worker 0, and no replacement was started.
              assert.strictEqual(yield* Task.run(Add, { a: 1, b: 2 }), 3)
              assert.strictEqual((yield* Task.run(WhoAmI, {})).workerId, 0)
              assert.strictEqual((yield* WorkerPool.stats(ContractTasks)).workersStarted, 1)
              // The map's messages, as sent: the cancelled tasks never settle, the two runs after it do.
              yield* awaitEvents(events, (seen) => seen.filter((event) => event._tag === "Settled").length === 2)
              const dispatched = events.flatMap((event) =>
                event._tag === "Dispatched" && event.tasks[0]!.submission === 0 ? [event.tasks.map((task) => task.index)] : []
              )
              assert.deepStrictEqual(dispatched, pipelineDepth === 1 ? [[0, 1]] : [[0, 1], [2]])
            }).pipe(Effect.provide(pool))
          )
          // The pool closed: worker 0 ran its exit hooks (a terminated one runs none).
          assert.deepStrictEqual(readdirSync(exitDir), ["exit-0"])
          assert.isFalse(existsSync(join(dir, "started-queued")))
        }).pipe(Effect.scoped, row.within)
    )
  }
})

describe.each(rows)("interrupting several calls at once on $name", (row) => {
  it.live("a queued task of one call never starts when the running task of another is interrupted with it", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const pool = WorkerPool.layer(ContractTasks, { entry, size: 1, pipelineDepth: 2, interruptGrace: "30 seconds" }).pipe(
        Layer.provide(row.backend)
      )
      yield* Effect.gen(function*() {
        // Two calls, as a program's fibers are when Ctrl-C interrupts it: "running" holds the
        // worker, "queued" waits behind it there. Each call is its own submission with its own
        // cancel; a worker that heard them one at a time started "queued" as "running" ended.
        const calls = ["running", "queued"].map((name) => Task.run(Hold, { millis: 60_000, dir, name }))
        const fiber = yield* Effect.forkChild(Effect.all(calls, { concurrency: "unbounded" }))
        yield* awaitFile(join(dir, "started-running"))
        yield* Fiber.interrupt(fiber).pipe(
          // A hang detector, as above.
          Effect.timeoutOrElse({
            duration: "15 seconds",
            orElse: () => Effect.sync(() => assert.fail("interrupting the calls waited for interruptGrace"))
          })
        )
        assert.isTrue(existsSync(join(dir, "finalized-running")))
        assert.isFalse(existsSync(join(dir, "started-queued")), "the queued call's task started after it was cancelled")
        assert.strictEqual((yield* WorkerPool.stats(ContractTasks)).workersStarted, 1)
      }).pipe(Effect.provide(pool))
    }).pipe(row.within))
})

describe("interrupting a map, simulated", () => {
  it.effect("at random virtual times, over 300 seeds: handlers that yield stop without any worker being terminated", () =>
    Effect.gen(function*() {
      let exercised = 0
      for (let seed = 0; seed < 300; seed++) {
        const size = 1 + (seed % 2)
        const pipelineDepth = 1 + (Math.floor(seed / 2) % 3)
        const chunkSize = 2 + (Math.floor(seed / 6) % 3)
        const program = Effect.gen(function*() {
          // Every handler outlasts the 1 s grace: a cancelled task left to run would get its
          // worker terminated.
          const count = yield* Random.nextIntBetween(2, 10)
          const inputs: Array<{ n: number; millis: number; fail: "none" }> = []
          for (let n = 0; n < count; n++) inputs.push({ n, millis: yield* Random.nextIntBetween(1_500, 5_000), fail: "none" })
          const fiber = yield* Effect.forkChild(Task.map(Echo, inputs, { chunkSize }))
          yield* Effect.sleep(yield* Random.nextIntBetween(0, 8_000))
          yield* Fiber.interrupt(fiber)
          // Past any grace timer the interruption may have left.
          yield* Effect.sleep("5 seconds")
        }).pipe(Effect.provide(Simulation.layer(SimTasks, { entry: simulationEntry, size, pipelineDepth, interruptGrace: "1 second" })))
        ledger.reset()
        const report = yield* Simulation.run(program, { seed })
        Simulation.verify(report, ({ exit, pools, trace }) => {
          assert.isTrue(Exit.isSuccess(exit))
          assert.isFalse(trace.some((event) => event._tag === "Terminate"), "a worker was terminated")
          for (const worker of pools[0]!.workers) {
            assert.strictEqual(worker.fate, "exited")
            assert.isTrue(ledger.exitHooks.has(worker.id), `worker ${worker.id}'s exit hooks did not run`)
            assert.strictEqual(ledger.released.get(worker.id) ?? 0, ledger.acquired.get(worker.id) ?? 0, "a handler's finalizer did not run")
          }
          if (interruptsRunningAndQueued(trace)) exercised++
        })
      }
      // The seeds must reach the case at all: a cancel sent to a worker that holds a running
      // task and a queued one.
      assert.isAbove(exercised, 50)
    }))
})

/** Whether some `Cancel` reached a worker that had one task running and another one unanswered. */
const interruptsRunningAndQueued = (trace: ReadonlyArray<Simulation.Event>): boolean => {
  const unanswered = new Map<number, Set<number>>()
  const running = new Set<number>()
  for (const event of trace) {
    if (event._tag === "Dispatch") {
      const held = unanswered.get(event.worker) ?? new Set()
      for (const task of event.tasks) held.add(task.id)
      unanswered.set(event.worker, held)
    }
    if (event._tag === "Start") running.add(event.task)
    if (event._tag === "Reply") {
      unanswered.get(event.worker)?.delete(event.task)
      running.delete(event.task)
    }
    if (event._tag === "Interrupt") {
      const held = [...(unanswered.get(event.worker) ?? [])]
      if (held.length >= 2 && held.some((task) => running.has(task))) return true
    }
  }
  return false
}
