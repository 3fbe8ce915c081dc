/**
 * Shared arrays: zero-copy in both directions, references passed on between tasks, reference
 * counting across scopes and tasks in flight (also on failure and interruption), arena reuse,
 * and Schema checks at the boundary, actors that hold shared init arguments. Runs over the
 * backends that share memory (threads and inline); `ProcessBackend.test.ts` covers one that does not.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scheduler from "effect/Scheduler"
import * as Scope from "effect/Scope"
import { inspect } from "node:util"
import { Actor, type PoolError, SharedArray, Task, TaskError, WorkerPool } from "../../src/index.ts"
import {
  Fill,
  Handshake,
  Hold,
  Holder,
  HoldOpaque,
  Negative,
  Overwrite,
  ReleasedOpaque,
  ReleasedResult,
  Scale,
  ScribbleCopy,
  ScribbleCopyMatrix,
  SharedAsCopied,
  SharedTasks,
  SumShared
} from "../fixtures/shared-tasks.ts"
import { realTimeRows, reasonOf, type Row } from "../support/backends.ts"

const entryUrl = new URL("../fixtures/shared-worker.ts", import.meta.url)

/** Real time only (these cases time real workers and allocate real memory), and shared memory (`ProcessBackend.test.ts` covers a backend without). */
const backends = realTimeRows.filter((row) => row.capabilities.sharesMemory)

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

/** Each test gets its own arena, so its counts are its own. */
const withPool = (backend: Row) =>
  Layer.merge(
    WorkerPool.layer(SharedTasks, { entry: entryUrl, size: 2 }).pipe(Layer.provide(backend.backend)),
    SharedArray.layerArena()
  ) as Layer.Layer<
    Task.Runner<Task.Tasks<typeof SharedTasks>["name"] | Task.Actors<typeof SharedTasks>["name"]>,
    PoolError.PoolError
  >

const iota = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

const assertReleased = (error: unknown, path: ReadonlyArray<string | number>) => {
  const reason = reasonOf(error)
  assert.instanceOf(reason, TaskError.PayloadInvalid, `a payload error, got ${String(error)}`)
  assert.deepStrictEqual((reason as TaskError.PayloadInvalid).path, path)
  assert.match(reason.message, /released/)
}

/** An array made in a scope that is closed again: a view kept past its owners. */
const staleArray = (values: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const array = yield* SharedArray.put("Float64", values).pipe(Scope.provide(scope))
    yield* Scope.close(scope, Exit.void)
    return array
  })

