/**
 * Actor definitions: which methods start at once (`concurrent`) instead of waiting their turn.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { Actor } from "../../src/index.ts"

describe("Actor.make", () => {
  it("a method's own `concurrent` wins over the actor's; the actor's is the default", () => {
    // Was: `concurrent: true` on the actor made a method declared `concurrent: false` concurrent too.
    const Cache = Actor.make("Cache", {
      init: {},
      concurrent: true,
      methods: {
        read: { payload: { key: Schema.String } },
        write: { payload: { key: Schema.String }, concurrent: false },
        scan: { concurrent: true }
      }
    })
    assert.deepStrictEqual([...Cache.concurrent].sort(), ["read", "scan"])
    const Serial = Actor.make("Serial", {
      init: {},
      methods: { a: {}, b: { concurrent: true }, c: { concurrent: false } }
    })
    assert.deepStrictEqual([...Serial.concurrent], ["b"])
  })
})
