/**
 * `effect-parallel/actors` — one `Classifier` actor per worker (`Actor.spawnMany` over a
 * `WorkerPool` of `workers` threads): each loads the model once in its scoped constructor and
 * releases it when it stops; the batch reaches the actors once, as a shared array in their init
 * arguments. A round calls every actor's `predict` at once.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { Actor, type SharedArray, WorkerPool } from "../../../src/index.ts"
import { ActorWorkloads, Classifier } from "../../../src/workloads/statefulActors.ts"
import type { ModelVariant } from "./variant.ts"

const entry = new URL("../../../src/workloads/actorsWorker.ts", import.meta.url)

export const variants: ReadonlyArray<ModelVariant> = [{
  name: "effect-parallel/actors",
  config: "WorkerPool size = workers; Actor.spawnMany(Classifier, workers): model loaded in each actor's constructor",
  setup: async (workers, { count, images, loads, modelPath }) => {
    const scope = Scope.makeUnsafe()
    const context = await Effect.runPromise(
      Layer.buildWithScope(WorkerPool.layer(ActorWorkloads, { entry, size: workers }), scope)
    )
    const classifiers = await Effect.runPromiseWith(context)(
      Actor.spawnMany(Classifier, workers, {
        modelPath,
        // Both are SharedArrayBuffer views (see ModelSetup): they cross as handles.
        images: images as unknown as SharedArray.ReadonlySharedArray<"Float32">,
        count,
        loads: loads as unknown as SharedArray.ReadonlySharedArray<"Int32">
      }).pipe(Scope.provide(scope))
    )
    return {
      instances: workers,
      round: () =>
        Effect.runPromise(Effect.forEach(classifiers, (c) => c.call("predict", {}), { concurrency: "unbounded" })),
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}]
