/**
 * Actors on the simulated backend: regressions for actor bugs the simulation found.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { Actor, Simulation, Task } from "../../src/index.ts"
import entry, { BuildRefused, Dotted, Journal, JournalTasks, ledger, Tally } from "../fixtures/simulation-actors.ts"

const simulate = <A, E>(
  program: Effect.Effect<A, E, Simulation.World | Scope.Scope>,
  seed: number,
  faults: Simulation.FaultPlan
) =>
  Effect.suspend(() => {
    ledger.reset()
    return Simulation.run(program, { seed, faults, latency: { min: 0, max: 3 }, work: { min: 0, max: 4 } })
  })

const failureOf = (exit: Exit.Exit<unknown, unknown>): unknown => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Cause.findErrorOption((exit as Exit.Failure<unknown, unknown>).cause)
  assert.strictEqual(error._tag, "Some")
  return (error as { value: unknown }).value
}

const actorEvents = (report: Simulation.Report<unknown, unknown>) =>
  report.trace.filter((event) => event._tag.startsWith("Actor")).map((event) => event._tag)

describe("Simulated actors", () => {
  it.effect("regression: a spawn whose constructor failed is never rebuilt when its worker dies later", () =>
    Effect.gen(function*() {
      // The host kept the failed actor's record on its worker; that worker's death then "restarted"
      // an actor nobody held, rebuilding it again and again.
      const program = Effect.gen(function*() {
        const refused = yield* Effect.exit(Actor.spawn(Journal, { key: 0, refuse: "always" }, {
          worker: 0,
          restart: { maxRestarts: 2, backoff: "1 millis" }
        }))
        yield* Effect.sleep("1 second")
        return refused
      }).pipe(Effect.provide(Simulation.layer(JournalTasks, { entry, size: 2 })))
      const report = yield* simulate(program, 1, [{ _tag: "CrashAt", worker: 0, millis: 200 }])
      assert.isTrue(Exit.isSuccess(report.exit))
      assert.instanceOf(failureOf((report.exit as Exit.Success<Exit.Exit<unknown, unknown>>).value), BuildRefused)
      assert.isTrue(report.trace.some((event) => event._tag === "Crash" && event.worker === 0))
      const events = actorEvents(report)
      assert.strictEqual(events.filter((tag) => tag === "ActorPlace").length, 1, `placed again: ${events}`)
      assert.notInclude(events, "ActorRestart")
      assert.include(events, "ActorStopped", "forgotten once its spawn failed")
      assert.strictEqual(ledger.instances, 1, "built once")
    }))

  it.effect("regression: a task calls an actor whose name holds a dot", () =>
    Effect.gen(function*() {
      // Asks named the method by cutting the task name at its first dot: "ns.Tally.add" → "Tally.add".
      const program = Effect.gen(function*() {
        const tally = yield* Actor.spawn(Dotted, {})
        yield* Task.run(Tally, { tally, n: 2 })
        return yield* Task.run(Tally, { tally, n: 3 })
      }).pipe(Effect.provide(Simulation.layer(JournalTasks, { entry, size: 2 })))
      const report = yield* simulate(program, 1, [])
      assert.deepStrictEqual(report.exit, Exit.succeed(5))
    }))
})
