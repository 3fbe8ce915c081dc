/**
 * The plain checks of identity Schemas (`validates.ts`) against the Schemas themselves: over random
 * Schemas built from strings, numbers, booleans, literals, null, undefined, unknown, arrays,
 * tuples, structs (required, `optional` and `optionalKey` fields) and unions, and random values
 * shaped like them (missing and extra keys, wrong types, NaN, -0, holes), a check passes a value
 * only when the Schema's decode and encode both accept it and give back a deep-equal copy (rule 1);
 * Schemas with parts the check does not know get none (rule 2).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { validatesOf } from "../../../src/runtime/protocol/validates.ts"

type Spec =
  | { readonly _tag: "leaf"; readonly kind: Leaf }
  | { readonly _tag: "array"; readonly item: Spec }
  | { readonly _tag: "tuple"; readonly elements: ReadonlyArray<Spec> }
  | { readonly _tag: "struct"; readonly fields: ReadonlyArray<{ readonly name: string; readonly mode: Mode; readonly spec: Spec }> }
  | { readonly _tag: "union"; readonly members: ReadonlyArray<Leaf> }

type Leaf = "string" | "number" | "boolean" | "null" | "undefined" | "unknown" | "literal-a" | "literal-1" | "bigint"
type Mode = "required" | "optional" | "optionalKey"

const leaves: ReadonlyArray<Leaf> = ["string", "number", "boolean", "null", "undefined", "unknown", "literal-a", "literal-1", "bigint"]

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
    case "unknown":
      return Schema.Unknown
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
    case "unknown":
      return fc.anything({ maxDepth: 1 })
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

describe("validatesOf", () => {
  it("passes a value only when the Schema accepts it both ways and gives back a deep-equal copy", () => {
    let passed = 0
    let checked = 0
    fc.assert(fc.property(specAndValues, ([s, values]) => {
      const schema = schemaOf(s) as Schema.Codec<unknown, unknown>
      const validates = validatesOf(schema.ast)
      assert.isDefined(validates, "every part of these Schemas is one the check knows")
      const decode = Schema.decodeUnknownExit(schema)
      const encode = Schema.encodeUnknownExit(schema)
      for (const value of values) {
        checked++
        if (!validates!(value)) continue
        passed++
        for (const exit of [decode(value), encode(value)]) {
          assert.isTrue(Exit.isSuccess(exit), `the Schema refuses a value the check passed: ${String(value)}`)
          if (Exit.isSuccess(exit)) assert.deepStrictEqual(exit.value, value)
        }
      }
    }), { numRuns: 400 })
    // Not vacuous: a good share of the values pass the check.
    assert.isAbove(passed, checked / 10)
  })

  it("a valid value the Schema would change, or an invalid one, is not passed", () => {
    const Point = Schema.Struct({ x: Schema.Number, y: Schema.optionalKey(Schema.Number) })
    const validates = validatesOf(Point.ast)!
    assert.isTrue(validates({ x: 1 }))
    assert.isTrue(validates({ x: 1, y: 2 }))
    assert.isFalse(validates({ x: 1, z: 3 }), "the Schema strips z")
    assert.isFalse(validates({ x: 1, y: undefined }), "optionalKey takes no undefined")
    assert.isFalse(validates({ y: 2 }))
    assert.isFalse(validates(new (class { x = 1 })()), "a class instance goes to the Schema")
    const Numbers = validatesOf(Schema.Array(Schema.Number).ast)!
    assert.isTrue(Numbers([1, Number.NaN, -0]))
    assert.isFalse(Numbers([1, , 3]), "a hole goes to the Schema")
  })

  it("Schemas with refinements, transformations, declarations or index signatures get no check", () => {
    for (
      const schema of [
        Schema.Int,
        Schema.NonEmptyString,
        Schema.NumberFromString,
        Schema.Date,
        Schema.Record(Schema.String, Schema.Number),
        Schema.Struct({ at: Schema.Date }),
        Schema.Array(Schema.Finite),
        Schema.Union([Schema.Struct({ a: Schema.String }), Schema.Array(Schema.String)]),
        Schema.Union([Schema.Unknown, Schema.Struct({ a: Schema.String })])
      ] as ReadonlyArray<Schema.Top>
    ) {
      assert.isUndefined(validatesOf(schema.ast))
    }
  })
})
