/**
 * `effect-parallel/shared` — the image is made in shared memory, scoped to the round, so its
 * memory goes back to the arena and the next round reuses it (random images:
 * `SharedArray.makeMatrixUninitialized`, overwritten in full; zero images: `SharedArray.makeMatrix`,
 * which the arena zeroes between rounds) and crosses to the workers as a handle; each worker writes its result into an output the caller lends it
 * (`memory: "output"`, made once and rewritten every round), so no buffer is made per task.
 *
 * `effect-parallel/clone` — the same pool with a plain `Float64Array` image: copied into every
 * task, every result copied back.
 *
 * `effect-parallel/clone@processes` — `clone` with the workers in child processes
 * (`ProcessBackend`): a process cannot map the caller's memory, so copying is the only way there
 * (the image serialized into every task through the IPC channel, every result back).
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { type PoolError, ProcessBackend, SharedArray, type Task, WorkerPool } from "../../../src/index.ts"
import {
  convolve2dStridedShape,
  makeMatrix,
  type Matrix,
  randomImage,
  type ReadonlyMatrix
} from "../../../src/workloads/convolve.ts"
import { CopiedWorkloads } from "../../../src/workloads/copied.ts"
import { copiedRound, NumericalTasks, sharedRoundInto } from "../../../src/workloads/numerical.ts"
import type { NumericalVariant, RoundOutput } from "./variant.ts"

const entry = new URL("../../../src/workloads/numericalWorker.ts", import.meta.url)

const processEntry = new URL("../../../src/workloads/copiedWorker.ts", import.meta.url)

const make = (name: string, config: string, shared: boolean, processes = false): NumericalVariant => ({
  name,
  config,
  setup: async (workers) => {
    const scope = Scope.makeUnsafe()
    // The process pool serves only the copied task: the rounds below never call the others there.
    const pool = (processes
      ? WorkerPool.layer(CopiedWorkloads, { entry: processEntry, size: workers }).pipe(Layer.provide(ProcessBackend.layer))
      : WorkerPool.layer(NumericalTasks, { entry, size: workers })) as Layer.Layer<
        Task.Runner<Task.Tasks<typeof NumericalTasks>["name"]>,
        PoolError.PoolError
      >
    const context = await Effect.runPromise(Layer.buildWithScope(pool, scope))
    const run = Effect.runPromiseWith(context)
    // Each round's image lives in a scope of its own, closed when the next round starts: its
    // memory then goes back to the arena and the next image reuses it.
    let roundScope: Scope.Closeable | undefined
    let outputs: ReadonlyArray<SharedArray.SharedMatrix<"Float64">> | undefined
    const outputsFor = (image: ReadonlyMatrix, filters: ReadonlyArray<Matrix>) =>
      outputs !== undefined && outputs.length === filters.length
        ? Effect.succeed(outputs)
        : Effect.map(
          Effect.forEach(filters, (filter) => {
            const shape = convolve2dStridedShape(image, filter)
            return SharedArray.makeMatrix("Float64", shape.rows, shape.cols)
          }).pipe(Scope.provide(scope)),
          (made) => (outputs = made)
        )
    const nextRound = Effect.suspend(() => {
      const previous = roundScope
      roundScope = Scope.makeUnsafe()
      return previous === undefined ? Effect.void : Scope.close(previous, Exit.void)
    })
    return {
      round: ({ cols, filters, image: kind, imageSeed, rows }) =>
        run<RoundOutput, unknown>(
          shared
            ? Effect.andThen(nextRound, Effect.suspend(() => Effect.gen(function*() {
              const t0 = performance.now()
              const image = kind === "zero"
                ? yield* SharedArray.makeMatrix("Float64", rows, cols)
                : yield* SharedArray.makeMatrixUninitialized("Float64", rows, cols)
              if (kind === "random") randomImage(rows, cols, imageSeed, image.data)
              const t1 = performance.now()
              // Outputs lent to the workers (numpy's out=): made once, rewritten every round.
              const outputs = yield* outputsFor(image, filters)
              yield* sharedRoundInto(image, filters, outputs)
              return { outputs, imageMs: t1 - t0, convolveMs: performance.now() - t1 } satisfies RoundOutput
            }).pipe(Scope.provide(roundScope!))))
            : Effect.suspend(() => {
              const t0 = performance.now()
              const image = kind === "zero" ? makeMatrix(rows, cols) : randomImage(rows, cols, imageSeed)
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
    "WorkerPool size = workers; image in SharedArray memory (scoped per round, reused by the arena); outputs lent once",
    true
  ),
  make("effect-parallel/clone", "WorkerPool size = workers; plain Float64Array image and results, copied by postMessage", false),
  make(
    "effect-parallel/clone@processes",
    "WorkerPool size = workers on ProcessBackend; plain Float64Array image and results, copied through IPC (advanced serialization)",
    false,
    true
  )
]