describe.each(backends)("shared arrays on $name", (backend) => {
  // Workers in threads of their own: a handshake with a running task, a copy that is really a copy.
  const threadsOnly = backend.capabilities.isolatesCrashes ? it.live : it.live.skip

  threadsOnly("the worker reads and writes the caller's memory while the task runs (a handle crosses, not bytes)", () =>
    Effect.gen(function*() {
      const flags = yield* SharedArray.make("Int32", 2)
      const fiber = yield* Effect.forkChild(Task.run(Handshake, { flags }))
      // A copy could never show the worker's store here, nor carry ours back to a running task.
      while (Atomics.load(flags, 0) === 0) yield* Effect.sleep("2 millis")
      Atomics.store(flags, 1, 42)
      Atomics.notify(flags, 1)
      assert.strictEqual(yield* Fiber.join(fiber), 42)
    }).pipe(Effect.scoped, Effect.provide(withPool(backend))))

  it.live("a worker's shared result arrives as a view over shared memory", () =>
    Effect.gen(function*() {
      const out = yield* Task.run(Fill, { length: 1_000, value: 2.5 })
      assert.isTrue(SharedArray.isShared("Float64", out))
      assert.strictEqual(out.length, 1_000)
      assert.isTrue(out.every((v) => v === 2.5))
    }).pipe(Effect.provide(withPool(backend))))

  it.live("regression: a result whose memory the worker released already is that task's defect, not an alias of the worker's next allocation", () =>
    Effect.gen(function*() {
      // Was: it arrived as a live-looking array over memory the worker's arena hands out again —
      // the next task's `put` of the size there overwrote the numbers the caller was reading.
      const error = yield* Effect.flip(Task.run(ReleasedResult, { length: 4, value: 1 }))
      const reason = reasonOf(error)
      assert.instanceOf(reason, TaskError.Defect, String(error))
      assert.match(reason.message, /result .*released/)
      // The worker goes on: a result it made with makeUnsafe arrives as before.
      assert.deepStrictEqual(Array.from(yield* Task.run(Fill, { length: 2, value: 3 })), [3, 3])
    }).pipe(Effect.provide(withPool(backend))))

  it.live("a result reference goes on to the next task, and writes through it are seen", () =>
    Effect.gen(function*() {
      const first = yield* Task.run(Scale, {
        matrix: yield* SharedArray.put("Float64", { rows: 2, cols: 3, data: iota(6) }),
        factor: 10
      })
      // The caller writes into the worker's result; the next task reads that very memory.
      SharedArray.asWritable(first).data[0] = 1_000
      const second = yield* Task.run(Scale, { matrix: first, factor: 2 })
      assert.deepStrictEqual(Array.from(second.data), [2_000, 40, 60, 80, 100, 120])
    }).pipe(Effect.scoped, Effect.provide(withPool(backend))))

  it.live("put once, then pass to many tasks, now and later", () =>
    Effect.gen(function*() {
      const values = yield* SharedArray.put("Float64", iota(10_000))
      const expected = 10_000 * 10_001 / 2
      const sums = yield* Task.map(SumShared, Array.from({ length: 20 }, () => ({ values })), { chunkSize: 1 })
      assert.deepStrictEqual(sums, Array.from({ length: 20 }, () => expected))
      assert.strictEqual(yield* Task.run(SumShared, { values }), expected)
      const stats = yield* SharedArray.arenaStats
      assert.strictEqual(stats.allocated, 1, "one copy, however many tasks")
    }).pipe(Effect.scoped, Effect.provide(withPool(backend))))

  it.live("makeUninitialized and put reuse released memory without zeroing it; make hands it out zeroed", () =>
    Effect.gen(function*() {
      const first = yield* Effect.scoped(Effect.map(SharedArray.put("Float64", iota(100)), (a) => a.buffer))
      const reused = yield* SharedArray.makeUninitialized("Float64", 100)
      assert.strictEqual(reused.buffer, first, "the released block, as it was")
      assert.strictEqual(reused[99], 100)
      reused.fill(3)
      assert.strictEqual(yield* Task.run(SumShared, { values: reused }), 300)
      const matrix = yield* Effect.scoped(Effect.map(SharedArray.makeMatrixUninitialized("Float64", 10, 10), (m) => {
        m.data.fill(5)
        return m.data.buffer
      }))
      const zeroed = yield* SharedArray.makeMatrix("Float64", 10, 10)
      assert.strictEqual(zeroed.data.buffer, matrix)
      assert.isTrue(zeroed.data.every((x) => x === 0))
    }).pipe(Effect.scoped, Effect.provide(SharedArray.layerArena()), Effect.provide(withPool(backend))))

  it.live("memory stays live while a task holds it after its scope closed, and returns to the arena after", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const values = yield* SharedArray.put("Float64", iota(100)).pipe(Scope.provide(scope))
      const fiber = yield* Effect.forkChild(Task.run(Hold, { values, millis: 300 }))
      yield* Effect.sleep("20 millis")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 1, "the task still owns it")
      assert.strictEqual(yield* Fiber.join(fiber), 5_050, "and read valid memory")
      const after = yield* SharedArray.arenaStats
      assert.strictEqual(after.liveBlocks, 0)
      assert.strictEqual(after.idleBlocks, 1)
    }).pipe(Effect.provide(withPool(backend))))

  it.live("memory is not freed before the last owning scope closes", () =>
    Effect.gen(function*() {
      const outer = yield* Scope.make()
      const inner = yield* Scope.make()
      const values = yield* SharedArray.make("Float64", 8).pipe(Scope.provide(inner))
      yield* SharedArray.retain(values).pipe(Scope.provide(outer))
      yield* Scope.close(inner, Exit.void)
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 1)
      yield* Scope.close(outer, Exit.void)
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 0)
    }).pipe(Effect.provide(withPool(backend))))

  it.live("memory is released when its task fails", () =>
    Effect.gen(function*() {
      const error = yield* Effect.scoped(
        Effect.flatMap(SharedArray.put("Float64", [1, 2, -3]), (values) => Effect.flip(Task.run(SumShared, { values })))
      )
      assert.instanceOf(error, Negative)
      const stats = yield* SharedArray.arenaStats
      assert.deepStrictEqual([stats.liveBlocks, stats.idleBlocks], [0, 1])
    }).pipe(Effect.provide(withPool(backend))))

  it.live("memory is released when a map fails fast", () =>
    Effect.gen(function*() {
      const error = yield* Effect.scoped(Effect.gen(function*() {
        const good = yield* SharedArray.put("Float64", [1, 2])
        const bad = yield* SharedArray.put("Float64", [-1])
        return yield* Effect.flip(Task.map(SumShared, [good, good, bad, good].map((values) => ({ values }))))
      }))
      assert.instanceOf(error, Negative)
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 0)
    }).pipe(Effect.provide(withPool(backend))))

  it.live("memory is released when the caller is interrupted, once the worker stopped", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const values = yield* SharedArray.put("Float64", iota(10)).pipe(Scope.provide(scope))
      const fiber = yield* Effect.forkChild(Task.run(Hold, { values, millis: 60_000 }))
      yield* Effect.sleep("50 millis")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 1)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 0)
    }).pipe(Effect.provide(withPool(backend))))

  it.live("memory is released when the caller is interrupted at any step of a run or a map, even before it submitted", () =>
    Effect.gen(function*() {
      // The fiber yields to the scheduler after `ops` steps; the parent interrupts it there. Each
      // `ops` stops it at another step, between taking its hold and handing its call to the pool too.
      for (let ops = 2; ops <= 48; ops++) {
        for (const run of [0, 1]) {
          const scope = yield* Scope.make()
          const values = yield* SharedArray.put("Float64", iota(4)).pipe(Scope.provide(scope))
          const call = run === 0 ? Task.run(SumShared, { values }) : Task.map(SumShared, [{ values }, { values }])
          const fiber = yield* Effect.forkChild(
            Effect.provideService(call as Effect.Effect<unknown, unknown>, Scheduler.MaxOpsBeforeYield, ops)
          )
          yield* Effect.yieldNow
          yield* Fiber.interrupt(fiber)
          yield* Scope.close(scope, Exit.void)
          const what = run === 0 ? "run" : "map"
          assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 0, `a ${what} interrupted at step ${ops} kept its hold`)
        }
      }
    }).pipe(Effect.provide(withPool(backend))))

  it.live("released memory is reused, zeroed, for the next allocation of its size", () =>
    Effect.gen(function*() {
      yield* Effect.scoped(Effect.flatMap(SharedArray.make("Float64", 1_024), (a) => Effect.sync(() => a.fill(7))))
      const again = yield* Effect.scoped(
        Effect.map(SharedArray.make("Float64", 1_024), (a) => a.every((v) => v === 0))
      )
      assert.isTrue(again, "zeroed")
      const stats = yield* SharedArray.arenaStats
      assert.deepStrictEqual([stats.allocated, stats.reused], [1, 1])
    }).pipe(Effect.provide(withPool(backend))))

  it.live("bad dimensions die inside the Effect, not where it is built", () =>
    Effect.gen(function*() {
      const matrix = SharedArray.makeMatrix("Float64", -1, 2)
      const exit = yield* Effect.exit(Effect.scoped(matrix))
      assert.isTrue(Exit.hasDies(exit))
    }).pipe(Effect.provide(withPool(backend))))

  it.live("passing a released array fails that task with a payload error naming the field", () =>
    Effect.gen(function*() {
      const values = yield* Effect.scoped(SharedArray.make("Float64", 4))
      const error = yield* Effect.flip(Task.run(SumShared, { values }))
      assert.instanceOf(reasonOf(error), TaskError.PayloadInvalid)
      assert.deepStrictEqual((reasonOf(error) as TaskError.PayloadInvalid).path, ["values"])
      assert.match(reasonOf(error).message, /released/)
    }).pipe(Effect.provide(withPool(backend))))

  it.live("regression: a view kept past its scope fails its task after its memory was reused, and the new owner's data is untouched", () =>
    Effect.gen(function*() {
      const stale = yield* staleArray([1, 2, 3, 4])
      const fresh = yield* SharedArray.put("Float64", [10, 20, 30, 40])
      assert.strictEqual(fresh.buffer, stale.buffer, "the arena handed the same memory to the new owner")
      // Before generations, both ran: the sum read the new owner's numbers, the write clobbered them.
      assertReleased(yield* Effect.flip(Task.run(SumShared, { values: stale })), ["values"])
      assertReleased(yield* Effect.flip(Task.run(Overwrite, { out: stale, value: -1 })), ["out"])
      assertReleased(yield* Effect.flip(Task.map(SumShared, [{ values: fresh }, { values: stale }])), ["values"])
      assert.deepStrictEqual(Array.from(fresh), [10, 20, 30, 40])
      assert.strictEqual(yield* Task.run(SumShared, { values: fresh }), 100, "the new owner's view works")
      const stats = yield* SharedArray.arenaStats
      assert.deepStrictEqual([stats.liveBlocks, stats.reused], [1, 1], "the failed holds left the new owner's count alone")
    }).pipe(Effect.scoped, Effect.provide(withPool(backend))))

  it.live("regression: a forked run whose scope closed before it submitted fails, rather than reading the next owner's numbers", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const values = yield* SharedArray.put("Float64", [1, 2, 3, 4]).pipe(Scope.provide(scope))
      const submit = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkChild(Effect.andThen(Deferred.await(submit), Task.run(SumShared, { values })))
      yield* Scope.close(scope, Exit.void)
      const next = yield* SharedArray.put("Float64", [10, 20, 30, 40])
      assert.strictEqual(next.buffer, values.buffer)
      yield* Deferred.succeed(submit, undefined)
      // Before generations this succeeded with 100: the sum of the next owner's numbers.
      assertReleased(yield* Effect.flip(Fiber.join(fiber)), ["values"])
      assert.deepStrictEqual(Array.from(next), [10, 20, 30, 40])
    }).pipe(Effect.scoped, Effect.provide(withPool(backend))))

  it.live("regression: an array in an undeclared (Schema.Unknown) field is held while its task runs, and refused once released", () =>
    Effect.gen(function*() {
      // Was: neither — the task read whatever the memory's next owner wrote.
      const scope = yield* Scope.make()
      const values = yield* SharedArray.put("Float64", iota(100)).pipe(Scope.provide(scope))
      const fiber = yield* Effect.forkChild(Task.run(HoldOpaque, { values: [values], millis: 300 }))
      yield* Effect.sleep("20 millis")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 1, "the task still owns it")
      assert.strictEqual(yield* Fiber.join(fiber), 5_050)
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 0)
      const next = yield* SharedArray.put("Float64", iota(100))
      assert.strictEqual(next.buffer, values.buffer)
      assertReleased(yield* Effect.flip(Task.run(HoldOpaque, { values: [values], millis: 0 })), ["values", 0])
      assertReleased(yield* Effect.flip(Task.map(HoldOpaque, [{ values: next, millis: 0 }, { values, millis: 0 }])), ["values"])
    }).pipe(Effect.scoped, Effect.provide(withPool(backend))))

  it.live("regression: a result over released memory in an undeclared (Schema.Unknown) result is that task's defect", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Task.run(ReleasedOpaque, { length: 4, value: 1 }))
      const reason = reasonOf(error)
      assert.instanceOf(reason, TaskError.Defect, String(error))
      assert.match(reason.message, /result .*released at \["values"\]/)
    }).pipe(Effect.provide(withPool(backend))))

  it.live("regression: a released matrix's data throws, and a task handed it fails; a live one crosses as before", () =>
    Effect.gen(function*() {
      const live = yield* SharedArray.put("Float64", { rows: 2, cols: 3, data: iota(6) })
      assert.deepStrictEqual(Array.from(live.data), iota(6))
      assert.deepStrictEqual(Array.from((yield* Task.run(Scale, { matrix: live, factor: 2 })).data), [2, 4, 6, 8, 10, 12])

      const scope = yield* Scope.make()
      const gone = yield* SharedArray.makeMatrix("Float64", 2, 3).pipe(Scope.provide(scope))
      yield* Scope.close(scope, Exit.void)
      assert.throws(() => gone.data, /released/)
      assert.match(inspect(gone), /released/, "an error message can still show it (they render inputs with inspect)")
      const next = yield* SharedArray.makeMatrix("Float64", 2, 3)
      assert.throws(() => gone.data, /released/, "still after its memory went to a new matrix")
      assert.doesNotThrow(() => next.data)
      assertReleased(yield* Effect.flip(Task.run(Scale, { matrix: gone, factor: 2 })), ["matrix", "data"])
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 2)
    }).pipe(Effect.scoped, Effect.provide(withPool(backend))))

  it.live("a plain array where shared memory is declared fails with a decode error naming the field", () =>
    Effect.gen(function*() {
      const values = new Float64Array([1, 2]) as unknown as SharedArray.ReadonlySharedArray<"Float64">
      const error = yield* Effect.flip(Task.run(SumShared, { values }))
      assert.instanceOf(reasonOf(error), TaskError.PayloadInvalid)
      assert.deepStrictEqual((reasonOf(error) as TaskError.PayloadInvalid).path, ["values"])
      assert.match(reasonOf(error).message, /SharedArrayBuffer/)
    }).pipe(Effect.provide(withPool(backend))))

  it.live("a matrix whose data does not match its shape fails with a decode error", () =>
    Effect.gen(function*() {
      const data = yield* SharedArray.make("Float64", 5)
      const error = yield* Effect.flip(Task.run(Scale, { matrix: { rows: 2, cols: 3, data }, factor: 1 }))
      assert.instanceOf(reasonOf(error), TaskError.PayloadInvalid)
      assert.match(reasonOf(error).message, /6 elements/)
    }).pipe(Effect.scoped, Effect.provide(withPool(backend))))

  it.live("an actor owns the shared memory of its init arguments until it stops", () =>
    Effect.gen(function*() {
      const arrays = yield* Scope.make()
      const actors = yield* Scope.make()
      const probe = yield* SharedArray.make("Int32", 2).pipe(Scope.provide(arrays))
      const holder = yield* Actor.spawn(Holder, { probe }).pipe(Scope.provide(actors))
      yield* Scope.close(arrays, Exit.void)
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 1, "still the actor's")
      assert.strictEqual(yield* holder.call("get", {}), 1)
      yield* Scope.close(actors, Exit.void)
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 0)
      assert.strictEqual(Atomics.load(probe, 1), 1, "its finalizer ran before the memory went back")
    }).pipe(Effect.provide(withPool(backend))))

  it.live("regression: an actor spawned with a view kept past its scope fails, even after its memory was reused", () =>
    Effect.gen(function*() {
      const arrays = yield* Scope.make()
      const stale = yield* SharedArray.make("Int32", 2).pipe(Scope.provide(arrays))
      yield* Scope.close(arrays, Exit.void)
      const fresh = yield* SharedArray.make("Int32", 2)
      assert.strictEqual(fresh.buffer, stale.buffer, "the arena handed the memory to a new owner")
      // Before generations the actor was built on the new owner's memory and wrote its probe there.
      const error = yield* Effect.flip(Actor.spawn(Holder, { probe: stale }))
      assert.match(error.message, /released/)
      assert.deepStrictEqual([Atomics.load(fresh, 0), Atomics.load(fresh, 1)], [0, 0])
    }).pipe(Effect.scoped, Effect.provide(withPool(backend))))

  threadsOnly("plain typed arrays are copied: the worker's writes stay in its copy", () =>
    Effect.gen(function*() {
      const values = new Float64Array([1, 2, 3])
      assert.strictEqual(yield* Task.run(ScribbleCopy, { values }), -1_000 + 2 + 3)
      assert.deepStrictEqual(Array.from(values), [1, 2, 3])
    }).pipe(Effect.provide(withPool(backend))))

  it.live("regression: a shared array where a copied one is declared is copied: the handler's writes stay in its copy", () =>
    Effect.gen(function*() {
      // Was: postMessage shared its memory, and the handler's writes to its "copy" reached the caller's array.
      const values = yield* SharedArray.put("Float64", [1, 2, 3])
      assert.strictEqual(yield* Task.run(ScribbleCopy, { values }), -1_000 + 2 + 3)
      assert.deepStrictEqual(Array.from(values), [1, 2, 3])
      const matrix = yield* SharedArray.makeMatrix("Float64", 1, 3)
      matrix.data.set([1, 2, 3])
      assert.strictEqual(yield* Task.run(ScribbleCopyMatrix, { matrix }), -1_000 + 2 + 3)
      assert.deepStrictEqual(Array.from(matrix.data), [1, 2, 3])
      // A view of part of a buffer copies that part.
      assert.strictEqual(yield* Task.run(ScribbleCopy, { values: values.subarray(1) }), -1_000 + 3)
      assert.deepStrictEqual(Array.from(values), [1, 2, 3])
    }).pipe(Effect.scoped, Effect.provide(withPool(backend))))

  it.live("regression: a worker's shared memory returned where a copied array is declared arrives as a copy", () =>
    Effect.gen(function*() {
      // Was: the caller got a view of the worker's memory, which the worker could go on writing.
      const out = yield* Task.run(SharedAsCopied, { length: 3, value: 7 })
      assert.notInstanceOf(out.buffer, SharedArrayBuffer)
      assert.deepStrictEqual(Array.from(out), [7, 7, 7])
    }).pipe(Effect.provide(withPool(backend))))

  it.live("regression: a shared array where a copied one is declared is refused once released", () =>
    Effect.gen(function*() {
      // Was: sent — postMessage shared the memory's next owner's numbers, with no owner held.
      const stale = yield* Effect.scoped(SharedArray.put("Float64", [1, 2, 3]))
      const fresh = yield* SharedArray.put("Float64", [10, 20, 30])
      assert.strictEqual(fresh.buffer, stale.buffer)
      assertReleased(yield* Effect.flip(Task.run(ScribbleCopy, { values: stale })), ["values"])
      assert.deepStrictEqual(Array.from(fresh), [10, 20, 30], "the new owner's numbers are untouched")
    }).pipe(Effect.scoped, Effect.provide(withPool(backend))))
})

