/**
 * The blast radius of a crash (Dispatcher rule 7): a dead worker's never-started tasks are sent
 * again without counting an attempt, the answers of tasks it finished survive a `process.exit`
 * (its exit hook flushes them), and only the running one is lost or retried. Running out of
 * memory gives no exit hook: the answers the worker had not sent yet die with it.
 *
 * On backends whose workers crash alone (threads), and on seeded simulated schedules.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { Simulation, Task, TaskError, WorkerPool } from "../../../src/index.ts"
import simulationEntry, { Echo, SimTasks } from "../../fixtures/simulation.ts"
import { Add, ContractTasks, Die } from "../../fixtures/tasks.ts"
import { reasonOf, rows } from "../../support/backends.ts"

const entry = new URL("../../fixtures/worker.ts", import.meta.url)

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

/**
 * Runs `body` while recording the pool's events; returns its value and the events up to the last
 * of its `tasks` tasks settling.
 */
const recording = <A, E, R>(body: Effect.Effect<A, E, R>, tasks: number) =>
  Effect.scoped(Effect.gen(function*() {
    const events: Array<WorkerPool.PoolEvent> = []
    const stream = yield* WorkerPool.events(ContractTasks)
    yield* Effect.forkScoped(Stream.runForEach(stream, (event) => Effect.sync(() => void events.push(event))))
    const value = yield* body
    // Every task settled before `body` returned; the last events may still be on their way to
    // the consumer. A bounded poll: a hang detector.
    const settled = () => events.filter((event) => event._tag === "Settled").length
    for (let attempt = 0; attempt < 1_000 && settled() < tasks; attempt++) yield* Effect.sleep("5 millis")
    assert.strictEqual(settled(), tasks, "the pool's events never all arrived")
    return { value, events }
  }))

/** The messages sent, each as its tasks' submissions in order, with the worker it went to. */
const messagesOf = (events: ReadonlyArray<WorkerPool.PoolEvent>) =>
  events.flatMap((event) =>
    event._tag === "Dispatched" ? [{ workerId: event.workerId, tasks: event.tasks.map((task) => task.submission) }] : []
  )

