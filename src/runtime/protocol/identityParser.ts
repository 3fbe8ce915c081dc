/**
 * A compiled parser for the Schemas whose decode and encode only check and copy: plain structs,
 * arrays, tuples, strings, numbers, booleans, literals and unions of those. On the worker's side of
 * a task (its payload's decode, its success's encode) it gives what the Schema's parser gives — the
 * same values in fresh structs and arrays, so a handler never shares a payload with another task of
 * its message, and an answer waiting to be sent is a snapshot of what its handler returned — without
 * the parser's per-value machinery (an Exit, an Option and an Effect step per node: ~15% of a
 * worker's time on a 1 µs task, in profiles).
 *
 * Rules (each held by a property test against `Schema.decodeUnknownExit`/`encodeUnknownExit`):
 * 1. It answers only for values the Schema accepts, with a deep-equal copy of the Schema's own output
 *    (fresh structs and arrays, keys it does not declare left out as the Schema strips them; the
 *    empty struct, which the Schema passes through as it is, likewise).
 *    Anything else gets `Refused`, and takes the Schema's path, which rejects it with its own issue
 *    or rebuilds it — so outcomes, values and issue messages are always the Schema's.
 * 2. A Schema with anything it does not know — a transformation (`encoding`), a refinement
 *    (`checks`, or `encodingChecks`), a declaration, an index signature, optional tuple elements, a recursive
 *    (`suspend`) part, `unknown`/`any` (which would share what they are given), a union with two
 *    struct or array members or in `oneOf` mode — gets no parser at all (`undefined`): it always
 *    takes the Schema's path.
 * 3. Structs are read as plain objects (prototype `Object.prototype` or `null`) through their own
 *    declared keys, arrays as plain arrays with no holes; other shapes (class instances, sparse
 *    arrays, a declared key found only on the prototype) are `Refused` (rule 1). A struct with a
 *    `__proto__` field gets no parser (rule 2).
 */
import type * as SchemaAST from "effect/SchemaAST"

/** What a parser answers for a value it leaves to the Schema. */
export const Refused: unique symbol = Symbol.for("effect-parallel/identityParser/Refused")

export type Parse = (value: unknown) => unknown

/** Parsers that answer with the very value they were given (strings, numbers, literals …): nothing to copy. */
const givesItsInput = new WeakSet<Parse>()

/** The parser of an AST, or `undefined` when rule 2 leaves it to the Schema. */
export const parserOf = (ast: SchemaAST.AST): Parse | undefined => {
  const parse = compile(ast)
  if (parse !== undefined && isPrimitive(ast)) givesItsInput.add(parse)
  return parse
}

const isPrimitive = (ast: SchemaAST.AST): boolean =>
  ast._tag === "Union" ? ast.types.every(isPrimitive) : ast._tag !== "Arrays" && ast._tag !== "Objects"

const compile = (ast: SchemaAST.AST): Parse | undefined => {
  // `encodingChecks`: checks on the encoded side (`Schema.flip` moves a struct's checks there), run both ways.
  if (ast.encoding !== undefined || ast.checks !== undefined || encodingChecksOf(ast) !== undefined) return undefined
  switch (ast._tag) {
    case "String":
      return (value) => typeof value === "string" ? value : Refused
    case "Number":
      // Any number, NaN and the infinities included, as `Schema.Number` takes them.
      return (value) => typeof value === "number" ? value : Refused
    case "Boolean":
      return (value) => typeof value === "boolean" ? value : Refused
    case "BigInt":
      return (value) => typeof value === "bigint" ? value : Refused
    case "Null":
      return (value) => value === null ? value : Refused
    case "Undefined":
      return (value) => value === undefined ? value : Refused
    case "Literal": {
      const literal = ast.literal
      return (value) => value === literal ? value : Refused
    }
    case "Arrays":
      return arraysOf(ast)
    case "Objects":
      return objectsOf(ast)
    case "Union": {
      // A `oneOf` union fails a value that two members take: trying them in turn cannot know.
      if (ast.options?.mode === "oneOf") return undefined
      // At most one member that rebuilds values (a struct or an array): then only that member can
      // take an object or an array, and the Schema cannot have chosen another (`optional(struct)`
      // is such a union). `unknown` is not known here (it would share what it is given).
      if (ast.types.filter((member) => member._tag === "Objects" || member._tag === "Arrays").length > 1) return undefined
      const members = ast.types.map(parserOf)
      if (members.some((member) => member === undefined)) return undefined
      const parsers = members as ReadonlyArray<Parse>
      return (value) => {
        for (const parse of parsers) {
          const out = parse(value)
          if (out !== Refused) return out
        }
        return Refused
      }
    }
    default:
      return undefined
  }
}

