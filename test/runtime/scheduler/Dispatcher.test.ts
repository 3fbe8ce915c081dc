/**
 * Regression tests for scheduler bugs the simulation's properties found. Each case replays a
 * schedule on the simulated backend and asserts over its trace.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { Simulation, Task, TaskError, WorkerPool } from "../../../src/index.ts"
import * as EffectCore from "effect/Effect"
import { type Backend, realTimers } from "../../../src/runtime/backends/Backend.ts"
import { type FromWorker, Op, Outcome, Run } from "../../../src/runtime/protocol/protocol.ts"
import { dispatcherOn, reasonOf } from "../../support/backends.ts"
import entry, { Echo, SimTasks } from "../../fixtures/simulation.ts"

const quick = (n: number) => ({ n, millis: 1, fail: "none" as const })

/** A backend whose workers answer every task at once with its payload. */
const echoBackend: Backend = {
  name: "echo",
  capabilities: { sharesMemory: true, canTerminate: true, isolatesCrashes: false, heapLimits: false, pinsCpus: false, lowersPriority: false },
  timers: realTimers,
  defaultSize: () => 1,
  make: () =>
    EffectCore.succeed({
      spawn: (_id, events) => {
        queueMicrotask(() => events.onMessage([Op.Ready]))
        return {
          send: (message) => {
            if (message[0] === Op.Shutdown) {
              return queueMicrotask(() => events.onExit({ kind: "Exited", message: "exited with code 0" }))
            }
            if (message[0] !== Op.Run) return
            const results: Array<unknown> = [Op.Results]
            for (let at = 1; at < message.length; at += Run.stride) results.push(message[at + Run.id], Outcome.Success, message[at + Run.payload])
            queueMicrotask(() => events.onMessage(results as unknown as FromWorker))
          },
          terminate: () => queueMicrotask(() => events.onExit({ kind: "Terminated", message: "was terminated" }))
        }
      }
    })
}

