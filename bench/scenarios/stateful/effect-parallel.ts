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

const make = (
  name: string,
  config: string,
  resourceLimits?: WorkerPool.Options["resourceLimits"]
): StatefulVariant => ({
  name,
  config,
  setup: async (workers, counter) => {
    const scope = Scope.makeUnsafe()
    const context = await Effect.runPromise(
      Layer.buildWithScope(WorkerPool.layer(ActorWorkloads, { entry, size: workers, resourceLimits }), scope)
    )
    const counters = await Effect.runPromiseWith(context)(
      Actor.spawnMany(PrefixCounter, workers, { counter }).pipe(Scope.provide(scope))
    )
    const actor = (index: number) => {
      const a = counters[index]
      if (a === undefined) throw new RangeError(`${name}: no counter ${index}`)
      return a
    }
    return {
      counters: workers,
      reset: () => Effect.runPromise(Effect.forEach(counters, (c) => c.call("reset", {}), { discard: true })),
      add: (index, document) => Effect.runPromise(actor(index).call("add", { document })),
      popular: (index) => Effect.runPromise(actor(index).call("popular", {})),
      count: (index, prefix) => Effect.runPromise(actor(index).call("count", { prefix })),
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
})

export const variants: ReadonlyArray<StatefulVariant> = [
  make("effect-parallel/actors", "WorkerPool size = workers; Actor.spawnMany(PrefixCounter, workers): one actor per worker"),
  make(
    "effect-parallel/actors/v8-young",
    "the same, with V8's own young-generation default (resourceLimits.maxYoungGenerationSizeMb: 0)",
    { maxYoungGenerationSizeMb: 0 }
  ),
  make("effect-parallel/actors/young-24", "the same, with a 24 MB young generation", { maxYoungGenerationSizeMb: 24 }),
  make("effect-parallel/actors/young-12", "the same, with a 12 MB young generation", { maxYoungGenerationSizeMb: 12 })
]
