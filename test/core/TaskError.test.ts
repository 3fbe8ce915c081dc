/**
 * `renderInput`: an error's rendering of a task input is bounded in work as well as in length (an
 * object of 200,000 keys — plain, a class instance, or inside a Map or Set — is rendered from its
 * first entries, nothing after them is read, and the rendering says how many were left), an
 * Error is rendered without its stack, and a normal input renders exactly as `inspect` renders
 * it, cut to `maxInputRendering`.
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

/**
 * A rendering cut after its first entries: the reference's first part, then how many entries of
 * the container it stopped in were left (`[199,872 more keys]`), within `maxInputRendering`.
 */
const assertCut = (text: string, reference: string, left: RegExp) => {
  const at = text.lastIndexOf("… [")
  assert.isAbove(at, 0, text)
  assert.isTrue(reference.startsWith(text.slice(0, at)), `${text} starts as ${reference}`)
  assert.match(text.slice(at), left)
  assert.isAtMost(text.length, maxInputRendering)
}

/** As `inspect` renders it, or, when its entries filled the rendering, its first part and how many were left. */
const assertRendered = (input: unknown) => {
  const text = renderInput(input)
  if (/… \[[\d,]+ more \w+\]$/.test(text) && text !== reference(input)) assertCut(text, reference(input), /more/)
  else assert.strictEqual(text, reference(input))
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
      const same = place === "in an array" ? [wide(200_000)] : place === "nested" ? { a: 1, inner: wide(200_000) } : wide(200_000)
      assertCut(text, reference(same), /^… \[199,87\d more keys\]$/)
    }
  })

  it("reads no entry past the first ones of a class instance, or of an object in a Map, a Set or a class instance", () => {
    class Record {}
    for (const place of ["class instance", "in a class instance", "Map value", "Map key", "Set", "subclassed Map"] as const) {
      const { seen, value } = probe()
      const object = wide(20_000, place === "class instance" ? Record.prototype : Object.prototype)
      object.last = value
      class Registry extends Map<unknown, unknown> {}
      const input = place === "class instance" ?
        object :
        place === "in a class instance" ?
        Object.assign(new Record(), { inner: object, after: value }) :
        place === "Map value" ?
        new Map<unknown, unknown>([["a", object], ["b", value]]) :
        place === "Map key" ?
        new Map<unknown, unknown>([[object, 1], [value, 2]]) :
        place === "Set" ?
        new Set([object, value]) :
        new Registry([["a", object], ["b", value]])
      const text = renderInput(input)
      assert.strictEqual(seen.reads, 0, `${place}: the entries after the cut were not rendered`)
      // What shows is what inspect shows of the same input without the probe, headers included (`Map(2)`).
      const plain = wide(20_000, place === "class instance" ? Record.prototype : Object.prototype)
      const same = place === "class instance" ?
        plain :
        place === "in a class instance" ?
        Object.assign(new Record(), { inner: plain, after: 1 }) :
        place === "Map value" ?
        new Map<unknown, unknown>([["a", plain], ["b", 1]]) :
        place === "Map key" ?
        new Map<unknown, unknown>([[plain, 1], [2, 2]]) :
        place === "Set" ?
        new Set([plain, 1]) :
        new Registry([["a", plain], ["b", 1]])
      assertCut(text, reference(same), /^… \[19,87\d more keys\]$/)
    }
  })

  it("says how many entries of a long array, Map or Set it left, when its entries filled the rendering", () => {
    // The largest count left of the containers it stopped in: the list's, not its last element's.
    const big = Array.from({ length: 100 }, () => wide(20))
    assertCut(renderInput(big), reference(big), /^… \[93 more items\]$/)
    const map = new Map(Array.from({ length: 1_000 }, (_, i) => [i, wide(20)]))
    assertCut(renderInput(map), reference(map), /^… \[993 more entries\]$/)
    const set = new Set(Array.from({ length: 1_000 }, () => wide(20)))
    assertCut(renderInput(set), reference(set), /^… \[993 more items\]$/)
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
        assertRendered
      ),
      { numRuns: 500 }
    )
  })

  it("renders an Error from its name, message, cause and first properties, reading none past them, never its stack", () => {
    // What inspect shows of an Error whose stack is its first line only.
    const stackless = <E extends Error>(error: E): E =>
      Object.defineProperty(error, "stack", { value: error.message === "" ? error.name : `${error.name}: ${error.message}` })
    const built = (place: "own keys" | "in a property" | "in a cause", last: unknown) => {
      const keys = wide(20_000)
      keys.last = last
      return place === "own keys" ?
        Object.assign(new Error("boom"), keys) :
        place === "in a property" ?
        Object.assign(new Error("boom"), { data: keys, after: last }) :
        new Error("boom", { cause: Object.assign(new TypeError("root"), keys) })
    }
    for (const place of ["own keys", "in a property", "in a cause"] as const) {
      const { seen, value } = probe()
      const text = renderInput(built(place, value))
      assert.strictEqual(seen.reads, 0, `${place}: the entries after the cut were not rendered`)
      const same = built(place, 1)
      if (place === "in a cause") stackless(same.cause as Error)
      assertCut(text, reference(stackless(same)), /^… \[19,87\d more keys\]$/)
    }
    const small = (): ReadonlyArray<unknown> => {
      const cyclic = Object.assign(new RangeError("cyclic"), { self: undefined as unknown })
      cyclic.self = cyclic
      return [
        Object.assign(new TypeError("bad", { cause: new Error("root") }), { code: "E1" }),
        new AggregateError([new Error("a"), 2], "many"),
        { nested: new SyntaxError("deep") },
        cyclic,
        new Error()
      ]
    }
    const expected = small().map((input) => {
      const errors = [input, (input as { nested?: unknown }).nested, (input as { cause?: unknown }).cause]
      for (const error of [...errors, ...((input as { errors?: Array<unknown> }).errors ?? [])]) {
        if (error instanceof Error) stackless(error)
      }
      return reference(input)
    })
    assert.deepStrictEqual(small().map(renderInput), expected)
    assert.strictEqual(expected[0], "{ [TypeError: bad] code: 'E1', [cause]: [Error: root] }")
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
    for (const input of inputs) assertRendered(input)
  })
})
