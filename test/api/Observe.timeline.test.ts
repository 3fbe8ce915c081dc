/**
 * `Observe.timeline`: the file is a valid Chrome trace — metadata names every track, task slices
 * sit on their worker's track without overlapping (one task at a time per worker), timestamps are
 * microseconds, each flow arrow has both ends, counters are there — and a full ring says how many
 * events it dropped. Actor method runs are slices on their worker's track, as task runs are.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Actor, Observe, Task, WorkerPool } from "../../src/index.ts"
import { ActorTasks, Counter } from "../fixtures/actors.ts"
import { Add, ContractTasks, Sleep } from "../fixtures/tasks.ts"
import { rows } from "../support/backends.ts"

const entry = new URL("../fixtures/worker.ts", import.meta.url)
const actorEntry = new URL("../fixtures/actor-worker.ts", import.meta.url)

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

describe.each(rows)("timeline on $name", (row) => {
  const pool = WorkerPool.layer(ContractTasks, { entry, size: 2 }).pipe(Layer.provide(row.backend))

  it.live("a run as a Chrome trace: tracks, task slices, flows, counters, written when the scope closes", () =>
    Effect.gen(function*() {
      const path = join(mkdtempSync(join(tmpdir(), "ep-timeline-")), "run.json")
      yield* Effect.gen(function*() {
        yield* Observe.timeline(ContractTasks, { path })
        yield* Task.map(Sleep, Array.from({ length: 6 }, (_, i) => ({ millis: 5, marker: `m${i}` })), { chunkSize: 1 })
        yield* Task.map(Add, Array.from({ length: 50 }, (_, i) => ({ a: i, b: 1 })))
      }).pipe(Effect.scoped)
      const trace = JSON.parse(readFileSync(path, "utf8")) as Observe.TraceFile
      assert.strictEqual(trace.displayTimeUnit, "ms")
      assert.strictEqual(trace.otherData.droppedEvents, 0)
      const events = trace.traceEvents
      const names = new Map(events.filter((e) => e.ph === "M" && e.name === "thread_name").map((e) => [e.tid, e.args!.name]))
      assert.strictEqual(names.get(0), "caller")
      const tasks = events.filter((e) => e.ph === "X" && e.cat === "task")
      assert.strictEqual(tasks.length, 56)
      for (const slice of tasks) {
        assert.isTrue(names.get(slice.tid) === `worker ${slice.tid - 1}`, `slice on a named worker track (${slice.tid})`)
        assert.isAtLeast(slice.ts, 0)
        assert.isAtLeast(slice.dur!, 0)
      }
      // Microseconds: a 5 ms sleep lasts thousands of them.
      for (const slice of tasks.filter((e) => e.name === "Sleep")) assert.isAtLeast(slice.dur!, 4_000)
      assert.deepStrictEqual(tasks.filter((e) => e.name === "Sleep").map((e) => e.args!.attempt), [1, 1, 1, 1, 1, 1])
      // Nesting: a worker runs one task at a time, so its task slices never overlap.
      for (const tid of new Set(tasks.map((e) => e.tid))) {
        const own = tasks.filter((e) => e.tid === tid).sort((a, b) => a.ts - b.ts)
        for (let i = 1; i < own.length; i++) assert.isAtLeast(own[i]!.ts + 1, own[i - 1]!.ts + own[i - 1]!.dur!, "no overlap")
      }
      // Every flow has its start (in a submission slice on the caller's track) and its end (a task slice).
      const starts = new Map(events.filter((e) => e.ph === "s").map((e) => [e.id, e]))
      const ends = events.filter((e) => e.ph === "f")
      assert.strictEqual(ends.length, 56)
      const submissions = events.filter((e) => e.ph === "X" && e.cat === "submission")
      assert.strictEqual(submissions.length, 2)
      for (const end of ends) {
        const start = starts.get(end.id)!
        assert.isDefined(start)
        assert.strictEqual(start.tid, 0)
        assert.isTrue(submissions.some((s) => s.ts <= start.ts && start.ts <= s.ts + s.dur!), "the flow starts in a submission")
        assert.isTrue(tasks.some((t) => t.tid === end.tid && t.ts === end.ts), "the flow ends on a task slice")
        assert.isAtMost(start.ts, end.ts)
      }
      const counters = events.filter((e) => e.ph === "C")
      assert.isAbove(counters.length, 0)
      assert.deepStrictEqual(counters.at(-1)!.args, { queued: 0, inFlight: 0 })
      assert.isTrue(counters.some((c) => (c.args!.queued as number) > 0))
    }).pipe(Effect.provide(pool), row.within))

  it.live("actor method runs are slices on their worker's track", () =>
    Effect.gen(function*() {
      const recorder = yield* Observe.timeline(ActorTasks)
      const counter = yield* Actor.spawn(Counter, { start: 0 })
      for (let i = 0; i < 3; i++) yield* counter.call("append", { value: `v${i}`, millis: 5 })
      const events = recorder.trace().traceEvents
      const names = new Map(events.filter((e) => e.ph === "M" && e.name === "thread_name").map((e) => [e.tid, e.args!.name]))
      const runs = events.filter((e) => e.ph === "X" && e.cat === "actor")
      assert.deepStrictEqual(runs.map((e) => [e.name, names.get(e.tid), e.args!.outcome]), [
        ["Counter.append", "worker 0", "Success"],
        ["Counter.append", "worker 0", "Success"],
        ["Counter.append", "worker 0", "Success"]
      ])
      // Microseconds: a 5 ms sleep lasts thousands of them.
      for (const run of runs) assert.isAtLeast(run.dur!, 4_000)
    }).pipe(
      Effect.scoped,
      Effect.provide(WorkerPool.layer(ActorTasks, { entry: actorEntry, size: 1 }).pipe(Layer.provide(row.backend))),
      row.within
    ))
})

describe("timeline", () => {
  it.live("an interrupted map's tasks leave the in-flight counter", () =>
    Effect.gen(function*() {
      const recorder = yield* Observe.timeline(ContractTasks)
      const inputs = Array.from({ length: 4 }, (_, i) => ({ millis: 5_000, marker: `m${i}` }))
      // Interrupted while its tasks run on the workers: they are cancelled there, never settled.
      yield* Effect.exit(Task.map(Sleep, inputs, { chunkSize: 1 }).pipe(Effect.timeout("300 millis")))
      yield* Effect.sleep("200 millis")
      yield* Task.map(Add, [{ a: 1, b: 2 }, { a: 3, b: 4 }])
      const trace = recorder.trace().traceEvents
      const counters = trace.filter((e) => e.ph === "C")
      assert.deepStrictEqual(counters.at(-1)!.args, { queued: 0, inFlight: 0 })
      // What each worker ran until the cancel reached it is on its track (was: nothing, as if idle).
      const cancelled = trace.filter((e) => e.ph === "X" && e.name === "Sleep (cancelled)")
      assert.strictEqual(cancelled.length, 2)
      assert.deepStrictEqual(new Set(cancelled.map((e) => e.tid)).size, 2, "one on each worker")
    }).pipe(Effect.scoped, Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 2 }))))

  it.live("a trace that cannot be written when the scope closes is logged as a warning", () =>
    Effect.gen(function*() {
      const logged: Array<{ readonly level: string; readonly message: string; readonly cause: string }> = []
      const logger = Logger.make(({ cause, logLevel, message }) =>
        void logged.push({ level: logLevel, message: String(message), cause: Cause.pretty(cause) })
      )
      const path = join(mkdtempSync(join(tmpdir(), "ep-timeline-")), "missing", "run.json")
      yield* Effect.gen(function*() {
        yield* Observe.timeline(ContractTasks, { path })
        yield* Task.map(Add, [{ a: 1, b: 2 }])
      }).pipe(Effect.scoped, Effect.provide(Logger.layer([logger])))
      assert.deepStrictEqual(logged.map((entry) => entry.level), ["Warn"])
      assert.include(logged[0]!.message, path)
      assert.include(logged[0]!.cause, "ENOENT")
    }).pipe(Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 1 }))))

  it.live("a full ring drops the oldest events and says how many", () =>
    Effect.gen(function*() {
      const recorder = yield* Observe.timeline(ContractTasks, { maxEvents: 20 })
      yield* Task.map(Add, Array.from({ length: 40 }, (_, i) => ({ a: i, b: 1 })), { chunkSize: 4 })
      const trace = recorder.trace()
      assert.isAbove(recorder.dropped(), 0)
      assert.strictEqual(trace.otherData.droppedEvents, recorder.dropped())
      const notice = trace.traceEvents.find((e) => e.ph === "i" && e.name.includes("dropped"))!
      assert.match(notice.name, new RegExp(`^${recorder.dropped()} earlier events dropped \\(the timeline keeps the last 20\\)`))
      // The counters count what the kept events show: never below zero, nothing left at the end.
      const counters = trace.traceEvents.filter((e) => e.ph === "C")
      for (const counter of counters) {
        assert.isAtLeast(counter.args!.queued as number, 0, JSON.stringify(counter))
        assert.isAtLeast(counter.args!.inFlight as number, 0, JSON.stringify(counter))
      }
      assert.deepStrictEqual(counters.at(-1)!.args, { queued: 0, inFlight: 0 })
      for (const maxEvents of [0, -1, 1.5, NaN, Infinity, 2 ** 32]) {
        const error = yield* Effect.flip(Observe.timeline(ContractTasks, { maxEvents }))
        assert.strictEqual(error.reason._tag, "InvalidOptions", `maxEvents ${maxEvents}`)
      }
    }).pipe(Effect.scoped, Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 1 }))))
})
