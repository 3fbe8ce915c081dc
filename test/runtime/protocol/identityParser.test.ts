/**
 * The compiled parser of identity Schemas (`identityParser.ts`) against the Schemas themselves: over
 * random Schemas built from strings, numbers, booleans, literals, null, undefined, arrays, tuples,
 * structs (required, `optional` and `optionalKey` fields) and unions, and random values shaped like
 * them (missing and extra keys, wrong types, NaN, -0, holes), it answers only for values the
 * Schema's decode and encode both accept, with a deep-equal copy of their output in fresh structs
 * and arrays (rule 1); Schemas with parts it does not know get no parser (rule 2).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { inspect } from "node:util"
import { parserOf, Refused } from "../../../src/runtime/protocol/identityParser.ts"

type Spec =
  | { readonly _tag: "leaf"; readonly kind: Leaf }
  | { readonly _tag: "array"; readonly item: Spec }
  | { readonly _tag: "tuple"; readonly elements: ReadonlyArray<Spec> }
  | { readonly _tag: "struct"; readonly fields: ReadonlyArray<{ readonly name: string; readonly mode: Mode; readonly spec: Spec }> }
  | { readonly _tag: "union"; readonly members: ReadonlyArray<Leaf> }

type Leaf = "string" | "number" | "boolean" | "null" | "undefined" | "literal-a" | "literal-1" | "bigint"
type Mode = "required" | "optional" | "optionalKey"

const leaves: ReadonlyArray<Leaf> = ["string", "number", "boolean", "null", "undefined", "literal-a", "literal-1", "bigint"]

const spec: fc.Arbitrary<Spec> = fc.letrec<{ spec: Spec }>((tie) => ({
  spec: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(...leaves).map((kind): Spec => ({ _tag: "leaf", kind })),
    tie("spec").map((item): Spec => ({ _tag: "array", item })),
    fc.array(tie("spec"), { maxLength: 3 }).map((elements): Spec => ({ _tag: "tuple", elements })),
    fc.uniqueArray(
      fc.record({ name: fc.constantFrom("a", "b", "c", "d"), mode: fc.constantFrom<Mode>("required", "optional", "optionalKey"), spec: tie("spec") }),
      { selector: (field) => field.name, maxLength: 3 }
    ).map((fields): Spec => ({ _tag: "struct", fields })),
    fc.uniqueArray(fc.constantFrom(...leaves), { minLength: 1, maxLength: 3 }).map((members): Spec => ({ _tag: "union", members }))
  )
})).spec

const leafSchema = (kind: Leaf): Schema.Top => {
  switch (kind) {
    case "string":
      return Schema.String
    case "number":
      return Schema.Number
    case "boolean":
      return Schema.Boolean
    case "null":
      return Schema.Null
    case "undefined":
      return Schema.Undefined
    case "literal-a":
      return Schema.Literal("a")
    case "literal-1":
      return Schema.Literal(1)
    case "bigint":
      return Schema.BigInt
  }
}

const schemaOf = (s: Spec): Schema.Top => {
  switch (s._tag) {
    case "leaf":
      return leafSchema(s.kind)
    case "array":
      return Schema.Array(schemaOf(s.item) as Schema.Codec<unknown>)
    case "tuple":
      return Schema.Tuple(s.elements.map(schemaOf) as Array<Schema.Codec<unknown>>)
    case "struct":
      return Schema.Struct(Object.fromEntries(s.fields.map(({ mode, name, spec: field }) => {
        const schema = schemaOf(field) as Schema.Codec<unknown>
        return [name, mode === "required" ? schema : mode === "optional" ? Schema.optional(schema) : Schema.optionalKey(schema)]
      })))
    case "union":
      return Schema.Union(s.members.map(leafSchema) as Array<Schema.Codec<unknown>>)
  }
}

/** Anything at all, now and then, instead of a value of the right shape. */
const orWrong = <A>(right: fc.Arbitrary<A>): fc.Arbitrary<unknown> =>
  fc.oneof({ arbitrary: right, weight: 5 }, { arbitrary: fc.anything({ maxDepth: 2 }), weight: 1 })

const leafValue = (kind: Leaf): fc.Arbitrary<unknown> => {
  switch (kind) {
    case "string":
      return fc.string({ maxLength: 3 })
    case "number":
      return fc.oneof(fc.integer(), fc.double(), fc.constantFrom(Number.NaN, -0, Number.POSITIVE_INFINITY))
    case "boolean":
      return fc.boolean()
    case "null":
      return fc.constant(null)
    case "undefined":
      return fc.constant(undefined)
    case "literal-a":
      return fc.constantFrom("a", "b")
    case "literal-1":
      return fc.constantFrom(1, 2, -0, 0)
    case "bigint":
      return fc.bigInt()
  }
}