describe("Dispatcher", () => {
  it("lets go of a submission (and its payloads) once all its tasks are sent", async () => {
    const dispatcher = dispatcherOn(echoBackend, "file:///echo.ts", { size: 2 })
    await dispatcher.start()
    for (let round = 0; round < 3; round++) {
      await new Promise<void>((resolve) => {
        let settled = 0
        dispatcher.submit({
          taskName: "Big",
          payloads: [new Float64Array(8), new Float64Array(8)],
          chunkSize: 1,
          coalesce: true,
          timeoutMillis: 0,
          settle: () => {
            if (++settled === 2) resolve()
          }
        })
      })
      // Was: every past submission stayed in the queue until 1,024 more had gone by, so a loop
      // of big maps held every round's payloads (2.6 GB for 31 images of 72 MB).
      assert.strictEqual(dispatcher.stats().queuedSubmissions, 0)
    }
    await dispatcher.close()
  })

  it("lets go of each run once it is sent, while runs behind it still queue", async () => {
    // One worker, one message at a time: 3,000 concurrent single runs go out 256 per message.
    const dispatcher = dispatcherOn(echoBackend, "file:///echo.ts", { size: 1, pipelineDepth: 1 })
    await dispatcher.start()
    const count = 3_000
    let worst = 0
    await new Promise<void>((resolve) => {
      let settled = 0
      for (let i = 0; i < count; i++) {
        dispatcher.submit({
          taskName: "Small",
          payloads: [i],
          chunkSize: 1,
          coalesce: true,
          timeoutMillis: 0,
          settle: () => {
            // Run `settled` and every one before it are answered: at most the rest may be held.
            worst = Math.max(worst, dispatcher.stats().queuedSubmissions - (count - settled))
            if (++settled === count) resolve()
          }
        })
      }
    })
    // Was: answered runs stayed in the queue until the sent half of it was dropped at once, and
    // each held its caller's settle callback (a finished fiber, for `Task.run`): up to 1,500 here.
    assert.isAtMost(worst, 0)
    await dispatcher.close()
  })

  it.effect("rule 1: a message holds tasks of one chunk size, never more than a map's chunkSize", () =>
    Effect.gen(function*() {
      // One worker, one message at a time: while the first run is answered, a second run and a
      // map with chunkSize 2 queue up behind it. Single runs coalesce; they must not swallow the map.
      const program = Effect.all([
        Task.run(Echo, quick(0)),
        Task.run(Echo, quick(1)),
        Task.map(Echo, [quick(2), quick(3), quick(4)], { chunkSize: 2 })
      ], { concurrency: "unbounded" }).pipe(Effect.provide(Simulation.layer(SimTasks, { entry, size: 1, pipelineDepth: 1 })))
      for (let seed = 0; seed < 20; seed++) {
        const report = yield* Simulation.run(program, { seed })
        Simulation.verify(report, ({ trace }) => {
          const messages = trace.flatMap((event) => event._tag === "Dispatch" ? [event.tasks.map((task) => task.submission)] : [])
          for (const message of messages) {
            if (!message.includes(2)) continue
            assert.isTrue(message.every((submission) => submission === 2), `the map shares a message: ${message}`)
            assert.isAtMost(message.length, 2, "the map's message exceeds its chunkSize")
          }
          assert.strictEqual(messages.flat().filter((submission) => submission === 2).length, 3)
        })
      }
    }))

  it.effect("rule 8: a map refused at once leaves no trace in the pool's count of waiting tasks", () =>
    Effect.gen(function*() {
      // One worker, one message at a time, two queued tasks at most: the first map fills the
      // queue, the second will not wait and is refused with PoolSaturated. Its fail-fast cancel
      // took its tasks off the count of waiting ones although none had ever waited: -3.
      const program = Effect.gen(function*() {
        const first = yield* Effect.forkChild(
          Task.map(Echo, [0, 1, 2].map((n) => ({ n, millis: 50, fail: "none" as const })), { chunkSize: 1 }),
          { startImmediately: true }
        )
        const refused = yield* Effect.flip(Task.map(Echo, [quick(3), quick(4), quick(5)], { whenFull: "fail" }))
        const during = yield* WorkerPool.stats(SimTasks)
        yield* Fiber.join(first)
        return { refused, during, after: yield* WorkerPool.stats(SimTasks) }
      }).pipe(Effect.provide(Simulation.layer(SimTasks, { entry, size: 1, pipelineDepth: 1, maxQueued: 2 })))
      const report = yield* Simulation.run(program, { seed: 1 })
      Simulation.verify(report, ({ exit }) => {
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        const { refused, during, after } = (exit as Exit.Success<any>).value
        assert.instanceOf(reasonOf(refused), TaskError.PoolSaturated)
        assert.strictEqual(during.waiting, 0)
        assert.strictEqual(after.waiting, 0)
      })
    }))

  it.effect("rule 5: a worker that dies after its ready handshake while the pool is starting is replaced", () =>
    Effect.gen(function*() {
      // Worker 1 gets ready, then crashes before the others are: the pool must neither start one
      // short nor count the dead worker as ready.
      const program = Task.run(Echo, quick(7)).pipe(Effect.provide(Simulation.layer(SimTasks, { entry, size: 3 })))
      let exercised = 0
      for (let seed = 0; seed < 30; seed++) {
        const report = yield* Simulation.run(program, { seed, faults: [{ _tag: "CrashAt", worker: 1, millis: 3 }] })
        Simulation.verify(report, ({ exit, trace }) => {
          assert.deepStrictEqual(exit, Exit.succeed(7))
          const crash = trace.findIndex((event) => event._tag === "Crash")
          const readyBeforeCrash = trace.slice(0, crash).filter((event) => event._tag === "Ready").length
          if (crash >= 0 && readyBeforeCrash < 3 && trace.some((e, i) => i < crash && e._tag === "Ready" && e.worker === 1)) {
            exercised++
          }
          // The program runs once the pool's layer is built: by then three workers are ready.
          const ready = new Set<number>()
          for (const event of trace.slice(0, trace.findIndex((event) => event._tag === "Submit"))) {
            if (event._tag === "Ready") ready.add(event.worker)
            if (event._tag === "Exit") ready.delete(event.worker)
          }
          assert.strictEqual(ready.size, 3, "the pool started with three ready workers")
        })
      }
      assert.isAbove(exercised, 0, "some seed crashed worker 1 between its ready handshake and the pool's start")
    }))

  it.effect("rule 5: replacements that die before their ready handshake are backed off, then the pool is broken", () =>
    Effect.gen(function*() {
      // The only worker dies; every replacement dies during its start-up (a crashing init).
      const faults: Simulation.FaultPlan = [
        { _tag: "CrashAt", worker: 0, millis: 20 },
        ...[1, 2, 3, 4, 5].map((worker) => ({ _tag: "CrashOnInit" as const, worker }))
      ]
      const program = Effect.gen(function*() {
        yield* Effect.sleep("1 minute")
        return yield* Effect.flip(Task.run(Echo, quick(7)))
      }).pipe(Effect.provide(Simulation.layer(SimTasks, { entry, size: 1 })))
      const report = yield* Simulation.run(program, { seed: 5, faults })
      Simulation.verify(report, ({ exit, trace }) => {
        assert.isTrue(Exit.isSuccess(exit), "the task failed instead of waiting forever")
        const error = (exit as Exit.Success<unknown>).value
        assert.instanceOf(reasonOf(error), TaskError.PoolClosed)
        assert.include(reasonOf(error).message, "no replacement worker could be started")
        const restarts = trace.flatMap((event) => event._tag === "Restart" ? [event.at] : [])
        assert.strictEqual(restarts.length, 5, "five replacements, then no more")
        // The first replacement starts at once; after each failed one the pool waits 100, 200, 400, 800 ms.
        for (let i = 1; i < restarts.length; i++) assert.isAtLeast(restarts[i]! - restarts[i - 1]!, 100 * 2 ** (i - 1))
      })
    }))

  it.effect("rule 12: a map whose heavy tasks come first still ends with both workers busy to the end", () =>
    Effect.gen(function*() {
      // 20 tasks of 100 ms, then 180 of 10 ms: 3.8 s of work for two workers. Static chunks of an
      // eighth (25 tasks) put 20 heavy tasks in the first message, 2.05 s on one worker alone.
      const inputs = Array.from({ length: 200 }, (_, n) => ({ n, millis: n < 20 ? 100 : 10, fail: "none" as const }))
      const program = Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        const results = yield* Task.map(Echo, inputs)
        return { results, millis: (yield* Clock.currentTimeMillis) - start }
      }).pipe(Effect.provide(Simulation.layer(SimTasks, { entry, size: 2 })))
      const report = yield* Simulation.run(program, { seed: 3, latency: { min: 1, max: 1 }, work: { min: 0, max: 0 } })
      Simulation.verify(report, ({ exit, trace }) => {
        assert.isTrue(Exit.isSuccess(exit))
        const { millis, results } = (exit as unknown as Exit.Success<{ results: ReadonlyArray<number>; millis: number }>).value
        assert.deepStrictEqual(results, inputs.map(({ n }) => n))
        assert.isAtMost(millis, 1900 * 1.05, "the workers' shares of the work differed by more than 5%")
        // The first tasks went one a message: their cost was not known yet.
        const dispatches = trace.filter((event) => event._tag === "Dispatch")
        assert.deepStrictEqual(dispatches.slice(0, 4).map((event) => event.tasks.length), [1, 1, 1, 1])
      })
    }))

  it.effect("rule 12: a map with a chunkSize of its own keeps it", () =>
    Effect.gen(function*() {
      const inputs = Array.from({ length: 40 }, (_, n) => ({ n, millis: 10, fail: "none" as const }))
      // One worker: the pool's fair share (rule 2) is then the whole queue, and cuts no message.
      const program = Task.map(Echo, inputs, { chunkSize: 10 }).pipe(
        Effect.provide(Simulation.layer(SimTasks, { entry, size: 1 }))
      )
      const report = yield* Simulation.run(program, { seed: 3, latency: { min: 1, max: 1 }, work: { min: 0, max: 0 } })
      Simulation.verify(report, ({ exit, trace }) => {
        assert.isTrue(Exit.isSuccess(exit))
        const sizes = trace.flatMap((event) => event._tag === "Dispatch" ? [event.tasks.length] : [])
        assert.deepStrictEqual(sizes, [10, 10, 10, 10])
      })
    }))
})
