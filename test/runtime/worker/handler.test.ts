import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { fuse } from "../../../src/core/Fusion.ts"
import * as Task from "../../../src/core/Task.ts"
import { codecOf } from "../../../src/runtime/protocol/codec.ts"
import { Outcome } from "../../../src/runtime/protocol/protocol.ts"
import { fusedHandler, isEffect, outcomeOf, runSyncHead } from "../../../src/runtime/worker/handler.ts"

/** What a fiber makes of `effect`, for comparison. */
const viaFiber = (effect: Effect.Effect<unknown, unknown>) => Effect.runSyncExit(effect)

describe("runSyncHead (a handler's Effect.sync without a fiber)", () => {
  // Reads Effect's primitives by their keys: this fails if an Effect release changes them (every
  // sync handler would then take a fiber again, silently slower).
  it("runs an Effect.sync's thunk once, here, and answers its value as an Exit", () => {
    let calls = 0
    const result = runSyncHead(Effect.sync(() => ++calls * 10))
    assert.isTrue(Exit.isExit(result))
    assert.deepStrictEqual(result, Exit.succeed(10))
    assert.strictEqual(calls, 1)
  })

  it("a thunk that throws is a defect carrying what it threw, as in a fiber", () => {
    const boom = new RangeError("boom")
    const effect = Effect.sync(() => {
      throw boom
    })
    const result = runSyncHead(effect) as Exit.Exit<unknown, unknown>
    assert.isTrue(Exit.isExit(result) && Exit.isFailure(result))
    assert.strictEqual(Cause.squash((result as Exit.Failure<unknown, unknown>).cause), boom)
    assert.strictEqual(Cause.squash((viaFiber(effect) as Exit.Failure<unknown, unknown>).cause), boom)
  })

  it("Effect.try succeeds or fails with its catch's error, as in a fiber", () => {
    const ok = Effect.try({ try: () => 7, catch: () => "never" })
    const bad = Effect.try({
      try: () => {
        throw new Error("no")
      },
      catch: (error) => `caught ${(error as Error).message}`
    })
    assert.deepStrictEqual(runSyncHead(ok), viaFiber(ok))
    assert.deepStrictEqual(runSyncHead(bad), Exit.fail("caught no"))
    assert.deepStrictEqual(viaFiber(bad), Exit.fail("caught no"))
  })

  it("a suspend returning an Effect that needs a fiber hands that Effect on, its thunk run once", () => {
    let calls = 0
    const inner = Effect.sleep("1 millis")
    const result = runSyncHead(Effect.suspend(() => {
      calls++
      return inner
    }))
    assert.strictEqual(result, inner)
    assert.strictEqual(calls, 1)
  })

  it("anything else is left for a fiber, nothing of it run", () => {
    let calls = 0
    const mapped = Effect.map(Effect.sync(() => ++calls), (n) => n + 1)
    assert.strictEqual(runSyncHead(mapped), mapped)
    assert.strictEqual(calls, 0)
    // `Effect.gen` is a suspend that makes the generator: made here, its body left to the fiber.
    const generated = runSyncHead(Effect.gen(function*() {
      calls++
      return 1
    }))
    assert.isFalse(Exit.isExit(generated))
    assert.strictEqual(calls, 0)
    assert.deepStrictEqual(viaFiber(generated as Effect.Effect<unknown, unknown>), Exit.succeed(1))
    const exit = Exit.succeed(3)
    assert.strictEqual(runSyncHead(exit), exit)
  })
})