const valueOf = (s: Spec): fc.Arbitrary<unknown> => {
  switch (s._tag) {
    case "leaf":
      return orWrong(leafValue(s.kind))
    case "array":
      return orWrong(fc.oneof(
        { arbitrary: fc.array(valueOf(s.item), { maxLength: 3 }), weight: 4 },
        // A hole: the structured clone keeps it.
        { arbitrary: fc.array(valueOf(s.item), { minLength: 1, maxLength: 3 }).map((xs) => { const holey = [...xs]; delete holey[0]; return holey }), weight: 1 }
      ))
    case "tuple":
      return orWrong(fc.oneof(
        { arbitrary: fc.tuple(...s.elements.map(valueOf)), weight: 4 },
        { arbitrary: fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 4 }), weight: 1 }
      ))
    case "struct":
      return orWrong(fc.tuple(
        fc.tuple(...s.fields.map((field) =>
          fc.tuple(fc.constantFrom("value", "value", "value", "absent", "undefined"), valueOf(field.spec)).map(([how, value]) => [field.name, how, value] as const)
        )),
        fc.option(fc.tuple(fc.constantFrom("extra", "a", "b"), fc.anything({ maxDepth: 1 })), { freq: 4 })
      ).map(([fields, extra]) => {
        const out: Record<string, unknown> = {}
        for (const [name, how, value] of fields) {
          if (how === "value") out[name] = value
          else if (how === "undefined") out[name] = undefined
        }
        if (extra !== null && !(extra[0] in out)) out[extra[0]] = extra[1]
        return out
      }))
    case "union":
      return orWrong(fc.oneof(...s.members.map(leafValue)))
  }
}

const specAndValues = spec.chain((s) => fc.tuple(fc.constant(s), fc.array(valueOf(s), { minLength: 1, maxLength: 8 })))

const hasEmptyStruct = (s: Spec): boolean => {
  switch (s._tag) {
    case "struct":
      return s.fields.length === 0 || s.fields.some((field) => hasEmptyStruct(field.spec))
    case "array":
      return hasEmptyStruct(s.item)
    case "tuple":
      return s.elements.some(hasEmptyStruct)
    default:
      return false
  }
}

/** Every struct and array in `copy` is a fresh one: none of `original`'s containers is shared. */
const sharesNothing = (original: unknown, copy: unknown): boolean => {
  if (typeof copy !== "object" || copy === null) return true
  if (copy === original) return false
  return Object.keys(copy).every((key) => sharesNothing((original as Record<string, unknown>)[key], (copy as Record<string, unknown>)[key]))
}

