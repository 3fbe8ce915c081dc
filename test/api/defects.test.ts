/**
 * What a caller gets when a handler throws or dies, on every backend: one `TaskError` with
 * reason `Defect` naming the worker and the input, whatever was thrown and however (in
 * `Effect.sync`, which runs without a fiber; in a fiber; from the handler itself) — never a lost
 * worker, never a crash of the caller's process.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { fuse } from "../../src/core/Fusion.ts"
import { Pipeline, ProcessBackend, Task, TaskError, WorkerPool } from "../../src/index.ts"
import { DefectTasks, Fragile, Pass, Throw } from "../fixtures/defect-tasks.ts"
import { reasonOf, rows } from "../support/backends.ts"

const entry = new URL("../fixtures/defect-worker.ts", import.meta.url)

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
  assert.strictEqual(ProcessBackend.liveProcesses(), 0)
})

const hows = ["sync", "fiber", "direct"] as const

describe.each(rows)("a handler's defect on $name", (row) => {
  const pool = WorkerPool.layer(DefectTasks, { entry, size: 1 }).pipe(Layer.provide(row.backend))

  it.live("a thrown value that resists being read or turned into text is a Defect, its worker kept", () =>
    row.within(
      Effect.gen(function*() {
        const cases = [
          ["a message getter that throws", "RangeError", "<its message could not be read: Error: hostile message>"],
          ["an object String refuses", "NonError", "<object that cannot be turned into text>"],
          ["a proxy whose every trap throws", "NonError", "<object that cannot be turned into text>"]
        ] as const
        for (const [what, name, message] of cases) {
          for (const how of hows) {
            // Was: the worker crashed reading it (WorkerLost); inline, the caller's process did.
            const error = yield* Effect.flip(Task.run(Throw, { what, how }))
            const reason = reasonOf(error)
            assert.instanceOf(reason, TaskError.Defect, `${what}, ${how}: ${String(error)}`)
            assert.strictEqual((reason as TaskError.Defect).remoteName, name, `${what}, ${how}`)
            assert.strictEqual(reason.message, message, `${what}, ${how}`)
            // The same worker answered every case: none was lost.
            assert.strictEqual((error as TaskError.TaskError).workerId, 0, `${what}, ${how}`)
            assert.include(String(error), `task Throw on worker 0: Defect: ${message}`)
          }
        }
      }).pipe(Effect.provide(pool))
    ))

  it.live("a defect of megabytes arrives cut, saying how much was cut", () =>
    row.within(
      Effect.gen(function*() {
        for (const [what, letter] of [["an Error of a 5 MB message", "m"], ["a 5 MB string", "s"]] as const) {
          for (const how of hows) {
            // Was: all 5 MB crossed to the caller, twice (message and stack), and was the TaskError's message.
            const error = (yield* Effect.flip(Task.run(Throw, { what, how }))) as TaskError.TaskError
            const reason = reasonOf(error) as TaskError.Defect
            assert.strictEqual(reason.message, `${letter.repeat(4_096)}… (4995904 characters cut)`, `${what}, ${how}`)
            assert.isBelow(reason.remoteStack.length, 20_000, `${what}, ${how}`)
            // A stack quotes the message cut too: V8 starts it with `name: message` (NonError: is it).
            assert.include(reason.remoteStack.slice(0, 4_200), reason.message, `${what}, ${how}`)
            assert.isBelow(String(error).length, 5_000, `${what}, ${how}`)
          }
        }
      }).pipe(Effect.provide(pool))
    ))

  it.live("printed, a defect shows the worker's stack: where in the handler it happened", () =>
    row.within(
      Effect.gen(function*() {
        for (const how of hows) {
          // Was: only the frames of the pool's code that answered the caller (call.ts, Dispatcher.ts).
          const exit = yield* Effect.exit(Task.run(Throw, { what: "boom", how }))
          assert.isTrue(exit._tag === "Failure", how)
          if (exit._tag !== "Failure") continue
          const error = Cause.squash(exit.cause) as TaskError.TaskError
          // What `runMain` and the loggers print.
          const printed = Cause.pretty(exit.cause)
          assert.include(printed, "TaskError: task Throw on worker 0: Defect: boom", how)
          assert.match(printed, /\[cause\]: Error: boom\n\s+at .*defect-worker\.ts:\d+/, how)
          assert.strictEqual((error.cause as Error).stack, (error.reason as TaskError.Defect).remoteStack, how)
        }
        // Any other reason has no cause to show.
        const invalid = yield* Effect.flip(Task.run(Throw, { what: "boom", how: "later" as never }))
        assert.strictEqual(reasonOf(invalid)._tag, "PayloadInvalid")
        assert.isUndefined((invalid as TaskError.TaskError).cause)
      }).pipe(Effect.provide(pool))
    ))

  it.live("a batch call's error names which input failed: its index among the call's inputs", () =>
    row.within(
      Effect.gen(function*() {
        // Was: only the input's rendering, the same for inputs alike; in a stream, not even its chunk.
        const inputs = Array.from({ length: 8 }, (_, i) => ({ what: i === 5 ? "boom" : "nothing", how: "sync" as const }))
        const calls: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown, any>]> = [
          ["map", Task.map(Throw, inputs)],
          ["mapUnordered", Task.mapUnordered(Throw, inputs)],
          ["stream in chunks of 2", Stream.runDrain(Stream.fromIterable(inputs).pipe(Task.stream(Throw, { chunkSize: 2 })))],
          ["pipeline in batches of 3", Stream.runDrain(Stream.fromIterable(inputs).pipe(Pipeline.task(Throw, { batch: 3 })))],
          [
            "fused pipeline in batches of 3",
            Stream.runDrain(Stream.range(0, 7).pipe(Pipeline.task(fuse(Pass, Fragile), { batch: 3 })))
          ]
        ]
        for (const [call, effect] of calls) {
          const error = yield* Effect.flip(effect)
          assert.strictEqual(reasonOf(error)._tag, "Defect", call)
          assert.strictEqual((error as TaskError.TaskError).index, 5, call)
          assert.include(String(error), call.startsWith("fused") ? "Defect: five (input #5: 5)" : "(input #5: { what: 'boom'", call)
        }
        // Refused by the caller's side, before any worker: named the same way.
        const bad = [...inputs.slice(0, 3), { what: "nothing", how: "later" as never }]
        for (const effect of [Task.map(Throw, bad), Stream.runDrain(Stream.fromIterable(bad).pipe(Task.stream(Throw, { chunkSize: 2 })))]) {
          const error = yield* Effect.flip(effect)
          assert.strictEqual(reasonOf(error)._tag, "PayloadInvalid")
          assert.strictEqual((error as TaskError.TaskError).index, 3)
        }
        // A single call has no index.
        const single = yield* Effect.flip(Task.run(Throw, { what: "boom", how: "sync" }))
        assert.isUndefined((single as TaskError.TaskError).index)
        assert.include(String(single), "(input: { what: 'boom'")
      }).pipe(Effect.provide(pool))
    ))

  it.live("a handler that returns no Effect is its task's Defect, saying so; its worker kept", () =>
    row.within(
      Effect.gen(function*() {
        // Was: `undefined` crashed the worker (WorkerLost; inline, the caller's process), and a value
        // read "Fiber.runLoop: Not a valid effect: 42".
        for (const [what, shown] of [["undefined", "undefined"], ["a Promise", "Promise { 1 }"], ["a number", "42"]] as const) {
          const error = (yield* Effect.flip(Task.run(Throw, { what, how: "return" }))) as TaskError.TaskError
          const reason = reasonOf(error) as TaskError.Defect
          assert.strictEqual(reason._tag, "Defect", what)
          assert.strictEqual(reason.remoteName, "NotAnEffect", what)
          assert.strictEqual(reason.message, `the handler returned ${shown}, not an Effect: wrap a value in Effect.succeed, a Promise in Effect.promise`)
          assert.strictEqual(error.workerId, 0, what)
        }
        // A fused stage's: named as that stage's.
        const fused = yield* Effect.flip(Stream.runDrain(Stream.make(1, -1).pipe(Pipeline.task(fuse(Pass, Fragile)))))
        assert.strictEqual((fused as TaskError.TaskError).taskName, "Fragile")
        assert.strictEqual((reasonOf(fused) as TaskError.Defect).remoteName, "NotAnEffect")
      }).pipe(Effect.provide(pool))
    ))

  it.live("a result its Schema refuses is a Defect that shows the result", () =>
    row.within(
      Effect.gen(function*() {
        // Was: "result does not match the success Schema at []: Expected number", what it was unsaid.
        const error = yield* Effect.flip(Task.run(Throw, { what: "a wrong result", how: "sync" }))
        assert.strictEqual(
          reasonOf(error).message,
          "result does not match the success Schema: Expected number; the result: { n: 1 }"
        )
        // A fused stage's, before the next stage: the same, named as that stage's.
        const fused = yield* Effect.flip(Stream.runDrain(Stream.make(-2).pipe(Pipeline.task(fuse(Fragile, Pass)))))
        assert.strictEqual((fused as TaskError.TaskError).taskName, "Fragile")
        assert.strictEqual(
          reasonOf(fused).message,
          "result does not match the success Schema: Expected number; the result: 'not a number'"
        )
      }).pipe(Effect.provide(pool))
    ))

  it.live("a failure the task does not declare is a Defect that says so, keeping the error's own text", () =>
    row.within(
      Effect.gen(function*() {
        // Was: "Defect: not found", nothing saying why a failure arrived as a defect.
        const error = yield* Effect.flip(Task.run(Throw, { what: "an undeclared failure", how: "sync" }))
        const reason = reasonOf(error) as TaskError.Defect
        assert.strictEqual(reason.message, "failed, but the task declares no error: not found")
        assert.strictEqual(reason.remoteName, "RangeError")
        assert.isTrue(reason.remoteStack.startsWith("RangeError: not found\n"))
        const fused = yield* Effect.flip(Stream.runDrain(Stream.make(-3).pipe(Pipeline.task(fuse(Fragile, Pass)))))
        assert.strictEqual((fused as TaskError.TaskError).taskName, "Fragile")
        assert.strictEqual(reasonOf(fused).message, "failed, but the task declares no error: minus three")
      }).pipe(Effect.provide(pool))
    ))
})
