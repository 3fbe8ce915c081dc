/**
 * Checks that only validate, for the Schemas whose decode and encode would hand back an equal copy
 * of a valid value: plain structs, arrays, tuples, strings, numbers, booleans, literals and unions
 * of those. On the worker's side of a task (its payload's decode, its success's encode) the value
 * is the thread's own (a structured clone arrived, or goes out as one), so a value the check passes
 * can go on as it is instead of being rebuilt by the Schema's parser, which allocated a fresh
 * object, array and result per value (15% of a worker's time on a 1 µs task, in profiles).
 *
 * Rules (each held by a property test against `Schema.decodeUnknownExit`/`encodeUnknownExit`):
 * 1. Only what passes is answered here: a check says `true` only for values the Schema accepts and
 *    would rebuild as a deep-equal copy. Everything else — an invalid value, or a valid one the
 *    Schema would change (a struct with keys it does not declare, which it strips) — goes to the
 *    Schema, which rejects it with its own issue or rebuilds it. So outcomes, values and issue
 *    messages are the Schema's.
 * 2. A Schema with anything the check does not know — a transformation (`encoding`), a refinement
 *    (`checks`), a declaration, an index signature, optional tuple elements, a recursive
 *    (`suspend`) part, a union with two struct or array members (or one beside `unknown`) — gets
 *    no check at all (`undefined`): it always takes the Schema's path.
 * 3. Structs are checked as plain objects (prototype `Object.prototype` or `null`) whose own
 *    enumerable keys are exactly the declared keys present; arrays as plain arrays with no holes.
 *    Other shapes (class instances, sparse arrays) go to the Schema (rule 1).
 */
import type * as SchemaAST from "effect/SchemaAST"

export type Validates = (value: unknown) => boolean

/** The check of an AST, or `undefined` when rule 2 leaves it to the Schema. */
export const validatesOf = (ast: SchemaAST.AST): Validates | undefined => {
  if (ast.encoding !== undefined || ast.checks !== undefined) return undefined
  switch (ast._tag) {
    case "String":
      return (value) => typeof value === "string"
    case "Number":
      // Any number, NaN and the infinities included, as `Schema.Number` takes them.
      return (value) => typeof value === "number"
    case "Boolean":
      return (value) => typeof value === "boolean"
    case "BigInt":
      return (value) => typeof value === "bigint"
    case "Null":
      return (value) => value === null
    case "Undefined":
      return (value) => value === undefined
    case "Unknown":
    case "Any":
      return () => true
    case "Literal": {
      const literal = ast.literal
      return (value) => value === literal
    }
    case "Arrays":
      return arraysOf(ast)
    case "Objects":
      return objectsOf(ast)
    case "Union": {
      // At most one member that rebuilds values (a struct or an array), and none that takes any
      // value besides it: then only that member can take an object or an array, and no other choice
      // of the Schema's could strip what the check passed (`optional(struct)` is such a union).
      const composite = ast.types.filter((member) => member._tag === "Objects" || member._tag === "Arrays").length
      if (composite > 1) return undefined
      if (composite === 1 && ast.types.some((member) => member._tag === "Unknown" || member._tag === "Any")) return undefined
      const members = ast.types.map(validatesOf)
      if (members.some((member) => member === undefined)) return undefined
      const checks = members as ReadonlyArray<Validates>
      return (value) => {
        for (const check of checks) if (check(value)) return true
        return false
      }
    }
    default:
      return undefined
  }
}

const isPlainArray = (value: unknown): value is ReadonlyArray<unknown> =>
  Array.isArray(value) && Object.getPrototypeOf(value) === Array.prototype

const arraysOf = (ast: SchemaAST.Arrays): Validates | undefined => {
  if (ast.elements.some((element) => element.context?.isOptional === true)) return undefined
  const elements = ast.elements.map(validatesOf)
  if (elements.some((element) => element === undefined)) return undefined
  const fixed = elements as ReadonlyArray<Validates>
  if (ast.rest.length === 0) {
    return (value) => {
      if (!isPlainArray(value) || value.length !== fixed.length) return false
      for (let i = 0; i < fixed.length; i++) if (!(i in value) || !fixed[i]!(value[i])) return false
      return true
    }
  }
  // `Schema.Array(item)`: no leading elements, one rest (a rest with trailing elements is left to the Schema).
  if (fixed.length > 0 || ast.rest.length !== 1) return undefined
  const item = validatesOf(ast.rest[0]!)
  if (item === undefined) return undefined
  return (value) => {
    if (!isPlainArray(value)) return false
    for (let i = 0; i < value.length; i++) if (!(i in value) || !item(value[i])) return false
    return true
  }
}

const objectsOf = (ast: SchemaAST.Objects): Validates | undefined => {
  if (ast.indexSignatures.length > 0) return undefined
  const fields: Array<{ readonly name: string; readonly optional: boolean; readonly check: Validates }> = []
  for (const property of ast.propertySignatures) {
    if (typeof property.name !== "string") return undefined
    const check = validatesOf(property.type)
    if (check === undefined) return undefined
    fields.push({ name: property.name, optional: property.type.context?.isOptional === true, check })
  }
  return (value) => {
    if (typeof value !== "object" || value === null) return false
    const prototype = Object.getPrototypeOf(value)
    if (prototype !== Object.prototype && prototype !== null) return false
    const record = value as Record<string, unknown>
    let present = 0
    for (const field of fields) {
      if (Object.hasOwn(record, field.name)) {
        if (!field.check(record[field.name])) return false
        present++
      } else if (!field.optional) {
        return false
      }
    }
    // Rule 3: no key the Schema would strip, nor a declared one hidden from enumeration (a plain
    // object inherits no enumerable key).
    let keys = 0
    for (const _ in record) if (++keys > present) return false
    return keys === present
  }
}
