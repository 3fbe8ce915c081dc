/**
 * `renderInput`: an error's rendering of a task input is bounded in work as well as in length (an
 * object of 200,000 keys is rendered from its first entries, nothing after them is read), and a
 * normal input renders exactly as `inspect` renders it, cut to `maxInputRendering`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { inspect } from "node:util"
import { maxInputRendering, renderInput } from "../../src/core/TaskError.ts"

/** The rendering before its work was bounded: the whole input through `inspect`, then cut. */
const reference = (input: unknown): string => {
  const text = inspect(input, {
    depth: 2,
    maxArrayLength: 8,
    maxStringLength: 64,
    breakLength: Infinity,
    compact: true,
    getters: false,
    customInspect: false
  })
  return text.length <= maxInputRendering ? text : `${text.slice(0, maxInputRendering - 1)}…`
}

/** A value whose rendering reads its `Symbol.toStringTag`: it counts the renderings that reached it. */
const probe = () => {
  const seen = { reads: 0 }
  class Probe {
    get [Symbol.toStringTag]() {
      seen.reads++
      return "Probe"
    }
  }
  return { seen, value: new Probe() }
}

const wide = (keys: number, prototype: object | null = Object.prototype): Record<string, unknown> => {
  const object = Object.create(prototype) as Record<string, unknown>
  for (let i = 0; i < keys; i++) object[`key${i}`] = i
  return object
}

describe("renderInput", () => {
  it("reads no entry of a wide object past the first ones, at any depth it shows", () => {
    for (const place of ["top", "nested", "in an array"] as const) {
      const { seen, value } = probe()
      const object = wide(200_000)
      object.last = value
      const input = place === "top" ? object : place === "nested" ? { a: 1, inner: object } : [object, value]
      const text = renderInput(input)
      assert.strictEqual(seen.reads, 0, `${place}: the entries after the cut were not rendered`)
      assert.strictEqual(text, reference(place === "in an array" ? [wide(200_000)] : place === "nested" ? { a: 1, inner: wide(200_000) } : wide(200_000)))
      assert.strictEqual(text.length, maxInputRendering)
    }
  })

  it("renders inputs as inspect does, cut to the bound", () => {
    fc.assert(
      fc.property(
        fc.anything({
          maxDepth: 4,
          maxKeys: 40,
          withNullPrototype: true,
          withSparseArray: true,
          withMap: true,
          withSet: true,
          withDate: true,
          withTypedArray: true,
          withBoxedValues: true
        }),
        (input) => assert.strictEqual(renderInput(input), reference(input))
      ),
      { numRuns: 500 }
    )
  })

  it("keeps getters, symbols, cycles and null prototypes as inspect shows them", () => {
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    cyclic.list = [cyclic, { back: cyclic }]
    const withGetter = Object.defineProperty({ a: 1 }, "b", { get: () => 2, enumerable: true })
    const sparse = [1, , 3]
    const inputs: ReadonlyArray<unknown> = [
      cyclic,
      withGetter,
      { [Symbol("s")]: 1, a: [withGetter] },
      wide(3, null),
      wide(300, null),
      [wide(300), wide(300)],
      sparse,
      Array.from({ length: 20 }, (_, i) => ({ i, nested: [wide(100)] })),
      Object.assign([1, 2], { extra: 3 }),
      { deep: { deeper: { deepest: { gone: 1 } } } }
    ]
    for (const input of inputs) assert.strictEqual(renderInput(input), reference(input))
  })
})