describe.each(rows.filter((row) => row.capabilities.isolatesCrashes))("crash blast radius on $name", (row) => {
  const pool = (options: Partial<WorkerPool.Options> = {}) =>
    WorkerPool.layer(ContractTasks, { entry, size: 2, ...options }).pipe(Layer.provide(row.backend))

  it.live("1,000 concurrent runs, one of which calls process.exit: exactly that one fails, with WorkerLost Exited", () =>
    Effect.gen(function*() {
      const killer = 500
      const calls = Array.from({ length: 1_000 }, (_, i) => i === killer ? Task.run(Die, { how: "exit" }) : Task.run(Add, { a: i, b: 0 }))
      const { events, value: results } = yield* recording(Effect.all(calls, { concurrency: "unbounded", mode: "result" }), 1_000)
      results.forEach((result, i) => {
        if (i === killer) return
        assert.deepStrictEqual(result, Result.succeed(i), `run ${i}`)
      })
      const died = results[killer]!
      assert.isTrue(Result.isFailure(died))
      const error = (died as Result.Failure<unknown, TaskError.TaskError>).failure
      assert.strictEqual((reasonOf(error) as TaskError.WorkerLost).exit, "Exited")
      assert.strictEqual(error.attempts, 1)
      // The case was there to be had: the killer shared its message, with answers ahead of it
      // (flushed at process.exit) or tasks behind it (never started, sent again).
      const killerSubmission = events.find((event) => event._tag === "Submitted" && event.taskName === "Die")!
      const submission = (killerSubmission as { submission: number }).submission
      const message = messagesOf(events).find((m) => m.tasks.includes(submission))!
      assert.isAbove(message.tasks.length, 1, "the killer travelled alone")
    }).pipe(Effect.provide(pool()), row.within))

  it.live(
    "20 of 1,000 runs out of memory: without retries, the others lost are those ahead of a killer in its message; with retries: 3, exactly the 20 fail",
    () =>
      Effect.gen(function*() {
        const bad = (i: number) => i % 50 === 25
        const calls = Array.from({ length: 1_000 }, (_, i) => bad(i) ? Task.run(Die, { how: "oom" }) : Task.run(Add, { a: i, b: 0 }))
        const all = Effect.all(calls, { concurrency: "unbounded", mode: "result" })
        const limits = { resourceLimits: { maxOldGenerationSizeMb: 48 } }

        const once = yield* recording(all, 1_000).pipe(Effect.provide(pool(limits)))
        const failed = once.value.flatMap((result, i) => Result.isFailure(result) ? [i] : [])
        for (const i of failed) {
          const error = (once.value[i] as Result.Failure<unknown, TaskError.TaskError>).failure
          assert.strictEqual((reasonOf(error) as TaskError.WorkerLost).exit, "OutOfMemory")
          assert.strictEqual(error.attempts, 1)
        }
        const badOnes = failed.filter(bad)
        const others = failed.filter((i) => !bad(i))
        assert.strictEqual(badOnes.length, 20)
        // Which others may fail: a worker answers quick tasks at the end of each message (or every
        // 10 ms, or every 512 answers); out of memory, no exit hook flushes, so the tasks that ran
        // ahead of the killer in its message die unanswered. Nothing else: a task sent again after
        // a crash travels alone, so another killer cannot take it along.
        const badSubmissions = new Set(once.events.flatMap((event) =>
          event._tag === "Submitted" && event.taskName === "Die" ? [event.submission] : []
        ))
        let mayBeLost = 0
        const aheadOfKiller = new Set<number>()
        for (const message of messagesOf(once.events)) {
          const first = message.tasks.findIndex((submission) => badSubmissions.has(submission))
          if (first <= 0) continue
          mayBeLost += first
          for (const submission of message.tasks.slice(0, first)) aheadOfKiller.add(submission)
        }
        const lostOthers = once.events.flatMap((event) =>
          event._tag === "Settled" && event.outcome === "Lost" && !badSubmissions.has(event.submission) ? [event.submission] : []
        )
        assert.strictEqual(lostOthers.length, others.length)
        for (const submission of lostOthers) {
          assert.isTrue(aheadOfKiller.has(submission), `submission ${submission} was lost, but no killer came after it in a message`)
        }
        // Rule 7: a task sent again after a crash (never started, or retried) travels alone.
        const requeued = new Set<string>()
        for (const event of once.events) {
          if (event._tag === "Requeued") requeued.add(`${event.submission}#${event.index}`)
          if (event._tag !== "Dispatched" || event.tasks.length === 1) continue
          for (const task of event.tasks) {
            assert.isFalse(requeued.has(`${task.submission}#${task.index}`), "a re-queued task shared a message")
          }
        }
        // So the bound: the tasks ahead of the first killer in each message first sent (fewer
        // than 50, as bad ones are every 50th), in the messages whose killer ran.
        assert.isAtMost(others.length, mayBeLost)
        console.log(
          `out of memory, no retries: ${others.length} others failed (at most ${mayBeLost} could), in ${messagesOf(once.events).length} messages`
        )

        const retried = yield* all.pipe(Effect.provide(pool({ ...limits, retries: 3 })))
        const failedRetried = retried.flatMap((result, i) => Result.isFailure(result) ? [i] : [])
        assert.deepStrictEqual(failedRetried, Array.from({ length: 20 }, (_, k) => k * 50 + 25))
        for (const i of failedRetried) {
          const error = (retried[i] as Result.Failure<unknown, TaskError.TaskError>).failure
          assert.strictEqual((reasonOf(error) as TaskError.WorkerLost).exit, "OutOfMemory")
          assert.strictEqual(error.attempts, 4, "sent once, re-sent three times")
        }
      }).pipe(row.within),
    // 100 workers run out of memory and are replaced: tens of seconds on 2 cores. A hang bound.
    180_000
  )
})