describe("stale views", () => {
  it.effect("a library matrix's data is an own enumerable accessor: it passes the Schema and survives a structured clone", () =>
    Effect.gen(function*() {
      const matrix = yield* SharedArray.put("Float64", { rows: 2, cols: 2, data: [1, 2, 3, 4] })
      const data = Object.getOwnPropertyDescriptor(matrix, "data")
      assert.isTrue(data?.enumerable === true && data.get !== undefined)
      assert.deepStrictEqual(Object.keys(matrix), ["rows", "cols", "data"])
      assert.isTrue(Schema.is(SharedArray.Float64Matrix)(matrix))
      // What `postMessage` does to a payload: `data` becomes a plain field over the same memory.
      const clone = structuredClone(matrix)
      assert.deepStrictEqual(Object.getOwnPropertyDescriptor(clone, "data")?.value, matrix.data)
      clone.data[0] = 99
      assert.deepStrictEqual(Array.from(matrix.data), [99, 2, 3, 4], "the clone shares the memory")
      assert.deepStrictEqual({ ...matrix }, { rows: 2, cols: 2, data: matrix.data })
      assert.match(inspect({ matrix }, { breakLength: Infinity }), /rows: 2, cols: 2, data: Float64Array\(4\) \[ 99, 2, 3, 4 \]/)
    }).pipe(Effect.scoped, Effect.provide(SharedArray.layerArena())))

  it.effect("regression: retaining a view or matrix whose memory went to a new owner dies, and adds no owner", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const values = yield* SharedArray.make("Float64", 8).pipe(Scope.provide(scope))
      const matrix = yield* SharedArray.makeMatrix("Float64", 3, 3).pipe(Scope.provide(scope))
      yield* Scope.close(scope, Exit.void)
      const fresh = yield* SharedArray.make("Float64", 8)
      const freshMatrix = yield* SharedArray.makeMatrix("Float64", 3, 3)
      assert.strictEqual(fresh.buffer, values.buffer)
      assert.strictEqual((yield* SharedArray.arenaStats).reused, 2, "both blocks went to new owners")
      assert.isTrue(SharedArray.isShared("Float64", freshMatrix.data))
      assert.isTrue(Exit.hasDies(yield* Effect.exit(Effect.scoped(SharedArray.retain(values)))))
      assert.isTrue(Exit.hasDies(yield* Effect.exit(Effect.scoped(SharedArray.retain(matrix)))))
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 2)
      yield* SharedArray.retain(fresh)
      yield* SharedArray.retain(freshMatrix)
    }).pipe(Effect.scoped, Effect.provide(SharedArray.layerArena())))

  it.effect("isLive tracks ownership, across reuse, for arrays and matrices", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const values = yield* SharedArray.make("Float64", 8).pipe(Scope.provide(scope))
      const matrix = yield* SharedArray.makeMatrix("Float64", 2, 2).pipe(Scope.provide(scope))
      const retained = yield* Scope.make()
      yield* SharedArray.retain(values).pipe(Scope.provide(retained))
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(SharedArray.isLive(values), "a retaining scope still owns it")
      assert.isFalse(SharedArray.isLive(matrix))
      yield* Scope.close(retained, Exit.void)
      assert.isFalse(SharedArray.isLive(values))
      const fresh = yield* SharedArray.make("Float64", 8)
      const freshMatrix = yield* SharedArray.makeMatrix("Float64", 2, 2)
      assert.isFalse(SharedArray.isLive(values), "reused memory does not revive the old view")
      assert.isFalse(SharedArray.isLive(matrix))
      assert.isTrue(SharedArray.isLive(fresh))
      assert.isTrue(SharedArray.isLive(freshMatrix))
      assert.isTrue(SharedArray.isLive(SharedArray.makeUnsafe("Float64", 4)), "not arena memory: the GC keeps it")
      assert.isTrue(SharedArray.isLive(SharedArray.makeMatrixUnsafe("Float64", 1, 1)))
      // The documented limit: a view the library did not hand out is judged by its buffer alone.
      assert.isTrue(SharedArray.isLive(values.subarray(0, 4)), "a subarray of a stale view is not caught")
    }).pipe(Effect.scoped, Effect.provide(SharedArray.layerArena())))
})

