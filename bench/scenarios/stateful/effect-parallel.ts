/**
 * `effect-parallel/actors` — one `PrefixCounter` actor per worker (`Actor.spawnMany` over a
 * `WorkerPool` of `workers` threads); every call is an actor call, pipelined: per-actor FIFO
 * keeps each counter's documents in order.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { Actor, WorkerPool } from "../../../src/index.ts"
import { ActorWorkloads, PrefixCounter } from "../../../src/workloads/statefulActors.ts"
import type { StatefulVariant } from "./variant.ts"

const entry = new URL("../../../src/workloads/actorsWorker.ts", import.meta.url)

export const variants: ReadonlyArray<StatefulVariant> = [{
  name: "effect-parallel/actors",
  config: "WorkerPool size = workers; Actor.spawnMany(PrefixCounter, workers): one actor per worker",
  setup: async (workers) => {
    const scope = Scope.makeUnsafe()
    const context = await Effect.runPromise(
      Layer.buildWithScope(WorkerPool.layer(ActorWorkloads, { entry, size: workers }), scope)
    )
    const counters = await Effect.runPromiseWith(context)(
      Actor.spawnMany(PrefixCounter, workers, {}).pipe(Scope.provide(scope))
    )
    const actor = (counter: number) => {
      const a = counters[counter]
      if (a === undefined) throw new RangeError(`effect-parallel/actors: no counter ${counter}`)
      return a
    }
    return {
      counters: workers,
      reset: () => Effect.runPromise(Effect.forEach(counters, (c) => c.call("reset", {}), { discard: true })),
      add: (counter, document) => Effect.runPromise(actor(counter).call("add", { document })),
      popular: (counter) => Effect.runPromise(actor(counter).call("popular", {})),
      count: (counter, prefix) => Effect.runPromise(actor(counter).call("count", { prefix })),
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}]