describe.each(rows)("message sizes on $name", (row) => {
  it.live("map with chunkSize 1 sends one task per message, while concurrent runs still coalesce", () =>
    Effect.gen(function*() {
      const inputs = Array.from({ length: 300 }, (_, i) => ({ a: i, b: 1 }))
      const { events, value } = yield* recording(Effect.all([
        Task.map(Add, inputs, { chunkSize: 1 }),
        Effect.all(inputs.map((input) => Task.run(Add, input)), { concurrency: "unbounded" })
      ], { concurrency: "unbounded" }), 600)
      const expected = inputs.map(({ a }) => a + 1)
      assert.deepStrictEqual(value, [expected, expected])
      const map = events.find((event) => event._tag === "Submitted" && event.count === 300)! as { submission: number }
      const messages = messagesOf(events)
      const ofMap = messages.filter((m) => m.tasks.includes(map.submission))
      assert.strictEqual(ofMap.length, 300, "one message per task of the map")
      assert.isTrue(ofMap.every((m) => m.tasks.length === 1))
      const ofRuns = messages.filter((m) => !m.tasks.includes(map.submission))
      assert.isBelow(ofRuns.length, 300, "concurrent runs did not share messages")
    }).pipe(Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 2 }).pipe(Layer.provide(row.backend))), row.within))
})

describe("crash blast radius, simulated", () => {
  it.effect("over 200 seeds: a task a dead worker never started is re-queued NotStarted, then settles Success with attempts 1", () =>
    Effect.gen(function*() {
      let requeued = 0
      for (let seed = 0; seed < 200; seed++) {
        // One crash, on worker 0; its replacement and worker 1 never crash, so what is sent again runs.
        const faults: Simulation.FaultPlan = seed % 2 === 0
          ? [{ _tag: "CrashOnTask", worker: 0, task: (seed / 2) % 6 }]
          : [{ _tag: "CrashAt", worker: 0, millis: 5 + (seed % 40) }]
        const inputs = Array.from({ length: 12 }, (_, n) => ({ n, millis: (n * 7 + seed) % 5, fail: "none" as const }))
        const program = Effect.all(inputs.map((input) => Effect.exit(Task.run(Echo, input))), { concurrency: "unbounded" }).pipe(
          Effect.provide(Simulation.layer(SimTasks, { entry: simulationEntry, size: 2, pipelineDepth: 2 }))
        )
        const report = yield* Simulation.run(program, { seed, faults })
        Simulation.verify(report, ({ exit, trace }) => {
          assert.isTrue(Exit.isSuccess(exit))
          // Wire id → the task it carried; the last message that carried each task to a worker.
          const lastSent = new Map<string, { readonly id: number; readonly worker: number }>()
          const started = new Set<number>()
          const notStarted = new Set<string>()
          for (const event of trace) {
            if (event._tag === "Dispatch") {
              for (const task of event.tasks) lastSent.set(`${task.submission}#${task.index}`, { id: task.id, worker: event.worker })
            }
            if (event._tag === "Start") started.add(event.task)
            if (event._tag === "Requeue" && event.why === "NotStarted") {
              const key = `${event.submission}#${event.index}`
              const sent = lastSent.get(key)!
              assert.isFalse(started.has(sent.id), `task ${key} was re-queued NotStarted after it started on worker ${sent.worker}`)
              notStarted.add(key)
            }
            if (event._tag === "Settle" && notStarted.has(`${event.submission}#${event.index}`)) {
              assert.strictEqual(event.outcome, "Success")
              assert.strictEqual(event.attempts, 1, "a never-started task's attempt was counted")
            }
          }
          requeued += notStarted.size
        })
      }
      assert.isAbove(requeued, 100, "the seeds re-queued few never-started tasks")
    }))
})