describe("put", () => {
  it.effect("a matrix source whose data does not match its shape dies, and never hands out its memory's previous numbers", () =>
    Effect.gen(function*() {
      yield* Effect.scoped(SharedArray.put("Float64", [9, 9, 9, 9])) // a previous owner's numbers, now idle
      const short = yield* Effect.exit(Effect.scoped(
        Effect.map(SharedArray.put("Float64", { rows: 2, cols: 2, data: [1, 2] }), (m) => Array.from(m.data))
      ))
      assert.isTrue(Exit.hasDies(short), `a 2×2 matrix of 2 numbers was made: ${JSON.stringify(short)}`)
      const long = yield* Effect.exit(Effect.scoped(SharedArray.put("Float64", { rows: 1, cols: 2, data: [1, 2, 3] })))
      assert.isTrue(Exit.hasDies(long))
      const stats = yield* SharedArray.arenaStats
      assert.strictEqual(stats.liveBlocks, 0)
      assert.deepStrictEqual(Array.from((yield* SharedArray.put("Float64", { rows: 2, cols: 1, data: [3, 4] })).data), [3, 4])
    }).pipe(Effect.scoped, Effect.provide(SharedArray.layerArena())))
})

describe("sizes", () => {
  const defectOf = (exit: Exit.Exit<unknown, unknown>): unknown => Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined

  it.effect("regression: a size no machine can allocate dies with a RangeError naming it, not V8's bare \"Array buffer allocation failed\"", () =>
    Effect.gen(function*() {
      // 2⁴⁵ Float64s are 256 TB: past any address space.
      const makes: Array<Effect.Effect<unknown, never, Scope.Scope>> = [
        SharedArray.make("Float64", 2 ** 45),
        SharedArray.makeUninitialized("Int32", 2 ** 46)
      ]
      for (const make of makes) {
        const defect = defectOf(yield* Effect.exit(Effect.scoped(make)))
        assert.instanceOf(defect, RangeError)
        assert.match((defect as RangeError).message, /^SharedArray: cannot allocate \d+ (Float64|Int32) elements \(\d+ bytes\)/)
      }
      const unsafe = (() => {
        try {
          return SharedArray.makeMatrixUnsafe("Float32", 2 ** 23, 2 ** 23)
        } catch (error) {
          return error
        }
      })()
      assert.match(String(unsafe), /cannot allocate 70368744177664 Float32 elements/)
      // Rows × cols past 2⁵³ is no length at all: said of the matrix, not as "length must be an integer".
      const defect = defectOf(yield* Effect.exit(Effect.scoped(SharedArray.makeMatrix("Float64", 1e9, 1e9))))
      assert.instanceOf(defect, RangeError)
      assert.include((defect as RangeError).message, "a 1000000000×1000000000 matrix has 1000000000000000000 elements")
      // The arena handed nothing out, and odd shapes that fit are fine.
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 0)
      const empty = yield* SharedArray.makeMatrix("Float64", 0, 5)
      const row = yield* SharedArray.put("Float32", { rows: 1, cols: 3, data: [1, 2, 3] })
      assert.deepStrictEqual([empty.rows, empty.cols, empty.data.length], [0, 5, 0])
      assert.deepStrictEqual(Array.from(row.data), [1, 2, 3])
    }).pipe(Effect.scoped, Effect.provide(SharedArray.layerArena())))
})

