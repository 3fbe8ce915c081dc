/**
 * `effect-parallel/actors` — one `Classifier` actor per worker (`Actor.spawnMany` over a
 * `WorkerPool` of `workers` threads): each loads the model once in its scoped constructor and
 * releases it when it stops; the batch reaches the actors once, as a shared array in their init
 * arguments. A round calls every actor's `predict` at once.
 *
 * `effect-parallel/actors@processes` — the same on `ProcessBackend`: one child process per actor;
 * the batch is copied into each actor's init arguments once (a process cannot read the caller's
 * memory), and each actor reports the loads of its process. `…@processes/2-threads` gives every
 * session 2 intra-op threads (onnxruntime's own parallelism on top of the workers'), unpinned, and
 * `…@processes/2-threads+pinned` the same with `cpus: "spread"`: each process, its onnxruntime
 * threads included, on a core of its own (the Ray post's one-actor-per-core pinning).
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { Actor, ProcessBackend, type SharedArray, WorkerPool } from "../../../src/index.ts"
import { CopiedClassifier, CopiedWorkloads } from "../../../src/workloads/copied.ts"
import { ActorWorkloads, Classifier } from "../../../src/workloads/statefulActors.ts"
import type { ModelVariant } from "./variant.ts"

const entry = new URL("../../../src/workloads/actorsWorker.ts", import.meta.url)

const processEntry = new URL("../../../src/workloads/copiedWorker.ts", import.meta.url)

const onProcesses = (name: string, config: string, intraOpThreads: number, pinned: boolean): ModelVariant => ({
  name,
  config,
  setup: async (workers, { count, images, loads, modelPath }) => {
    const scope = Scope.makeUnsafe()
    const pool = WorkerPool.layer(CopiedWorkloads, {
      entry: processEntry,
      size: workers,
      ...(pinned ? { cpus: "spread" as const } : {})
    }).pipe(Layer.provide(ProcessBackend.layer))
    const context = await Effect.runPromise(Layer.buildWithScope(pool, scope))
    const run = Effect.runPromiseWith(context)
    // A copy the size of the batch, not the SharedArrayBuffer-backed view: it crosses by value.
    const batch = images.slice()
    const classifiers = await run(
      Actor.spawnMany(CopiedClassifier, workers, { modelPath, images: batch, count, intraOpThreads }).pipe(Scope.provide(scope))
    )
    // One actor per process: each one's count is its process's loads.
    const counted = await run(Effect.forEach(classifiers, (c) => c.call("loads", {})))
    Atomics.add(loads, 0, counted.reduce((a, b) => a + b, 0))
    return {
      instances: workers,
      round: () => run(Effect.forEach(classifiers, (c) => c.call("predict", {}), { concurrency: "unbounded" })),
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
})

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
},
  onProcesses("effect-parallel/actors@processes", "ProcessBackend, one actor per child process, batch copied at spawn, 1 intra-op thread", 1, false),
  onProcesses("effect-parallel/actors@processes/2-threads", "ProcessBackend, 2 intra-op threads per session, unpinned", 2, false),
  onProcesses("effect-parallel/actors@processes/2-threads+pinned", "ProcessBackend, 2 intra-op threads per session, cpus: \"spread\"", 2, true)
]
