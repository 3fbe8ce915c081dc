/**
 * `effect-parallel/shared` — the image is made in shared memory (`SharedArray.makeMatrix`, scoped
 * to the round, so its memory goes back to the arena and the next round reuses it) and crosses to
 * the workers as a handle; each worker writes its result into an output the round lends it
 * (`memory: "output"`, also arena memory), so no buffer is made per task.
 *
 * `effect-parallel/clone` — the same pool with a plain `Float64Array` image: copied into every
 * task, every result copied back.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { SharedArray, WorkerPool } from "../../../src/index.ts"
import { convolve2dStridedShape, randomImage } from "../../../src/workloads/convolve.ts"
import { copiedRound, NumericalTasks, sharedRoundInto } from "../../../src/workloads/numerical.ts"
import type { NumericalVariant, RoundOutput } from "./variant.ts"

const entry = new URL("../../../src/workloads/numericalWorker.ts", import.meta.url)

const make = (name: string, config: string, shared: boolean): NumericalVariant => ({
  name,
  config,
  setup: async (workers) => {
    const scope = Scope.makeUnsafe()
    const context = await Effect.runPromise(
      Layer.buildWithScope(WorkerPool.layer(NumericalTasks, { entry, size: workers }), scope)
    )
    const run = Effect.runPromiseWith(context)
    // Each round's image and outputs live in a scope of their own, closed when the next round
    // starts (its outputs are read until then): their memory then goes back to the arena.
    let roundScope: Scope.Closeable | undefined
    const nextRound = Effect.suspend(() => {
      const previous = roundScope
      roundScope = Scope.makeUnsafe()
      return previous === undefined ? Effect.void : Scope.close(previous, Exit.void)
    })
    return {
      round: ({ cols, filters, imageSeed, rows }) =>
        run<RoundOutput, unknown>(
          shared
            ? Effect.andThen(nextRound, Effect.suspend(() => Effect.gen(function*() {
              const t0 = performance.now()
              const image = yield* SharedArray.makeMatrix("Float64", rows, cols)
              randomImage(rows, cols, imageSeed, image.data)
              const t1 = performance.now()
              // Outputs lent to the workers, from the arena: reused every round, nothing per task.
              const outputs = yield* Effect.forEach(filters, (filter) => {
                const shape = convolve2dStridedShape(image, filter)
                return SharedArray.makeMatrix("Float64", shape.rows, shape.cols)
              })
              yield* sharedRoundInto(image, filters, outputs)
              return { outputs, imageMs: t1 - t0, convolveMs: performance.now() - t1 } satisfies RoundOutput
            }).pipe(Scope.provide(roundScope!))))
            : Effect.suspend(() => {
              const t0 = performance.now()
              const image = randomImage(rows, cols, imageSeed)
              const t1 = performance.now()
              return Effect.map(copiedRound(image, filters), (outputs) => ({
                outputs,
                imageMs: t1 - t0,
                convolveMs: performance.now() - t1
              } satisfies RoundOutput))
            })
        ),
      close: () =>
        Effect.runPromise(Effect.andThen(
          roundScope === undefined ? Effect.void : Scope.close(roundScope, Exit.void),
          Scope.close(scope, Exit.void)
        ))
    }
  }
})

export const variants: ReadonlyArray<NumericalVariant> = [
  make(
    "effect-parallel/shared",
    "WorkerPool size = workers; image and outputs in SharedArray memory (scoped per round, reused by the arena)",
    true
  ),
  make("effect-parallel/clone", "WorkerPool size = workers; plain Float64Array image and results, copied by postMessage", false)
]
