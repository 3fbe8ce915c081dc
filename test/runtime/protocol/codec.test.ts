/**
 * The codec's fast path: a payload whose Schema cannot transform crosses as it is (the worker's
 * decode validates it), one that can is encoded by the caller.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { SharedArray, Task } from "../../../src/index.ts"
import { codecOf } from "../../../src/runtime/protocol/codec.ts"

const matrix = { rows: 1, cols: 2, data: new Float64Array(new SharedArrayBuffer(16)) }

describe("codec", () => {
  it("sends shared arrays, matrices and checked structs as they are", () => {
    const task = Task.make("Plain", {
      payload: {
        image: SharedArray.Float64Matrix,
        out: SharedArray.matrix("Float64", { memory: "output" }),
        filter: SharedArray.matrix("Float64", { memory: "copied" }),
        scale: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
        tags: Schema.Array(Schema.String)
      }
    })
    const payload = { image: matrix, out: matrix, filter: { rows: 1, cols: 1, data: new Float64Array(1) }, scale: 2, tags: ["a"] }
    assert.strictEqual(codecOf(task).encodePayload(payload).value, payload)
  })

  it("encodes payloads whose Schema transforms, or declares a type it cannot see through", () => {
    const shifted = Task.make("Shifted", { payload: { at: Schema.DateFromString, image: SharedArray.Float64Matrix } })
    const encoded = codecOf(shifted).encodePayload({ at: new Date(0), image: matrix }).value as { at: unknown }
    assert.strictEqual(encoded.at, new Date(0).toISOString())
    const dated = Task.make("Dated", { payload: { at: Schema.Date } })
    const payload = { at: new Date(0) }
    assert.notStrictEqual(codecOf(dated).encodePayload(payload).value, payload)
  })

  it.effect("encoding a released shared matrix fails with its own message, not a generic one", () =>
    Effect.gen(function*() {
      // The matrix's `data` accessor throws while the Schema reads it: a defect, not a Schema issue.
      const image = yield* Effect.scoped(SharedArray.makeMatrix("Float64", 2, 2))
      const shifted = Task.make("ShiftedReleased", { payload: { at: Schema.DateFromString, image: SharedArray.Float64Matrix } })
      const coded = codecOf(shifted).encodePayload({ at: new Date(0), image })
      assert.match(coded.issue?.message ?? "", /2×2 matrix was released/)
    }).pipe(Effect.provide(SharedArray.layerArena())))
})
