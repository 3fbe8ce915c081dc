/**
 * The numerical workload on a pool: shared and copied rounds give exactly the serial results.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { SharedArray, WorkerPool } from "../../src/index.ts"
import { matricesEqual, randomFilter, randomImage } from "../../src/workloads/convolve.ts"
import { convolve2dStridedShape } from "../../src/workloads/convolve.ts"
import { copiedRound, NumericalTasks, serialRound, sharedRound, sharedRoundInto } from "../../src/workloads/numerical.ts"

const pool = WorkerPool.layer(NumericalTasks, {
  entry: new URL("../../src/workloads/numericalWorker.ts", import.meta.url),
  size: 2
})

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

describe("numerical workload", () => {
  it.live("shared, into-output and copied rounds equal the serial round, bit for bit", () =>
    Effect.gen(function*() {
      const filters = [randomFilter(4, 11), randomFilter(4, 12), randomFilter(1, 13)]
      const plain = randomImage(301, 199, 7)
      const image = yield* SharedArray.makeMatrix("Float64", 301, 199)
      image.data.set(plain.data)
      const expected = serialRound(plain, filters)
      const shared = yield* sharedRound(image, filters)
      const copied = yield* copiedRound(plain, filters)
      const outs = yield* Effect.forEach(filters, (filter) => {
        const shape = convolve2dStridedShape(plain, filter)
        return SharedArray.makeMatrix("Float64", shape.rows, shape.cols)
      })
      yield* sharedRoundInto(image, filters, outs)
      for (let i = 0; i < filters.length; i++) {
        assert.isTrue(SharedArray.isShared("Float64", shared[i]!.data), "the result came back in shared memory")
        assert.isTrue(matricesEqual(shared[i]!, expected[i]!), `shared filter ${i}`)
        assert.isTrue(matricesEqual(copied[i]!, expected[i]!), `copied filter ${i}`)
        assert.isTrue(matricesEqual(outs[i]!, expected[i]!), `into the caller's output, filter ${i}`)
      }
    }).pipe(Effect.scoped, Effect.provide(pool)))
})