describe("kinds", () => {
  it.effect("regression: an unknown kind or memory (untyped code) is a RangeError naming it, where it is given", () =>
    Effect.gen(function*() {
      // Was: "Cannot read properties of undefined (reading 'BYTES_PER_ELEMENT')" from make, a
      // Schema whose check threw "Right-hand side of 'instanceof' is not callable" at each decode,
      // and `memory: "copy"` read as "shared".
      for (const kind of ["BigInt64", "Uint8Clamped", "toString"] as Array<never>) {
        const exit = yield* Effect.exit(Effect.scoped(SharedArray.make(kind, 2)))
        const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.instanceOf(defect, RangeError, kind)
        assert.include((defect as RangeError).message, `unknown kind ${kind}`)
        assert.throws(() => SharedArray.array(kind), RangeError, `SharedArray.array: unknown kind ${kind}`)
        assert.throws(() => SharedArray.matrix(kind, { memory: "copied" }), RangeError, `SharedArray.matrix: unknown kind ${kind}`)
        assert.throws(() => SharedArray.makeUnsafe(kind, 2), RangeError, "unknown kind")
      }
      assert.throws(() => SharedArray.array("Float64", { memory: "copy" as never }), RangeError, "unknown memory copy")
      // Every real kind still works end to end, Float32 and Uint8 included.
      const f32 = yield* SharedArray.put("Float32", [0.5, 1.5])
      const u8 = yield* SharedArray.put("Uint8", [255, 7])
      assert.deepStrictEqual([Array.from(f32), Array.from(u8)], [[0.5, 1.5], [255, 7]])
      assert.isTrue(Schema.is(SharedArray.Float32)(f32) && Schema.is(SharedArray.array("Uint8"))(u8))
    }).pipe(Effect.scoped, Effect.provide(SharedArray.layerArena())))
})

