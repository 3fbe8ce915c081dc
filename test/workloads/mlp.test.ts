import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  CLASSES,
  ensureMlpModel,
  IMAGE_SIZE,
  loadMlp,
  makeImages,
  makeMlpModel,
  makeMlpWeights,
  mlpForwardReference,
  predictReloading,
  serialPredict,
  serialPredictReloading
} from "../../src/workloads/mlp.ts"

let directory = ""
let modelPath = ""

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), "mlp-test-"))
  modelPath = ensureMlpModel(join(directory, "models", "mlp.onnx"))
})

afterAll(() => {
  rmSync(directory, { recursive: true, force: true })
})

const assertClose = (actual: Float32Array, expected: Float32Array, tolerance: number): void => {
  assert.strictEqual(actual.length, expected.length)
  for (let i = 0; i < expected.length; i++) {
    assert.isAtMost(Math.abs(actual[i]! - expected[i]!), tolerance, `element ${i}: ${actual[i]} vs ${expected[i]}`)
  }
}

describe("makeMlpModel", () => {
  it("is deterministic: the same seed gives identical bytes, another seed different ones", () => {
    const model = makeMlpModel(42)
    assert.deepStrictEqual(makeMlpModel(42), model)
    assert.notDeepEqual(makeMlpModel(43), model)
    // Four float32 initializers dominate the size.
    const parameters = IMAGE_SIZE * 512 + 512 + 512 * CLASSES + CLASSES
    assert.isAbove(model.length, parameters * 4)
    assert.isBelow(model.length, parameters * 4 + 1_000)
  })

  it("ensureMlpModel writes a missing model and replaces a different one", () => {
    assert.deepStrictEqual(new Uint8Array(readFileSync(modelPath)), makeMlpModel())
    const other = join(directory, "other.onnx")
    writeFileSync(other, "not a model")
    ensureMlpModel(other, 5)
    assert.deepStrictEqual(new Uint8Array(readFileSync(other)), makeMlpModel(5))
  })
})

describe("makeImages", () => {
  it("makes count x 784 deterministic pixels in [0, 1)", () => {
    const images = makeImages(3, 9)
    assert.strictEqual(images.length, 3 * IMAGE_SIZE)
    assert.isTrue(images.every((pixel) => pixel >= 0 && pixel < 1))
    assert.deepStrictEqual(makeImages(3, 9), images)
    assert.notDeepEqual(makeImages(3, 10), images)
  })
})

describe("loadMlp", () => {
  it("loads the generated model; outputs count x 10 probabilities matching the reference", async () => {
    const count = 24
    const images = makeImages(count, 1)
    const session = await loadMlp(modelPath)
    try {
      const output = await session.predict(images, count)
      assert.strictEqual(output.length, count * CLASSES)
      for (let n = 0; n < count; n++) {
        const row = output.subarray(n * CLASSES, (n + 1) * CLASSES)
        assert.isTrue(row.every((p) => p > 0 && p < 1))
        assert.closeTo(row.reduce((sum, p) => sum + p, 0), 1, 1e-5)
      }
      assertClose(output, mlpForwardReference(makeMlpWeights(), images, count), 1e-4)
      // The batch dimension is symbolic: a shorter prefix of the same buffer gives the same rows.
      assertClose(await session.predict(images, 1), output.subarray(0, CLASSES), 1e-6)
    } finally {
      await session.release()
    }
  })

  it("rejects a count larger than the images provided", async () => {
    const session = await loadMlp(modelPath)
    try {
      let error: unknown
      await session.predict(makeImages(2), 3).catch((e: unknown) => {
        error = e
      })
      assert.instanceOf(error, RangeError)
    } finally {
      await session.release()
    }
  })
})

describe("serial baselines", () => {
  it("serialPredict and serialPredictReloading give one identical output per round", async () => {
    const images = makeImages(8, 2)
    const expected = mlpForwardReference(makeMlpWeights(), images, 8)
    const kept = await serialPredict(modelPath, images, 3)
    const reloaded = await serialPredictReloading(modelPath, images, 2)
    assert.strictEqual(kept.length, 3)
    assert.strictEqual(reloaded.length, 2)
    for (const output of [...kept, ...reloaded, await predictReloading(modelPath, images)]) {
      assertClose(output, expected, 1e-4)
    }
  })
})
