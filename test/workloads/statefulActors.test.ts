/**
 * The actor workloads on a pool: prefix-count actors give serial's popular set, classifier actors
 * load their model once each and predict what the serial baseline predicts.
 */
import { afterAll, afterEach, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Actor, SharedArray, WorkerPool } from "../../src/index.ts"
import { CLASSES, ensureMlpModel, IMAGE_SIZE, makeImages, serialPredict } from "../../src/workloads/mlp.ts"
import { makeDocuments, serialPrefixCount, unionPopular } from "../../src/workloads/prefixCount.ts"
import { ActorWorkloads, Classifier, PrefixCounter } from "../../src/workloads/statefulActors.ts"

const pool = WorkerPool.layer(ActorWorkloads, {
  entry: new URL("../../src/workloads/actorsWorker.ts", import.meta.url),
  size: 2
})

let directory = ""
let modelPath = ""
beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), "actors-workload-"))
  modelPath = ensureMlpModel(join(directory, "mlp.onnx"))
})
afterAll(() => rmSync(directory, { recursive: true, force: true }))
afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

describe("actor workloads", () => {
  it.live.each(["radix", "map"] as const)("prefix-count actors (%s counters), documents round-robin, give serial's popular set", (counter) =>
    Effect.gen(function*() {
      const documents = makeDocuments(6, 2_000, 3)
      const counters = yield* Actor.spawnMany(PrefixCounter, 2, { counter })
      // Sent without waiting: each actor still takes its documents in order.
      yield* Effect.forEach(documents, (document, i) => counters[i % 2]!.call("add", { document }), {
        concurrency: "unbounded",
        discard: true
      })
      const sets = yield* Effect.forEach(counters, (c) => c.call("popular", {}))
      assert.deepStrictEqual([...unionPopular(sets)].sort(), [...serialPrefixCount(documents, 2, counter)].sort())
    }).pipe(Effect.scoped, Effect.provide(pool)))

  it.live("classifier actors load the model once each and match the serial predictions", () =>
    Effect.gen(function*() {
      const count = 64
      const images = yield* SharedArray.put("Float32", makeImages(count, 9))
      const loads = yield* SharedArray.make("Int32", 1)
      const classifiers = yield* Actor.spawnMany(Classifier, 2, { modelPath, images, count, loads })
      const expected = (yield* Effect.promise(() => serialPredict(modelPath, makeImages(count, 9), 1)))[0]!
      for (let round = 0; round < 3; round++) {
        const outputs = yield* Effect.forEach(classifiers, (c) => c.call("predict", {}), { concurrency: "unbounded" })
        for (const output of outputs) {
          assert.strictEqual(output.length, count * CLASSES)
          for (let i = 0; i < output.length; i++) assert.closeTo(output[i]!, expected[i]!, 1e-6)
        }
      }
      assert.strictEqual(Atomics.load(loads, 0), 2, "one load per actor, however many calls")
      assert.strictEqual(images.length, count * IMAGE_SIZE)
    }).pipe(Effect.scoped, Effect.provide(pool)))
})