const encodingChecksOf = (ast: SchemaAST.AST): unknown =>
  "encodingChecks" in ast ? ast.encodingChecks : undefined

const isPlainArray = (value: unknown): value is ReadonlyArray<unknown> =>
  Array.isArray(value) && Object.getPrototypeOf(value) === Array.prototype

const arraysOf = (ast: SchemaAST.Arrays): Parse | undefined => {
  if (ast.elements.some((element) => element.context?.isOptional === true)) return undefined
  const elements = ast.elements.map(parserOf)
  if (elements.some((element) => element === undefined)) return undefined
  const fixed = elements as ReadonlyArray<Parse>
  if (ast.rest.length === 0) {
    return (value) => {
      if (!isPlainArray(value) || value.length !== fixed.length) return Refused
      const out = new Array<unknown>(fixed.length)
      for (let i = 0; i < fixed.length; i++) {
        if (!(i in value)) return Refused
        const item = fixed[i]!(value[i])
        if (item === Refused) return Refused
        out[i] = item
      }
      return out
    }
  }
  // `Schema.Array(item)`: no leading elements, one rest (a rest with trailing elements is left to the Schema).
  if (fixed.length > 0 || ast.rest.length !== 1) return undefined
  const parse = parserOf(ast.rest[0]!)
  if (parse === undefined) return undefined
  if (givesItsInput.has(parse)) {
    // Items that are their own copies: check them all, then copy the array natively.
    return (value) => {
      if (!isPlainArray(value)) return Refused
      for (let i = 0; i < value.length; i++) if (!(i in value) || parse(value[i]) === Refused) return Refused
      return value.slice()
    }
  }
  return (value) => {
    if (!isPlainArray(value)) return Refused
    const out = new Array<unknown>(value.length)
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) return Refused
      const item = parse(value[i])
      if (item === Refused) return Refused
      out[i] = item
    }
    return out
  }
}

const objectsOf = (ast: SchemaAST.Objects): Parse | undefined => {
  if (ast.indexSignatures.length > 0) return undefined
  // The empty struct (`Schema.Struct({})`): the Schema takes any value but null and undefined, as it is.
  if (ast.propertySignatures.length === 0) return (value) => value === null || value === undefined ? Refused : value
  const fields: Array<{ readonly name: string; readonly optional: boolean; readonly parse: Parse }> = []
  for (const property of ast.propertySignatures) {
    // `__proto__` as an own key: assigning it would set the copy's prototype (the Schema defines it).
    if (typeof property.name !== "string" || property.name === "__proto__") return undefined
    const parse = parserOf(property.type)
    if (parse === undefined) return undefined
    fields.push({ name: property.name, optional: property.type.context?.isOptional === true, parse })
  }
  return (value) => {
    if (typeof value !== "object" || value === null) return Refused
    const prototype = Object.getPrototypeOf(value)
    if (prototype !== Object.prototype && prototype !== null) return Refused
    const record = value as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const field of fields) {
      if (Object.hasOwn(record, field.name)) {
        const item = field.parse(record[field.name])
        if (item === Refused) return Refused
        out[field.name] = item
      } else if (!field.optional || field.name in record) {
        // Missing, or inherited: the Schema looks keys up with `in`, so it reads `{}`'s
        // `constructor` or `toString` for a field of that name (and fails it); its call.
        return Refused
      }
    }
    return out
  }
}