describe("put of a moved-away source", () => {
  it.effect("regression: a source whose buffer was moved away (detached) dies saying so, before taking memory", () =>
    Effect.gen(function*() {
      const values = Float64Array.from([1, 2, 3])
      structuredClone(values, { transfer: [values.buffer] })
      for (const put of [SharedArray.put("Float64", values), SharedArray.put("Float64", { rows: 1, cols: 3, data: values })]) {
        const exit = yield* Effect.exit(Effect.scoped(put as Effect.Effect<unknown, never, Scope.Scope>))
        const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : exit
        assert.instanceOf(defect, TypeError)
        assert.include((defect as TypeError).message, "SharedArray.put: the source was moved away")
      }
      assert.strictEqual((yield* SharedArray.arenaStats).liveBlocks, 0)
      // An empty source that is not detached is still an empty array.
      assert.strictEqual((yield* SharedArray.put("Float64", new Float64Array(0))).length, 0)
    }).pipe(Effect.scoped, Effect.provide(SharedArray.layerArena())))
})

describe("layerArena options", () => {
  it.effect("maxIdleBytes that is not a byte count (NaN, negative) dies building the Layer, naming the option", () =>
    Effect.gen(function*() {
      // Was: NaN made `idleBytes + n > NaN` never true, so the arena kept every released block
      // for ever, whatever it was told; a negative cap was quietly read as 0.
      for (const maxIdleBytes of [Number.NaN, -1, "64 MB" as never]) {
        const exit = yield* Effect.exit(Effect.scoped(Layer.build(SharedArray.layerArena({ maxIdleBytes }))))
        assert.isTrue(Exit.hasDies(exit), String(maxIdleBytes))
        const defect = Cause.squash((exit as Exit.Failure<unknown, unknown>).cause)
        assert.instanceOf(defect, RangeError)
        assert.include((defect as RangeError).message, "maxIdleBytes")
      }
      for (const maxIdleBytes of [0, 1_000, Infinity]) {
        const stats = yield* SharedArray.arenaStats.pipe(Effect.provide(SharedArray.layerArena({ maxIdleBytes })))
        assert.strictEqual(stats.idleBytes, 0)
      }
    }))
})
