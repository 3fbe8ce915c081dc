/**
 * The calling API's options (`Task.run`, `map`, `mapUnordered`, `stream`): a value that is not
 * one dies with an error naming the call and the option, never runs as something not asked for.
 * On the inline backend: what is checked here happens before any worker.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { InlineBackend, Task, TaskError, WorkerPool } from "../../src/index.ts"
import { Add, ContractTasks } from "../fixtures/tasks.ts"

const pool = WorkerPool.layer(ContractTasks, { entry: new URL("../fixtures/worker.ts", import.meta.url), size: 1 }).pipe(
  Layer.provide(InlineBackend.layer)
)

/** The defect an effect died with, or a failed assertion. */
const defectOf = (exit: Exit.Exit<unknown, unknown>, label: string): unknown => {
  assert.isTrue(Exit.isFailure(exit), `${label} ran`)
  const defect = Cause.findDefect((exit as Exit.Failure<unknown, unknown>).cause)
  assert.isTrue(defect._tag === "Success", `${label}: not a defect`)
  return (defect as { readonly success: unknown }).success
}

describe("Task options", () => {
  it.live("a timeout that is no duration >= 0: the call dies naming itself and the option", () =>
    Effect.gen(function*() {
      // Was: "timeout must be a duration >= 0, got NaN", naming neither the call nor the task.
      const input = { a: 1, b: 2 }
      for (const bad of [Number.NaN, -1, "soon"] as ReadonlyArray<any>) {
        const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown, any>]> = [
          ["Task.run(Add): timeout", Task.run(Add, input, { timeout: bad })],
          ["Task.map(Add): timeout", Task.map(Add, [input], { timeout: bad })],
          ["Task.mapUnordered(Add): timeout", Task.mapUnordered(Add, [input], { timeout: bad })],
          ["Task.stream(Add): timeout", Stream.runDrain(Stream.make(input).pipe(Task.stream(Add, { timeout: bad })))]
        ]
        for (const [option, effect] of cases) {
          const error = defectOf(yield* Effect.exit(effect), `${option} ${bad}`)
          assert.instanceOf(error, RangeError)
          assert.strictEqual((error as RangeError).message, `${option} must be a duration >= 0, got ${bad}`)
        }
      }
      // A stage refuses its timeout when it is built, as its other options: even over no element.
      const empty = defectOf(
        yield* Effect.exit(Stream.runDrain(Stream.empty.pipe(Task.stream(Add, { timeout: -1 })))),
        "an empty stream"
      )
      assert.instanceOf(empty, RangeError)
    }).pipe(Effect.provide(pool)))

  it.live("a whenFull that is neither \"wait\" nor \"fail\": the call dies naming itself and the option", () =>
    Effect.gen(function*() {
      // Was: anything but "fail" waited, so a misspelt "fial" queued without bound where a server shed load.
      const input = { a: 1, b: 2 }
      const bad = "fial" as any
      const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown, any>]> = [
        ["Task.run(Add): whenFull", Task.run(Add, input, { whenFull: bad })],
        ["Task.map(Add): whenFull", Task.map(Add, [input], { whenFull: bad })],
        ["Task.mapUnordered(Add): whenFull", Task.mapUnordered(Add, [input], { whenFull: bad })]
      ]
      for (const [option, effect] of cases) {
        const error = defectOf(yield* Effect.exit(effect), option)
        assert.instanceOf(error, RangeError)
        assert.strictEqual((error as RangeError).message, `${option} must be "wait" or "fail", got fial`)
      }
    }).pipe(Effect.provide(pool)))

  it.live("a task that no pool in context runs: the call dies naming the call, the task and the remedy", () =>
    Effect.gen(function*() {
      // Was: "Service not found: effect-parallel/Task/Runner/Stray", a key the user never wrote.
      // The types refuse such a program (`Runner<"Stray">` is left unprovided); untyped code meets this.
      const Stray = Task.make("Stray", { payload: { n: Schema.Number }, success: Schema.Number })
      const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown, any>]> = [
        ["Task.run(Stray)", Task.run(Stray, { n: 1 })],
        ["Task.map(Stray)", Task.map(Stray, [{ n: 1 }])],
        ["Task.mapUnordered(Stray)", Task.mapUnordered(Stray, [{ n: 1 }])],
        ["Task.stream(Stray)", Stream.runDrain(Stream.make({ n: 1 }).pipe(Task.stream(Stray)))]
      ]
      for (const [call, effect] of cases) {
        const error = defectOf(yield* Effect.exit(effect as Effect.Effect<unknown, unknown>), call)
        assert.instanceOf(error, Error)
        assert.strictEqual(
          (error as Error).message,
          `${call}: no pool in context runs task "Stray"; provide a pool (WorkerPool.layer) whose group includes it`
        )
      }
    }).pipe(Effect.provide(pool)))

  it.live("a call larger than maxQueued, refused on an idle pool, is not told the queue is full", () =>
    Effect.gen(function*() {
      // Was: "the pool's queue is full (maxQueued 2)" with nothing queued: the call itself never fits.
      const refused = yield* Effect.flip(Task.map(Add, [{ a: 1, b: 1 }, { a: 2, b: 2 }, { a: 3, b: 3 }]))
      assert.instanceOf(refused, TaskError.TaskError)
      const reason = (refused as TaskError.TaskError).reason
      assert.instanceOf(reason, TaskError.PoolSaturated)
      assert.strictEqual(reason.message, "no room in the pool's queue for the call (maxQueued 2)")
      assert.strictEqual((yield* WorkerPool.stats(ContractTasks)).queued, 0)
    }).pipe(Effect.provide(
      WorkerPool.layer(ContractTasks, { entry: new URL("../fixtures/worker.ts", import.meta.url), size: 1, maxQueued: 2, whenFull: "fail" })
        .pipe(Layer.provide(InlineBackend.layer))
    )))
})

describe("Task.stream", () => {
  it.live("a source of one large array is batched in linear work: what is left of it is not copied at every batch", () =>
    Effect.gen(function*() {
      // `Stream.fromIterable` of an array is that one array upstream; this one counts what its
      // slices copy (a slice of it is one of its class, so leftovers of leftovers count too).
      let copied = 0
      class Counting<A> extends Array<A> {
        override slice(start?: number, end?: number): Array<A> {
          const out = super.slice(start, end)
          copied += out.length
          return out
        }
      }
      const count = 10_000
      const inputs = Counting.from({ length: count }, (_, i) => ({ a: i, b: 1 }))
      const out = yield* Stream.fromIterable(inputs).pipe(Task.stream(Add), Stream.runCollect)
      assert.deepStrictEqual(Array.from(out), Array.from({ length: count }, (_, i) => i + 1))
      // Batches of 64 cut from the rest each time copied ~count² / 128 (781,000 here); once each now.
      assert.isAtMost(copied, 2 * count)
    }).pipe(Effect.provide(pool)))
})
