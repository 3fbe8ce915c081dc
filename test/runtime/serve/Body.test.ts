/**
 * Predict bodies: a JSON body is items of finite numbers once it is Float32, or a 400 naming the
 * number at fault.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { encodeJson, negotiate, parseBinary, parseJson } from "../../../src/runtime/serve/Body.ts"

describe("Body", () => {
  it("a JSON number is accepted only if it stays finite as a float32", () => {
    fc.assert(fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 3, maxLength: 3 }), (item) => {
      const parsed = parseJson(JSON.stringify({ inputs: [item] }), 3, 4)
      if (parsed._tag === "Items") {
        assert.isTrue(parsed.input.every(Number.isFinite), `${JSON.stringify(item)} became ${Array.from(parsed.input)}`)
      } else {
        const at = item.findIndex((x) => !Number.isFinite(Math.fround(x)))
        assert.strictEqual(parsed.issue.field, `inputs[0][${at}]`)
      }
    }))
    const overflow = parseJson(JSON.stringify({ input: [1, 1e39, 0] }), 3, 4)
    assert.deepStrictEqual(overflow._tag === "Issue" ? overflow.issue.field : overflow._tag, "input[1]")
  })
  it("a JSON body with both \"inputs\" and \"input\" is a 400 naming both, not one of them chosen", () => {
    const parsed = parseJson(JSON.stringify({ inputs: [[1, 2, 3]], input: [4, 5, 6] }), 3, 4)
    assert.strictEqual(parsed._tag, "Issue")
    if (parsed._tag !== "Issue") return
    assert.strictEqual(parsed.issue.field, "body")
    assert.include(parsed.issue.message, `"inputs"`)
    assert.include(parsed.issue.message, `"input"`)
  })
  it("a binary body is items of finite float32 numbers, or a 400 naming the item and number", () => {
    const good = parseBinary(new Float32Array([1, 2, 3, 4, 5, 6]).buffer, 3, 4)
    assert.strictEqual(good._tag === "Items" ? good.rows : good._tag, 2)
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const parsed = parseBinary(new Float32Array([1, 2, 3, 4, bad, 6]).buffer, 3, 4)
      assert.deepStrictEqual(parsed._tag === "Issue" ? parsed.issue.field : parsed._tag, "body[1][1]")
    }
  })
  it("Accept: the format of the highest q wins, a tie goes to the body's own, q=0 is refused", () => {
    const cases: ReadonlyArray<[accept: string | undefined, body: "json" | "binary", answer: "json" | "binary" | undefined]> = [
      [undefined, "json", "json"],
      [undefined, "binary", "binary"],
      ["", "binary", "binary"],
      ["*/*", "json", "json"],
      ["*/*", "binary", "binary"],
      ["application/*", "binary", "binary"],
      ["application/json", "binary", "json"],
      ["Application/Octet-Stream", "json", "binary"],
      ["application/json;q=0.5, application/octet-stream", "json", "binary"],
      ["application/json, application/octet-stream;q=0.9", "binary", "json"],
      ["application/json;q=0.9, application/octet-stream;q=0.9", "binary", "binary"],
      // The most specific range decides: its q=0 is not overridden by a wildcard.
      ["application/octet-stream;q=0, */*", "binary", "json"],
      ["application/*;q=0, application/json", "json", "json"],
      ["*/*;q=0.1, application/json;q=0", "json", "binary"],
      ["application/json; charset=utf-8", "binary", "json"],
      ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "json", "json"],
      ["text/html", "json", undefined],
      ["text/*, image/png", "binary", undefined],
      ["application/json;q=0", "json", undefined],
      ["application/json;q=0.0, application/octet-stream;q=0", "binary", undefined],
      ["*/*;q=0", "json", undefined],
      // No well-formed range: as if absent (RFC 9110 lets a server ignore such a field).
      ["nonsense", "binary", "binary"],
      ["application/json;q=2", "binary", "binary"]
    ]
    for (const [accept, body, answer] of cases) {
      assert.strictEqual(negotiate(accept, body === "binary"), answer, `Accept: ${accept} with a ${body} body`)
    }
  })
  it("a JSON answer keeps NaN and the infinities as the strings \"NaN\", \"Infinity\", \"-Infinity\", not null", () => {
    const output = new Float32Array([1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0.25, 0])
    assert.strictEqual(encodeJson(output, 3), `{"outputs":[[1.5,"NaN","Infinity"],["-Infinity",-0.25,0]]}`)
    assert.strictEqual(encodeJson(new Float32Array([1, 2]), 1), `{"outputs":[[1],[2]]}`)
  })
  it("a JSON number past a double's range is named as such, not as the null JSON.stringify makes of it", () => {
    for (const [text, sign] of [["1e400", ""], ["-1e400", "-"]]) {
      const parsed = parseJson(`{"input": [0, ${text}, 0]}`, 3, 4)
      assert.strictEqual(parsed._tag, "Issue")
      if (parsed._tag !== "Issue") return
      assert.strictEqual(parsed.issue.field, "input[1]")
      assert.notInclude(parsed.issue.message, "null")
      assert.include(parsed.issue.message, `${sign}Infinity`)
    }
    const missing = parseJson(`{"input": [0, null, 0]}`, 3, 4)
    assert.include(missing._tag === "Issue" ? missing.issue.message : "", "got null")
  })
})
