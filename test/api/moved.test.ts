/**
 * Moved (transferred) typed arrays, over every backend: payloads caller → worker and results
 * worker → caller cross without a copy, the sender's view ends detached (also on the backends
 * that stay in this thread), chunked messages move the union of their tasks' buffers, and a move
 * that cannot happen fails only its own task.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { Actor, type PoolError, SharedArray, type Simulation, Task, TaskError, WorkerPool } from "../../src/index.ts"
import { Double, Drop, Echo, Kept, Make, MovedTasks, Same, Store, SumPair, Trace } from "../fixtures/moved-tasks.ts"
import { realTimeRows, reasonOf, rows } from "../support/backends.ts"

const entryUrl = new URL("../fixtures/moved-worker.ts", import.meta.url)

type Names = Task.Tasks<typeof MovedTasks>["name"] | Task.Actors<typeof MovedTasks>["name"]

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

const iota = (n: number, scale = 1) => Float64Array.from({ length: n }, (_, i) => (i + 1) * scale)

describe.each(rows)("moved arrays on $name", (row) => {
  const pool = (size: number): Layer.Layer<Task.Runner<Names>, PoolError.PoolError, Simulation.World> =>
    WorkerPool.layer(MovedTasks, { entry: entryUrl, size }).pipe(Layer.provide(row.backend))
  const within = row.within

  it.live("a payload moves to the worker and back: the sender's view is detached, the receiver has the data", () =>
    Effect.gen(function*() {
      const values = iota(1000)
      const doubled = yield* Task.run(Double, { values })
      assert.strictEqual(values.byteLength, 0, "the caller gave its array up")
      assert.isTrue(values.buffer.detached)
      assert.strictEqual(doubled.length, 1000)
      assert.strictEqual(doubled[999], 2000)
      assert.notStrictEqual(doubled.buffer, values.buffer)
    }).pipe(Effect.provide(pool(1)), within))

  it.live("a worker's fresh result moves out with no copy: the worker's own view is detached", () =>
    Effect.gen(function*() {
      const made = yield* Task.run(Make, { length: 4096, value: 7 })
      assert.strictEqual(made.length, 4096)
      assert.strictEqual(made[4095], 7)
      // One worker: `Kept` runs where `Make` did, and finds the array it gave away empty.
      assert.strictEqual(yield* Task.run(Kept), 0)
    }).pipe(Effect.provide(pool(1)), within))

  it.live("chunked maps move every task's buffer: a message moves the union of its tasks' lists", () =>
    Effect.gen(function*() {
      const inputs = Array.from({ length: 64 }, (_, i) => ({ values: iota(16, i) }))
      const results = yield* Task.map(Double, inputs, { chunkSize: 8 })
      for (const [i, { values }] of inputs.entries()) {
        assert.strictEqual(values.byteLength, 0, `input ${i} detached`)
        assert.strictEqual(results[i]![15], 2 * 16 * i)
      }
    }).pipe(Effect.provide(pool(2)), within))

  it.live("two views of one buffer in one payload move it once; a matrix moves its data", () =>
    Effect.gen(function*() {
      const whole = iota(10)
      assert.strictEqual(yield* Task.run(SumPair, { a: whole.subarray(0, 5), b: whole.subarray(5) }), 55)
      assert.strictEqual(whole.byteLength, 0, "the parent's buffer went with its views")
      const data = iota(6)
      const traced = yield* Task.run(Trace, { matrix: { rows: 2, cols: 3, data } })
      assert.deepStrictEqual(traced, { rows: 2, cols: 3, sum: 21 })
      assert.strictEqual(data.byteLength, 0)
    }).pipe(Effect.provide(pool(1)), within))

  it.live("a move that cannot happen fails only its own task", () =>
    Effect.gen(function*() {
      // Already moved away: refused before it is sent, naming the field.
      const once = iota(4)
      yield* Task.run(Echo, { values: once })
      const again = reasonOf(yield* Effect.flip(Task.run(Echo, { values: once })))
      assert.instanceOf(again, TaskError.PayloadInvalid)
      assert.deepStrictEqual((again as TaskError.PayloadInvalid).path, ["values"])
      assert.match(again.message, /moved away already/)
      // One array in two concurrent runs (one message or two, as the pool dispatches them): one
      // moves it, the other fails alone, and a third caller's task in the same burst is untouched.
      const shared = iota(8)
      const exits = yield* Effect.all([
        Effect.exit(Task.run(Double, { values: shared })),
        Effect.exit(Task.run(Double, { values: shared })),
        Effect.exit(Task.run(Double, { values: iota(2) }))
      ], { concurrency: "unbounded" })
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 2, "the first of the pair and the bystander")
      const failed = Exit.findErrorOption(exits.find(Exit.isFailure)!)
      assert.isTrue(failed._tag === "Some" && reasonOf(failed.value) instanceof TaskError.PayloadInvalid, "a payload error")
      assert.isTrue(Exit.isSuccess(exits[2]!))
      // One buffer in two tasks of one chunk: postMessage refuses the message (nothing moves), its
      // tasks are sent alone (rule 9), the first moves it and the second fails with a payload error.
      const twice = iota(3)
      const chunk = reasonOf(yield* Effect.flip(Task.map(Double, [{ values: twice }, { values: twice }], { chunkSize: 2 })))
      assert.instanceOf(chunk, TaskError.PayloadInvalid)
      assert.strictEqual(twice.byteLength, 0, "the first task moved it")
      // Said as such, at its path, not as V8's "Cannot transfer object of unsupported type".
      assert.deepStrictEqual((chunk as TaskError.PayloadInvalid).path, ["values"])
      assert.match(chunk.message, /moved away already/)
      // Shared memory cannot be moved: its task fails with a payload error, the next one runs.
      const sharedMemory = SharedArray.makeUnsafe("Float64", 4)
      const refused = reasonOf(yield* Effect.flip(Task.run(Double, { values: sharedMemory as unknown as Float64Array })))
      assert.instanceOf(refused, TaskError.PayloadInvalid)
      assert.deepStrictEqual((refused as TaskError.PayloadInvalid).path, ["values"])
      assert.strictEqual(sharedMemory.byteLength, 32, "nothing was taken from it")
      assert.strictEqual((yield* Task.run(Double, { values: iota(1) }))[0], 2)
    }).pipe(Effect.provide(pool(1)), within))

  it.live("regression: an array over Node's Buffer pool cannot be moved: its task fails naming the field and why, its data left to the sender", () =>
    Effect.gen(function*() {
      // `Buffer.allocUnsafe`/`Buffer.from` of a few bytes are views of one 8 KB pool that other
      // Buffers share, marked untransferable. Was: V8's "Cannot transfer object of unsupported
      // type" at no path. Processes copy (moving by hand only a buffer a value covers whole):
      // there the task runs and the sender keeps its array, as for any part of a buffer.
      const pooled = Buffer.allocUnsafe(16)
      assert.strictEqual(pooled.byteOffset % 8, 0)
      const values = new Float64Array(pooled.buffer, pooled.byteOffset, 2)
      values.set([1, 2])
      const exit = yield* Effect.exit(Task.run(Double, { values }))
      if (row.name === "processes") {
        assert.deepStrictEqual(Exit.isSuccess(exit) ? Array.from(exit.value) : exit, [2, 4])
      } else {
        const failed = Exit.findErrorOption(exit)
        assert.isTrue(failed._tag === "Some", "refused")
        const refused = reasonOf(failed._tag === "Some" ? failed.value : undefined)
        assert.instanceOf(refused, TaskError.PayloadInvalid)
        assert.deepStrictEqual((refused as TaskError.PayloadInvalid).path, ["values"])
        assert.match(refused.message, /untransferable.*copy it/)
      }
      assert.deepStrictEqual(Array.from(values), [1, 2], "the sender keeps its array")
      assert.deepStrictEqual(Array.from(yield* Task.run(Double, { values: Float64Array.from(values) })), [2, 4])
    }).pipe(Effect.provide(pool(1)), within))

  it.live("a result that cannot be moved is its own task's defect; the task beside it is answered", () =>
    Effect.gen(function*() {
      // Two concurrent runs whose answers may share a batch: the worker returns one array twice,
      // which can leave it once.
      const key = { key: `${row.name}-${Math.random()}` }
      const exits = yield* Effect.all([Effect.exit(Task.run(Same, key)), Effect.exit(Task.run(Same, key))], {
        concurrency: "unbounded"
      })
      const successes = exits.filter(Exit.isSuccess)
      assert.strictEqual(successes.length, 1)
      assert.strictEqual(successes[0]!.value.length, 4)
      const failed = Exit.findErrorOption(exits.find(Exit.isFailure)!)
      assert.isTrue(failed._tag === "Some" && reasonOf(failed.value) instanceof TaskError.Defect, "a defect")
      assert.strictEqual((yield* Task.run(Make, { length: 2, value: 1 })).length, 2, "the worker goes on")
    }).pipe(Effect.provide(pool(1)), within))

  it.live("actor calls move their payloads in and their results out", () =>
    Effect.gen(function*() {
      const store = yield* Actor.spawn(Store, {})
      const first = iota(3)
      assert.strictEqual((yield* store.call("swap", { values: first })).length, 0)
      assert.strictEqual(first.byteLength, 0)
      const back = yield* store.call("swap", { values: iota(2) })
      assert.deepStrictEqual([...back], [1, 2, 3])
      const told = iota(5)
      yield* store.tell("swap", { values: told })
      assert.strictEqual(told.byteLength, 0, "a tell moves its payload when it is sent")
      assert.deepStrictEqual([...(yield* store.call("swap", { values: iota(1) }))], [1, 2, 3, 4, 5])
    }).pipe(Effect.scoped, Effect.provide(pool(1)), within))
})

// Real time: 100 MB in a simulation costs real seconds of nothing but copying its trace.
describe.each(realTimeRows)("a large move on $name", (row) => {
  it.live("a 100 MB Float64Array round trip is never in two places: each side's view is detached once it is sent", () =>
    Effect.gen(function*() {
      const length = 100 * 1024 * 1024 / 8
      const values = new Float64Array(length)
      values[0] = 1
      values[length - 1] = 2
      const back = yield* Task.run(Echo, { values })
      assert.strictEqual(values.byteLength, 0, "the caller's copy left with the message")
      assert.strictEqual(back.length, length)
      assert.strictEqual(back[0], 1)
      assert.strictEqual(back[length - 1], 2)
      assert.strictEqual(yield* Task.run(Kept), 0, "the worker's copy left with the answer")
    }).pipe(Effect.provide(WorkerPool.layer(MovedTasks, { entry: entryUrl, size: 1 }).pipe(Layer.provide(row.backend))), row.within))

})

// A worker that dies from its handler takes a worker with a heap of its own.
describe.each(rows.filter((row) => row.capabilities.isolatesCrashes))("a moved payload and a dead worker on $name", (row) => {
  it.live("rule 10: a task whose moved payload went with a dead worker is lost, never re-sent, even with retries", () =>
    Effect.gen(function*() {
      const values = iota(4)
      const error = yield* Effect.flip(Task.run(Drop, { values }))
      const reason = reasonOf(error)
      assert.instanceOf(reason, TaskError.WorkerLost)
      assert.match(reason.message, /moved payload/)
      assert.strictEqual((error as TaskError.TaskError).attempts, 1, "sent once: its bytes left with the worker")
      // Was "{ values: Float64Array(0) [] }": the input is rendered after it moved.
      assert.strictEqual((error as TaskError.TaskError).input, "{ values: Moved { kind: 'Float64Array', length: 4 } }")
      // The replacement runs the next task.
      assert.strictEqual((yield* Task.run(Double, { values: iota(1) }))[0], 2)
    }).pipe(
      Effect.provide(WorkerPool.layer(MovedTasks, { entry: entryUrl, size: 1, retries: 3 }).pipe(Layer.provide(row.backend))),
      row.within
    ))
})