describe("parserOf", () => {
  it("answers only for values the Schema accepts both ways, with a fresh deep-equal copy of its output", () => {
    let answered = 0
    let tried = 0
    fc.assert(fc.property(specAndValues, ([s, values]) => {
      const schema = schemaOf(s) as Schema.Codec<unknown, unknown>
      const parse = parserOf(schema.ast)
      assert.isDefined(parse, "every part of these Schemas is one the parser knows")
      const decode = Schema.decodeUnknownExit(schema)
      const encode = Schema.encodeUnknownExit(schema)
      for (const value of values) {
        tried++
        const out = parse!(value)
        if (out === Refused) continue
        answered++
        for (const exit of [decode(value), encode(value)]) {
          // `inspect`, not `String`: a generated `{ toString: undefined }` cannot be made a string.
          assert.isTrue(Exit.isSuccess(exit), `the Schema refuses a value the parser took: ${inspect(value)}`)
          if (Exit.isSuccess(exit)) assert.deepStrictEqual(out, exit.value)
        }
        // The empty struct passes its value through, as the Schema does; everything else is copied.
        if (!hasEmptyStruct(s)) assert.isTrue(sharesNothing(value, out), "a struct or array of the input came through as it was")
      }
    }), { numRuns: 400 })
    // Not vacuous: a good share of the values are answered here.
    assert.isAbove(answered, tried / 10)
  })

  it("copies structs without the keys the Schema strips, and refuses what the Schema would refuse", () => {
    const Point = Schema.Struct({ x: Schema.Number, y: Schema.optionalKey(Schema.Number) })
    const parse = parserOf(Point.ast)!
    const given = { x: 1, z: 3 }
    const out = parse(given)
    assert.deepStrictEqual(out, { x: 1 })
    assert.notStrictEqual(out, given)
    assert.deepStrictEqual(parse({ x: 1, y: 2 }), { x: 1, y: 2 })
    assert.strictEqual(parse({ x: 1, y: undefined }), Refused, "optionalKey takes no undefined")
    assert.strictEqual(parse({ y: 2 }), Refused)
    assert.strictEqual(parse(new (class { x = 1 })()), Refused, "a class instance goes to the Schema")
    const Numbers = parserOf(Schema.Array(Schema.Number).ast)!
    const numbers = [1, Number.NaN, -0]
    assert.deepStrictEqual(Numbers(numbers), numbers)
    assert.notStrictEqual(Numbers(numbers), numbers)
    assert.strictEqual(Numbers([1, , 3]), Refused, "a hole goes to the Schema")
  })

  it("Schemas with refinements, transformations, declarations, index signatures or unknown get no parser", () => {
    for (
      const schema of [
        Schema.Int,
        Schema.NonEmptyString,
        Schema.NumberFromString,
        Schema.Date,
        Schema.Unknown,
        Schema.Record(Schema.String, Schema.Number),
        Schema.Struct({ at: Schema.Date }),
        Schema.Array(Schema.Finite),
        Schema.Union([Schema.Struct({ a: Schema.String }), Schema.Array(Schema.String)])
      ] as ReadonlyArray<Schema.Top>
    ) {
      assert.isUndefined(parserOf(schema.ast))
    }
  })

  it("a oneOf union, which fails a value two members take, is left to the Schema", () => {
    // Was: the parser took the first member that answered, so "a" passed where the Schema fails it.
    const schema = Schema.Union([Schema.String, Schema.Literal("a")], { mode: "oneOf" })
    const parse = parserOf(schema.ast)
    assert.isTrue(Exit.isFailure(Schema.decodeUnknownExit(schema)("a")))
    assert.isTrue(parse === undefined || parse("a") === Refused)
  })

  it("reads a struct's keys as the Schema does: inherited ones count, and __proto__ is an own key", () => {
    // The Schema looks a key up with `in`: `{}` has a `constructor` (a function), so it fails a
    // string field by that name even when optional. Was: the parser looked for own keys only and took `{}`.
    for (
      const schema of [
        Schema.Struct({ constructor: Schema.optionalKey(Schema.String) }),
        Schema.Struct({ toString: Schema.optional(Schema.String) })
      ] as ReadonlyArray<Schema.Codec<unknown>>
    ) {
      assert.isTrue(Exit.isFailure(Schema.decodeUnknownExit(schema)({})))
      const parse = parserOf(schema.ast)
      assert.isTrue(parse === undefined || parse({}) === Refused)
    }
    // An own `__proto__` key (a structured clone or JSON.parse makes one) is a field like any other.
    // Was: the parser assigned it, which set the copy's prototype instead.
    const schema = Schema.Struct({ ["__proto__"]: Schema.Struct({ a: Schema.Number }) }) as Schema.Codec<unknown>
    const value = JSON.parse('{"__proto__": {"a": 1}}')
    const expected = Schema.decodeUnknownExit(schema)(value)
    assert.isTrue(Exit.isSuccess(expected) && Object.hasOwn(expected.value as object, "__proto__"))
    const parse = parserOf(schema.ast)
    const out = parse === undefined ? Refused : parse(value)
    if (out !== Refused) {
      assert.isTrue(Object.hasOwn(out as object, "__proto__"))
      assert.strictEqual(Object.getPrototypeOf(out), Object.prototype)
    }
  })

  it("a Schema with checks on its encoded side (a flipped checked struct or array) gets no parser", () => {
    // `Schema.flip` moves a struct's checks to `encodingChecks`, which both of its directions run.
    // Was: the parser looked at `checks` only and let {a: -1} and [1] through.
    const cases: ReadonlyArray<readonly [Schema.Codec<unknown>, unknown]> = [
      [Schema.flip(Schema.Struct({ a: Schema.Number }).check(Schema.makeFilter((s: { readonly a: number }) => s.a > 0))) as Schema.Codec<unknown>, { a: -1 }],
      [Schema.flip(Schema.Array(Schema.Number).check(Schema.isMinLength(2))) as Schema.Codec<unknown>, [1]]
    ]
    for (const [schema, value] of cases) {
      assert.isTrue(Exit.isFailure(Schema.decodeUnknownExit(schema)(value)))
      assert.isTrue(Exit.isFailure(Schema.encodeUnknownExit(schema)(value)))
      const parse = parserOf(schema.ast)
      assert.isTrue(parse === undefined || parse(value) === Refused)
    }
  })
})
