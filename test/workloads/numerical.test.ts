/**
 * The numerical workload on a pool: shared and copied rounds give exactly the serial results.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { SharedArray, WorkerPool } from "../../src/index.ts"
import { matricesEqual, randomFilter, randomImage } from "../../src/workloads/convolve.ts"
import { copiedRound, NumericalTasks, serialRound, sharedRound } from "../../src/workloads/numerical.ts"

const pool = WorkerPool.layer(NumericalTasks, {
  entry: new URL("../../src/workloads/numericalWorker.ts", import.meta.url),
  size: 2
})

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

describe("numerical workload", () => {
  it.live("shared and copied rounds equal the serial round, bit for bit", () =>
    Effect.gen(function*() {
      const filters = [randomFilter(4, 11), randomFilter(4, 12), randomFilter(1, 13)]
      const plain = randomImage(301, 199, 7)
      const image = yield* SharedArray.makeMatrix("Float64", 301, 199)
      image.data.set(plain.data)
      const expected = serialRound(plain, filters)
      const shared = yield* sharedRound(image, filters)
      const copied = yield* copiedRound(plain, filters)
      for (let i = 0; i < filters.length; i++) {
        assert.isTrue(SharedArray.isShared("Float64", shared[i]!.data), "the result came back in shared memory")
        assert.isTrue(matricesEqual(shared[i]!, expected[i]!), `shared filter ${i}`)
        assert.isTrue(matricesEqual(copied[i]!, expected[i]!), `copied filter ${i}`)
      }
    }).pipe(Effect.scoped, Effect.provide(pool)))
})
