/**
 * Type-level guarantees, checked by `npm run typecheck` (part of `npm test`): every
 * `@ts-expect-error` below must be an error, or the typecheck fails.
 */
import { describe, expectTypeOf, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Actor, PoolError, SharedArray, Task, TaskError, Worker, WorkerPool } from "../../src/index.ts"

class Overdrawn extends Schema.TaggedError<Overdrawn>()("Overdrawn", { balance: Schema.Number }) {}
const Withdraw = Task.make("TypesWithdraw", {
  payload: { amount: Schema.Number },
  success: Schema.Number,
  error: Overdrawn
})
const Ping = Task.make("TypesPing", { payload: Schema.Struct({}) })
const Bank = Task.group(Withdraw, Ping)

class Ledger extends Context.Service<Ledger, { readonly balance: number }>()("types/Ledger") {}
class Audit extends Context.Service<Audit, { readonly log: (s: string) => void }>()("types/Audit") {}
const LedgerLive = Layer.succeed(Ledger, { balance: 10 })

const pool = WorkerPool.layer(Bank, { entry: new URL("file:///never-started.ts") })

describe("types", () => {
  it("running a task requires its pool and carries its declared and runtime errors", () => {
    const program = Task.run(Withdraw, { amount: 5 })
    expectTypeOf(program).toEqualTypeOf<
      Effect.Effect<number, Overdrawn | TaskError.TaskError, Task.Runner<"TypesWithdraw">>
    >()
    expectTypeOf(Task.map(Withdraw, [{ amount: 1 }])).toEqualTypeOf<
      Effect.Effect<Array<number>, Overdrawn | TaskError.TaskError, Task.Runner<"TypesWithdraw">>
    >()
    const provided = Effect.provide(program, pool)
    expectTypeOf(provided).toEqualTypeOf<
      Effect.Effect<number, Overdrawn | TaskError.TaskError | PoolError.PoolError>
    >()
    // Never called: these only have to compile, or fail to.
    const unused = () => {
      // @ts-expect-error a program that never provides the pool does not compile
      void Effect.runPromise(program)
      void Effect.runPromise(provided)
      // @ts-expect-error the payload is typed by its Schema
      void Task.run(Withdraw, { amount: "5" })
    }
    void unused
  })

  it("a task or method without a payload is called without one; one that needs a payload still does", () => {
    const Tick = Task.make("TypesTick", { success: Schema.Number })
    const Reset = Task.make("TypesReset", { payload: {} })
    const Scale = Task.make("TypesScale", { payload: { by: Schema.optional(Schema.Number) } })
    expectTypeOf(Task.run(Tick)).toEqualTypeOf<Effect.Effect<number, TaskError.TaskError, Task.Runner<"TypesTick">>>()
    expectTypeOf(Task.run(Reset)).toEqualTypeOf<Effect.Effect<void, TaskError.TaskError, Task.Runner<"TypesReset">>>()
    expectTypeOf(Task.run(Scale)).toEqualTypeOf<Effect.Effect<void, TaskError.TaskError, Task.Runner<"TypesScale">>>()
    expectTypeOf(Task.run(Tick, undefined, { timeout: "1 second" })).toEqualTypeOf(Task.run(Tick))
    expectTypeOf(Task.run(Reset, {}, { timeout: "1 second" })).toEqualTypeOf(Task.run(Reset))
    expectTypeOf(Task.run(Reset, undefined, { timeout: "1 second" })).toEqualTypeOf(Task.run(Reset))
    const noPayload = () => {
      // @ts-expect-error options go third: in the payload's place they were sent as the payload, the timeout ignored
      void Task.run(Reset, { timeout: "1 second" })
      // @ts-expect-error likewise for a payload of optional fields
      void Task.run(Scale, { timeout: "1 second" })
    }
    void noPayload
    const Gauge = Actor.make("TypesGauge", {
      init: {},
      methods: { reset: {}, read: { success: Schema.Number }, add: { payload: { n: Schema.Number } } }
    })
    const unused = (gauge: Actor.Handle<typeof Gauge>) => {
      expectTypeOf(gauge.call("read")).toEqualTypeOf<Effect.Effect<number, Actor.CallFailure>>()
      void gauge.call("reset")
      void gauge.call("add", { n: 1 })
      expectTypeOf(Actor.tell(gauge, "reset")).toEqualTypeOf<Effect.Effect<void, Actor.CallFailure>>()
      expectTypeOf(Actor.call(gauge, "read")).toEqualTypeOf<Effect.Effect<number, Actor.CallFailure>>()
      void gauge.tell("add", { n: 1 })
      // @ts-expect-error a tell's payload is typed like a call's
      void Actor.tell(gauge, "add", { n: "1" })
      // @ts-expect-error and cannot be left out where the Schema needs it
      void gauge.tell("add")
      // @ts-expect-error a payload the Schema needs cannot be left out
      void gauge.call("add")
      // @ts-expect-error nor for a task
      void Task.run(Withdraw)
      // @ts-expect-error a task without a payload takes none of another shape
      void Task.run(Tick, { n: 1 })
      Worker.serve(Task.group(Tick, Gauge), {
        TypesTick: () => Effect.succeed(1),
        TypesGauge: () => Effect.succeed({ reset: () => Effect.void, read: () => Effect.succeed(0), add: () => Effect.void })
      })
    }
    void unused
  })

  it("a worker entry's Layer must provide what its handlers require", () => {
    const ok = Worker.serve(Bank, {
      TypesWithdraw: ({ amount }) =>
        Effect.flatMap(Ledger, (ledger) =>
          amount > ledger.balance ? Effect.fail(new Overdrawn({ balance: ledger.balance })) : Effect.succeed(amount)),
      TypesPing: () => Effect.void
    }, { layer: LedgerLive })
    expectTypeOf(ok).toExtend<Worker.WorkerEntry>()

    const unused = () => {
      Worker.serve(Bank, {
        // @ts-expect-error Audit is provided by nobody
        TypesWithdraw: () => Effect.flatMap(Audit, () => Effect.succeed(1)),
        TypesPing: () => Effect.void
      }, { layer: LedgerLive })

      Worker.serve(Bank, {
        // @ts-expect-error without a Layer, a handler may require only WorkerInfo
        TypesWithdraw: () => Effect.map(Ledger, (ledger) => ledger.balance),
        TypesPing: () => Effect.void
      })

      Worker.serve(Bank, {
        // @ts-expect-error the success must match the task's success Schema
        TypesWithdraw: () => Effect.succeed("five"),
        TypesPing: () => Effect.void
      })

      // @ts-expect-error every task of the group needs a handler
      Worker.serve(Bank, { TypesWithdraw: () => Effect.succeed(1) })

      Worker.serve(Bank, {
        TypesWithdraw: () => Effect.map(Worker.WorkerInfo, (info) => info.id),
        TypesPing: () => Effect.void
      })
    }
    void unused
  })

  it("a kernel declared with ReadonlyView takes plain arrays and read-only shared views alike, and cannot write", () => {
    const sum = (a: SharedArray.ReadonlyView<"Float64">): number => {
      let total = 0
      for (let i = 0; i < a.length; i++) total += a[i]!
      return total
    }
    const trace = (m: SharedArray.ReadonlyMatrixView<"Float64">): number => {
      let total = 0
      for (let i = 0; i < Math.min(m.rows, m.cols); i++) total += m.data[i * m.cols + i]!
      return total
    }
    const Norm = Task.make("TypesNorm", {
      payload: { image: SharedArray.Float64Matrix, weights: SharedArray.Float64 },
      success: Schema.Number
    })
    const unused = () => {
      // No cast anywhere: a plain array, a writable shared array, a handler's read-only view.
      sum(new Float64Array(4))
      sum(SharedArray.makeUnsafe("Float64", 4))
      trace({ rows: 2, cols: 2, data: new Float64Array(4) })
      trace(SharedArray.makeMatrixUnsafe("Float64", 2, 2))
      Worker.serve(Task.group(Norm), {
        TypesNorm: ({ image, weights }) => Effect.sync(() => sum(weights) + sum(image.data) + trace(image))
      })
      // The generic structural types a kernel may also declare.
      const readonlyView = null as unknown as SharedArray.ReadonlySharedArray<"Float64">
      expectTypeOf(readonlyView).toExtend<ArrayLike<number>>()
      expectTypeOf(readonlyView).toExtend<Iterable<number>>()
      expectTypeOf(readonlyView).toExtend<SharedArray.ReadonlyView<"Float64">>()
      expectTypeOf(new Float64Array(1)).toExtend<SharedArray.ReadonlyView<"Float64">>()
      expectTypeOf<SharedArray.ReadonlyView<"Float64">>().toExtend<ArrayLike<number>>()
      // Non-mutating methods are there, and what they return is the caller's own.
      const view = null as unknown as SharedArray.ReadonlyView<"Float64">
      const mine: Float64Array = view.map((x) => x * 2)
      mine[0] = 1
      expectTypeOf(view.slice(0, 2)).toEqualTypeOf<Float64Array<ArrayBuffer>>()
      expectTypeOf(view.reduce((a, b) => a + b, 0)).toEqualTypeOf<number>()
      // @ts-expect-error no index writes through a read-only view
      view[0] = 1
      // @ts-expect-error no writing methods
      view.set([1])
      // @ts-expect-error nor sort, which sorts in place
      view.sort()
      // @ts-expect-error a subarray of a read-only view is read-only
      view.subarray(0, 1)[0] = 1
      // @ts-expect-error the kinds must match
      sum(new Float32Array(4))
      // A kernel you cannot change takes a deliberate, visible cast (not a double one).
      const legacy = (a: Float64Array) => a.length
      // @ts-expect-error TypeScript has no read-only typed arrays: a Float64Array parameter may be written
      legacy(view)
      legacy(view as Float64Array)
    }
    void unused
  })

  it("a moved array is the receiver's own plain typed array", () => {
    const Moved = SharedArray.array("Float64", { memory: "moved" })
    const Smooth = Task.make("TypesSmooth", { payload: { values: Moved }, success: Moved })
    expectTypeOf(Task.run(Smooth, { values: new Float64Array(4) })).toEqualTypeOf<
      Effect.Effect<Float64Array, TaskError.TaskError, Task.Runner<"TypesSmooth">>
    >()
    const unused = () => {
      Worker.serve(Task.group(Smooth), {
        TypesSmooth: ({ values }) =>
          Effect.sync(() => {
            values[0] = 1 // moved to the handler: its own to write
            return values
          })
      })
      // @ts-expect-error the kinds must match
      void Task.run(Smooth, { values: new Float32Array(4) })
    }
    void unused
  })

  it("a handler sees its shared inputs read-only, and a caller's shared arrays fit the Schema", () => {
    const Blur = Task.make("TypesBlur", {
      payload: { image: SharedArray.Float64Matrix, weights: SharedArray.Float32 },
      success: SharedArray.Float64Matrix
    })
    const Images = Task.group(Blur)
    const unused = () => {
      Worker.serve(Images, {
        TypesBlur: ({ image, weights }) =>
          Effect.sync(() => {
            // @ts-expect-error inputs are read-only: another task may be reading the same memory
            image.data[0] = 1
            // @ts-expect-error no writing methods either
            weights.fill(0)
            // @ts-expect-error a subarray of a read-only view is read-only
            image.data.subarray(0, 4)[0] = 1
            const total: number = image.data[0]! + weights.reduce((a, b) => a + b, 0)
            const out = SharedArray.makeMatrixUnsafe("Float64", image.rows, image.cols)
            out.data[0] = total // a worker writes the memory it made for its result
            return out
          })
      })
      const program = Effect.gen(function*() {
        const image = yield* SharedArray.makeMatrix("Float64", 4, 4)
        image.data[0] = 1 // the caller owns it and may write
        const weights = yield* SharedArray.make("Float32", 3)
        // @ts-expect-error a plain Float64Array is not shared memory
        yield* Task.run(Blur, { image: { rows: 4, cols: 4, data: new Float64Array(16) }, weights })
        // @ts-expect-error the kinds must match
        yield* Task.run(Blur, { image: yield* SharedArray.makeMatrix("Float32", 4, 4), weights })
        return yield* Task.run(Blur, { image, weights })
      })
      expectTypeOf(program).toEqualTypeOf<
        Effect.Effect<
          SharedArray.ReadonlySharedMatrix<"Float64">,
          TaskError.TaskError,
          Task.Runner<"TypesBlur"> | Scope.Scope
        >
      >()
    }
    void unused
  })
})