describe("fusedHandler", () => {
  const Double = Task.make("Double", { payload: Schema.Number, success: Schema.Number })
  const Inc = Task.make("Inc", { payload: Schema.Number, success: Schema.Number })
  const chain = fuse(Double, Inc)

  it("a chain of synchronous stages answers an Exit: no fiber for the element", () => {
    const handler = fusedHandler(chain, { Double: (n: number) => Effect.sync(() => n * 2), Inc: (n: number) => Effect.succeed(n + 1) })!
    assert.deepStrictEqual(handler(5), Exit.succeed(11))
  })

  it("a stage that needs a fiber hands the rest of the chain to one, with the same answer", () => {
    const handler = fusedHandler(chain, {
      Double: (n: number) => Effect.sync(() => n * 2),
      Inc: (n: number) => Effect.map(Effect.yieldNow, () => n + 1)
    })!
    const effect = handler(5)
    assert.isFalse(Exit.isExit(effect))
    assert.deepStrictEqual(Effect.runSyncExit(effect as Effect.Effect<unknown, unknown>), Exit.succeed(11))
  })

  it("a throwing synchronous stage is that stage's defect, with its input", () => {
    const handler = fusedHandler(chain, {
      Double: (n: number) => Effect.sync(() => n * 2),
      Inc: () =>
        Effect.sync(() => {
          throw new Error("no")
        })
    })!
    const exit = handler(5) as Exit.Exit<unknown, { _tag: string; stage: number; input: string }>
    assert.isTrue(Exit.isExit(exit) && Exit.isFailure(exit))
    const failure = Cause.findErrorOption((exit as Exit.Failure<unknown, { _tag: string; stage: number; input: string }>).cause)
    assert.strictEqual(failure._tag, "Some")
    if (failure._tag === "Some") {
      assert.strictEqual(failure.value._tag, "Broke")
      assert.strictEqual(failure.value.stage, 1)
      assert.strictEqual(failure.value.input, "10")
    }
  })
})

describe("outcomeOf", () => {
  class Missing extends Schema.TaggedError<Missing>()("Missing", { key: Schema.String }) {}
  const Find = Task.make("Find", { payload: Schema.String, success: Schema.Number, error: Missing })

  it("a failure its error Schema refuses is a defect saying so, keeping the error's message", () => {
    // Shaped as the declared error, yet no instance of it: was "{"_tag":"Missing","key":"a"}" alone.
    const [outcome, value] = outcomeOf(codecOf(Find), Exit.fail({ _tag: "Missing", key: "a" }), false)
    assert.strictEqual(outcome, Outcome.Defect)
    assert.strictEqual(
      (value as { message: string }).message,
      `failed with an error its Schema refuses (Expected Missing): {"_tag":"Missing","key":"a"}`
    )
    // The declared error itself is a failure, as it was.
    assert.strictEqual(outcomeOf(codecOf(Find), Exit.fail(new Missing({ key: "a" })), false)[0], Outcome.Failure)
  })
})

describe("isEffect (what a handler must return)", () => {
  // Was: only objects were taken: a handler answering with a service's class (an Effect that
  // reads the service, and a function) was a `NotAnEffect` defect.
  it("takes a service's class, which is an Effect and a function, and refuses what is not one", () => {
    class Model extends Context.Service<Model, { readonly n: number }>()("test/Model") {}
    assert.isTrue(isEffect(Model))
    assert.isTrue(isEffect(Effect.succeed(1)))
    for (const value of [undefined, null, 1, "x", () => 1, Promise.resolve(1), Object.create(null)]) assert.isFalse(isEffect(value))
  })
})

describe("runSyncHead with hostile values", () => {
  // Was: a trap that throws escaped runSyncHead (the worker's loop) instead of becoming a defect.
  it("a proxy effect whose traps throw goes to a fiber, whose run loop makes it a defect", () => {
    const hostile = new Proxy(Effect.succeed(1) as object, {
      get: () => {
        throw new Error("trap")
      }
    }) as Effect.Effect<unknown>
    assert.strictEqual(runSyncHead(hostile), hostile)
    const suspended = Effect.suspend(() =>
      new Proxy({}, {
        has: () => {
          throw new Error("trap")
        }
      }) as Effect.Effect<unknown>
    )
    const result = runSyncHead(suspended) as Exit.Exit<unknown, unknown>
    assert.isTrue(Exit.isExit(result) && Exit.isFailure(result))
  })
})
