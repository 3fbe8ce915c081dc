/**
 * What a channel's ring cells hold, and the synchronous send and take over them.
 *
 * Contains the two element stores: `NumericCells` (one number per cell, in a typed array over the
 * ring's data: the fast path, batches copied in and out with no encoding) and `EncodedCells`
 * (any Schema: a value is encoded once — a flat struct of numbers, strings and booleans field by
 * field in binary, anything else with its JSON codec — into a fixed-size slot behind its length,
 * and decoded by the taker). Both move values only between a claim and its
 * publish or release (`Ring.ts`, rules 3–4), and never yield in between, so a claim is held for
 * the time of one copy.
 */
import { Buffer } from "node:buffer"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import { arrayElementOf, constructors, encodesAsItselfKey, type Kind, withArticle } from "../../core/SharedArray.ts"
import { issueOf } from "../protocol/codec.ts"
import type { PayloadIssue } from "../protocol/protocol.ts"
import { Closed, type Ring } from "./Ring.ts"

/** The ring header's element kind: 0 for encoded slots, else a numeric kind. */
export const kindCodes: Readonly<Record<Kind, number>> = { Float64: 1, Float32: 2, Int32: 3, Uint8: 4 }
export const kindOfCode = (code: number): Kind | undefined =>
  (Object.keys(kindCodes) as Array<Kind>).find((kind) => kindCodes[kind] === code)

/**
 * The header code of encoded slots holding `element`: typed arrays by kind (their bytes mean
 * nothing as another kind's, or as JSON), anything else 0.
 */
export const encodedCodeOf = (element: Schema.Top): number => {
  const array = arrayElementOf(element)
  return array === undefined ? 0 : arrayCodeBase + kindCodes[array.kind]
}
const arrayCodeBase = 16

/** What a header code says the memory holds, for messages. */
export const contentsOfCode = (code: number): string => {
  if (code === 0) return "encoded values"
  const numbers = kindOfCode(code)
  if (numbers !== undefined) return `${numbers} numbers`
  const arrays = kindOfCode(code - arrayCodeBase)
  return arrays !== undefined ? `${arrays} arrays` : `elements of an unknown kind (${code})`
}

/** Bytes of a slot's length prefix. */
export const lengthBytes = 4

/** Why a value cannot be sent, before anything was claimed. */
export type Refusal =
  | { readonly _tag: "Invalid"; readonly index: number; readonly issue: PayloadIssue }
  | { readonly _tag: "TooLarge"; readonly index: number; readonly bytes: number }

// ---------------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------------

type NumericView = Float64Array | Float32Array | Int32Array | Uint8Array

const integerRanges: Partial<Record<Kind, readonly [number, number]>> = {
  Int32: [-0x80000000, 0x7fffffff],
  Uint8: [0, 255]
}

/**
 * One numeric take (`NumericCells.take`), for a wait loop: `attempt` claims and reads (how many
 * were kept, 0 when none is ready, or `Ended`); `adopt` reads the one position a take-side abandon
 * found published after all (rule 8); `result` is the array of the `k` kept (a copy only when
 * rule 4 dropped some of the claim).
 */
export interface NumericTake<T> {
  readonly attempt: () => number
  readonly adopt: (position: number) => number
  readonly result: (k: number) => T
}

export class NumericCells {
  readonly view: NumericView
  /** Values refused by the last `send` (rule 8 abandoned them). */
  refused = 0

  readonly ring: Ring
  readonly kind: Kind

  constructor(ring: Ring, kind: Kind) {
    this.ring = ring
    this.kind = kind
    const Ctor = constructors[kind] as unknown as new(buffer: SharedArrayBuffer, offset: number, length: number) => NumericView
    this.view = new Ctor(ring.buffer, ring.dataOffset, ring.capacity)
  }

  /**
   * Checks that every value is a number the kind holds exactly (integers in range for `Int32`
   * and `Uint8`): the values to send, as a typed array of the kind. A typed array of the kind
   * itself is taken as it is; anything else is read once, into a copy: `send` may run after a
   * wait, and a value read again then (a getter) could be another one, or throw while its cells
   * are claimed.
   */
  check(values: ArrayLike<number>): Refusal | NumericView {
    if (values instanceof constructors[this.kind]) return values as unknown as NumericView
    const range = integerRanges[this.kind]
    const copy = new (constructors[this.kind] as unknown as new(length: number) => NumericView)(values.length)
    for (let i = 0; i < copy.length; i++) {
      let v: unknown
      try {
        v = values[i]
      } catch (error) {
        return { _tag: "Invalid", index: i, issue: { path: [i], message: thrownMessage(error) } }
      }
      if (typeof v !== "number") {
        return { _tag: "Invalid", index: i, issue: { path: [i], message: `Expected a number, got ${typeof v}` } }
      }
      if (range !== undefined && !(Number.isInteger(v) && v >= range[0] && v <= range[1])) {
        return {
          _tag: "Invalid",
          index: i,
          issue: { path: [i], message: `Expected an integer between ${range[0]} and ${range[1]}, got ${v}` }
        }
      }
      copy[i] = v
    }
    return copy
  }

  /** Sends `values[from…]` as far as there is room: how many, or `Closed`. */
  send(values: ArrayLike<number>, from: number): number {
    const ring = this.ring
    // A typed array moved away (detached) while its send waited has no values left: a claim of
    // none spun forever on a free cell.
    if (values.length <= from) throw new TypeError("Channel: the array being sent was moved away (detached) while the send waited")
    const k = ring.claimSend(values.length - from)
    if (k <= 0) return k
    const p = ring.claimed
    const view = this.view
    const mask = ring.capacity - 1
    const first = p & mask
    // The claim is contiguous modulo the capacity: at most two straight copies.
    const straight = Math.min(k, ring.capacity - first)
    if (ArrayBuffer.isView(values)) {
      const typed = values as unknown as NumericView
      view.set(typed.subarray(from, from + straight), first)
      if (straight < k) view.set(typed.subarray(from + straight, from + k), 0)
    } else {
      for (let i = 0; i < k; i++) view[(p + i) & mask] = values[from + i]!
    }
    this.refused = ring.publish(p, k)
    return k
  }

  /**
   * A take of up to `max` values into a fresh array of exactly the length claimed, which `make`
   * makes between claim and release: made at `max` before the claim, it cost up to the capacity
   * per take however few values were ready (128 MB for `max: Infinity` on the largest Float64
   * channel). Claim, make, read and release stay synchronous (rule 8), as `EncodedCells.read`
   * makes its texts there.
   */
  take<T extends NumericView | Array<number>>(max: number, make: (length: number) => T): NumericTake<T> {
    const ring = this.ring
    let out: T | undefined
    return {
      attempt: () => {
        const k = ring.claimTake(max)
        if (k <= 0) return k
        out = make(k)
        return this.read(out, ring.claimed, k)
      },
      adopt: (position) => {
        out = make(1)
        return this.read(out, position, 1)
      },
      result: (k) => (k === out!.length ? out! : out!.slice(0, k)) as T
    }
  }

  /** Reads and releases the `k` claimed positions from `p` into `into`: how many were kept (rule 4). */
  private read(into: NumericView | Array<number>, p: number, k: number): number {
    const ring = this.ring
    const view = this.view
    const mask = ring.capacity - 1
    const first = p & mask
    const straight = Math.min(k, ring.capacity - first)
    if (ArrayBuffer.isView(into)) {
      into.set(view.subarray(first, first + straight), 0)
      if (straight < k) into.set(view.subarray(0, k - straight), straight)
    } else {
      for (let i = 0; i < k; i++) into[i] = view[(p + i) & mask]!
    }
    // Rule 4: a value whose cell was taken back meanwhile may be torn; drop it.
    let kept = 0
    for (let i = 0; i < k; i++) {
      if (ring.release(p + i)) {
        if (kept !== i) into[kept] = into[i]!
        kept++
      }
    }
    ring.signalSpace()
    return kept
  }
}

// ---------------------------------------------------------------------------------------------
// Encoded values
// ---------------------------------------------------------------------------------------------

/**
 * Values checked and encoded, ready to be written: JSON texts and their UTF-8 lengths, or (flat
 * structs) the checked fields, value after value, written field by field.
 */
export interface Prepared {
  readonly count: number
  readonly texts: Array<string> | undefined
  /** JSON texts' UTF-8 lengths, or typed arrays' byte lengths when checked. */
  readonly bytes: Array<number> | undefined
  /** Flat structs: field `f` of value `i` at `i * fields + f`, read once, when checked. */
  readonly fields: ReadonlyArray<FlatValue> | undefined
  /** Typed arrays, copied into their slots when written. */
  readonly arrays: ReadonlyArray<ArrayBufferView> | undefined
}

/**
 * A flat field as it is written. UTF-8 cannot carry a lone surrogate (a string cut inside a pair
 * arrived as U+FFFD), so a string that is not well-formed goes as its JSON text, whose escapes
 * are: `Escaped`, marked by a negative (`~n`) length.
 */
type FlatValue = number | string | boolean | Escaped

interface Escaped {
  readonly json: string
}

/** A field of a flat struct: its name and how it is stored (8-byte double, length + UTF-8, 1 byte). */
interface FlatField {
  readonly name: string
  readonly kind: "number" | "string" | "boolean"
}

/**
 * The fields of a struct whose every property is a required number, string or boolean with no
 * transformation (checks such as `Int` are fine: the guard runs them), in declaration order; else
 * `undefined`, and values take the JSON path.
 */
const flatFieldsOf = (schema: Schema.Top): ReadonlyArray<FlatField> | undefined => {
  const ast = schema.ast
  if (ast._tag !== "Objects" || ast.encoding !== undefined || ast.indexSignatures.length > 0) return undefined
  const fields: Array<FlatField> = []
  for (const p of ast.propertySignatures) {
    const type = p.type
    if (typeof p.name !== "string" || type.encoding !== undefined || type.context?.isOptional === true) return undefined
    const kind = type._tag === "Number" ? "number" : type._tag === "String" ? "string" : type._tag === "Boolean" ? "boolean" : undefined
    if (kind === undefined) return undefined
    fields.push({ name: p.name, kind })
  }
  return fields.length > 0 ? fields : undefined
}

/** Whether `ast` holds a typed array, matrix or channel handle (declarations that encode as themselves). */
const holdsMemory = (ast: SchemaAST.AST, seen: Set<SchemaAST.AST>): boolean => {
  if (seen.has(ast)) return false
  seen.add(ast)
  switch (ast._tag) {
    case "Declaration":
      return ast.annotations?.[encodesAsItselfKey] === true || ast.typeParameters.some((t) => holdsMemory(t, seen))
    case "Arrays":
      return ast.elements.some((e) => holdsMemory(e, seen)) || ast.rest.some((r) => holdsMemory(r, seen))
    case "Objects":
      return ast.propertySignatures.some((p) => holdsMemory(p.type, seen)) ||
        ast.indexSignatures.some((i) => holdsMemory(i.type, seen))
    case "Union":
      return ast.types.some((t) => holdsMemory(t, seen))
    case "Suspend":
      return holdsMemory(ast.thunk(), seen)
    default:
      return false
  }
}

/** Whether values of `ast` may be structs (objects whose undeclared keys the encode strips). */
const mayHoldStructs = (ast: SchemaAST.AST): boolean => {
  switch (ast._tag) {
    case "Objects":
    case "Suspend":
      return true
    case "Arrays":
      return ast.elements.some(mayHoldStructs) || ast.rest.some(mayHoldStructs)
    case "Union":
      return ast.types.some(mayHoldStructs)
    case "Declaration":
      return ast.typeParameters.some(mayHoldStructs)
    default:
      return false
  }
}

export class EncodedCells<A> {
  private readonly bytes: Buffer
  refused = 0
  private readonly encode: (value: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  private readonly decode: ((value: unknown) => Exit.Exit<unknown, Schema.SchemaError>) | undefined
  /** When the JSON form is the value itself: a type guard checks it (cheaper than an encode). */
  private readonly guard: ((value: unknown) => boolean) | undefined
  /** Flat structs are stored field by field (no JSON). */
  private readonly flat: ReadonlyArray<FlatField> | undefined
  /** Typed arrays (`SharedArray.array(kind, { memory: "copied" | "moved" })`) are stored as their bytes. */
  private readonly arrayKind: Kind | undefined
  private readonly isArray: ((value: unknown) => boolean) | undefined

  readonly ring: Ring
  readonly schema: Schema.Top

  constructor(ring: Ring, schema: Schema.Top) {
    this.ring = ring
    this.schema = schema
    this.bytes = Buffer.from(ring.buffer, ring.dataOffset, ring.capacity * ring.slotBytes)
    const array = arrayElementOf(schema)
    if (array !== undefined && array.memory !== "copied" && array.memory !== "moved") {
      // A taker gets a fresh copy of the bytes, never the sender's shared memory.
      throw new TypeError(
        `Channel: a channel copies its elements, so it cannot carry ${array.memory} arrays; ` +
          `declare the element SharedArray.array("${array.kind}", { memory: "copied" })`
      )
    }
    if (array === undefined && holdsMemory(schema.ast, new Set())) {
      // Their JSON codec refuses them: every send would fail.
      throw new TypeError(
        "Channel: an element with typed arrays, matrices or channels inside it cannot be sent " +
          "(elements are copied as JSON or flat fields); send whole arrays as elements of " +
          "SharedArray.array(kind, { memory: \"copied\" }), or numbers"
      )
    }
    this.arrayKind = array?.kind
    this.isArray = array === undefined ? undefined : Schema.is(schema as Schema.Codec<unknown, unknown>)
    const json = Schema.toCodecJson(schema as Schema.Codec<unknown, unknown>)
    this.encode = Schema.encodeUnknownExit(json as Schema.Codec<unknown, unknown>)
    // Every sender checked its value against the Schema (`prepare`): when the JSON form is the
    // value itself, a taker needs no decode.
    this.decode = SchemaAST.toEncoded(json.ast) === json.ast
      ? undefined
      : Schema.decodeUnknownExit(json as Schema.Codec<unknown, unknown>)
    // A flat struct is stored field by field whatever its JSON form (a double keeps NaN and ±∞).
    this.flat = flatFieldsOf(schema)
    // Not where a struct may be: a value with undeclared keys passes the guard, and its JSON text
    // then carried them (refused outright when one was not JSON, a bigint) where the encode strips.
    this.guard = (this.decode === undefined && !mayHoldStructs(schema.ast)) || this.flat !== undefined
      ? Schema.is(schema as Schema.Codec<unknown, unknown>)
      : undefined
  }

  /** Checks and encodes `values` (each once); the first that fails or does not fit refuses all. */
  prepare(values: ReadonlyArray<A>): Prepared | Refusal {
    if (this.flat !== undefined) return this.prepareFlat(values, this.flat)
    if (this.arrayKind !== undefined) return this.prepareArrays(values)
    const texts: Array<string> = new Array(values.length)
    const bytes: Array<number> = new Array(values.length)
    const room = this.ring.slotBytes - lengthBytes
    for (let i = 0; i < values.length; i++) {
      let encoded: unknown = values[i]
      if (this.guard === undefined || !this.passes(encoded)) {
        // The encode says why a value is refused (the guard only says that it is).
        const exit = this.encode(values[i])
        if (Exit.isFailure(exit)) {
          const issue = issueOf(exit)
          return { _tag: "Invalid", index: i, issue: { path: [i, ...issue.path], message: withoutJsonForm(values[i], issue) } }
        }
        encoded = exit.value
      }
      let text: string | undefined
      try {
        text = JSON.stringify(encoded)
      } catch (error) {
        return { _tag: "Invalid", index: i, issue: { path: [i], message: `cannot be encoded as JSON: ${String(error)}` } }
      }
      if (text === undefined) {
        return { _tag: "Invalid", index: i, issue: { path: [i], message: "cannot be encoded as JSON" } }
      }
      const length = Buffer.byteLength(text, "utf8")
      if (length > room) return { _tag: "TooLarge", index: i, bytes: length + lengthBytes }
      texts[i] = text
      bytes[i] = length
    }
    return { count: values.length, texts, bytes, fields: undefined, arrays: undefined }
  }

  /** The guard, false where it throws (a getter or proxy trap): the encode then says why. */
  private passes(value: unknown): boolean {
    try {
      return this.guard!(value)
    } catch {
      return false
    }
  }

  private prepareFlat(values: ReadonlyArray<A>, fields: ReadonlyArray<FlatField>): Prepared | Refusal {
    const room = this.ring.slotBytes - lengthBytes
    // Each field is read once, here, and written from this copy: a send may wait for room, and a
    // value changed meanwhile (a longer string) would otherwise be written past its slot, into a
    // cell another party holds.
    const snapshot = new Array<FlatValue>(values.length * fields.length)
    for (let i = 0; i < values.length; i++) {
      const value = values[i] as Record<string, unknown>
      if (!this.passes(value)) {
        const exit = this.encode(value)
        const issue = Exit.isFailure(exit) ? issueOf(exit) : { path: [], message: "does not match its Schema" }
        return { _tag: "Invalid", index: i, issue: { path: [i, ...issue.path], message: issue.message } }
      }
      // An upper bound first (3 UTF-8 bytes per UTF-16 unit); the exact size only when it is needed.
      let bound = 0
      for (let f = 0; f < fields.length; f++) {
        const field = fields[f]!
        let v: unknown
        try {
          v = value[field.name]
        } catch (error) {
          return { _tag: "Invalid", index: i, issue: { path: [i, field.name], message: thrownMessage(error) } }
        }
        if (typeof v !== field.kind) {
          // Checked by the guard, then changed by a getter: refused like any value of a wrong type.
          return { _tag: "Invalid", index: i, issue: { path: [i, field.name], message: `Expected ${field.kind}, got ${typeof v}` } }
        }
        if (field.kind === "string" && !(v as string).isWellFormed()) {
          const json = JSON.stringify(v)
          snapshot[i * fields.length + f] = { json }
          bound += 4 + json.length * 3
        } else {
          snapshot[i * fields.length + f] = v as number | string | boolean
          bound += field.kind === "number" ? 8 : field.kind === "boolean" ? 1 : 4 + (v as string).length * 3
        }
      }
      if (bound > room) {
        let exact = 0
        for (let f = 0; f < fields.length; f++) {
          const v = snapshot[i * fields.length + f]!
          exact += fields[f]!.kind === "number" ? 8 : fields[f]!.kind === "boolean" ? 1 : 4 + Buffer.byteLength(textOf(v), "utf8")
        }
        if (exact > room) return { _tag: "TooLarge", index: i, bytes: exact + lengthBytes }
      }
    }
    return { count: values.length, texts: undefined, bytes: undefined, fields: snapshot, arrays: undefined }
  }

  /**
   * Typed arrays are checked here and copied when written (after any wait for room): the bytes
   * sent are the array's at that moment. A view over a resizable buffer is refused, since its
   * length could change while the send waits; a detached one is refused, and one detached
   * meanwhile fails the send (`send`).
   */
  private prepareArrays(values: ReadonlyArray<A>): Prepared | Refusal {
    const room = this.ring.slotBytes - lengthBytes
    const Ctor = constructors[this.arrayKind!]
    const lengths: Array<number> = new Array(values.length)
    for (let i = 0; i < values.length; i++) {
      const value = values[i] as unknown
      if (!(value instanceof Ctor) || !this.isArray!(value)) {
        const expected = (this.schema.ast.annotations as { readonly expected?: unknown } | undefined)?.expected
        return {
          _tag: "Invalid",
          index: i,
          issue: { path: [i], message: `Expected ${String(expected ?? withArticle(`${this.arrayKind}Array`))}${value instanceof Ctor ? "" : `, got ${sentArray(value)}`}` }
        }
      }
      const buffer = (value as ArrayBufferView).buffer as ArrayBuffer | SharedArrayBuffer
      if ((buffer as ArrayBuffer).resizable === true || (buffer as SharedArrayBuffer).growable === true) {
        return { _tag: "Invalid", index: i, issue: { path: [i], message: "a view of a resizable buffer cannot be sent: its length may change while the send waits" } }
      }
      // Its values went with its buffer: sent, it would arrive as an empty array (a payload refuses it too).
      if ((buffer as ArrayBuffer).detached === true) {
        return { _tag: "Invalid", index: i, issue: { path: [i], message: `${withArticle(`${this.arrayKind}Array`)} that was moved away (detached): it has no values to send` } }
      }
      const bytes = (value as ArrayBufferView).byteLength
      if (bytes > room) return { _tag: "TooLarge", index: i, bytes: bytes + lengthBytes }
      lengths[i] = bytes
    }
    // The list is copied, as flat fields are: an element replaced while the send waits is not sent.
    const arrays = Array.prototype.slice.call(values) as Array<ArrayBufferView>
    return { count: values.length, texts: undefined, bytes: lengths, fields: undefined, arrays }
  }

  /**
   * How many arrays from `from` still have the length they were checked with (at most a claim's
   * worth). A fixed-length view changes only by being detached (moved away by another fiber while
   * the send waited): it was sent as an empty array, which the taker could not tell from a value.
   * Checked before the claim, since a claimed cell must be published.
   */
  private unchanged(prepared: Prepared, from: number): number {
    const end = Math.min(prepared.count, from + this.ring.capacity)
    let i = from
    while (i < end && prepared.arrays![i]!.byteLength === prepared.bytes![i]) i++
    if (i === from) throw new TypeError("Channel: the array being sent was moved away (detached) while the send waited")
    return i - from
  }

  /** Sends `prepared[from…]` as far as there is room: how many, or `Closed`. */
  send(prepared: Prepared, from: number): number {
    const ring = this.ring
    const k = ring.claimSend(prepared.arrays === undefined ? prepared.count - from : this.unchanged(prepared, from))
    if (k <= 0) return k
    const p = ring.claimed
    const mask = ring.capacity - 1
    const slot = ring.slotBytes
    const bytes = this.bytes
    const flat = this.flat
    if (flat !== undefined) {
      const snapshot = prepared.fields!
      for (let i = 0; i < k; i++) {
        const at = ((p + i) & mask) * slot
        const end = at + slot
        let o = at + lengthBytes
        for (let f = 0, base = (from + i) * flat.length; f < flat.length; f++) {
          const field = flat[f]!
          const v = snapshot[base + f]!
          if (field.kind === "number") {
            bytes.writeDoubleLE(v as number, o)
            o += 8
          } else if (field.kind === "boolean") {
            bytes[o++] = v === true ? 1 : 0
          } else {
            const n = bytes.write(textOf(v), o + 4, end - o - 4, "utf8")
            bytes.writeInt32LE(typeof v === "string" ? n : ~n, o)
            o += 4 + n
          }
        }
        bytes.writeInt32LE(o - at - lengthBytes, at)
      }
    } else if (prepared.arrays !== undefined) {
      for (let i = 0; i < k; i++) {
        const at = ((p + i) & mask) * slot
        const view = prepared.arrays[from + i]!
        // Checked to fit (`prepareArrays`) and unchanged since (`unchanged`).
        const n = view.byteLength
        bytes.writeInt32LE(n, at)
        if (n > 0) bytes.set(new Uint8Array(view.buffer, view.byteOffset, n), at + lengthBytes)
      }
    } else {
      for (let i = 0; i < k; i++) {
        const at = ((p + i) & mask) * slot
        bytes.writeInt32LE(prepared.bytes![from + i]!, at)
        bytes.write(prepared.texts![from + i]!, at + lengthBytes, prepared.bytes![from + i]!, "utf8")
      }
    }
    this.refused = ring.publish(p, k)
    return k
  }

  /** Takes up to `max` values into `into`: how many, 0 when none is ready, or `Ended`. */
  take(into: Array<A>, max: number): number {
    const k = this.ring.claimTake(max)
    return k <= 0 ? k : this.read(into, this.ring.claimed, k)
  }

  /** Reads and releases the `k` claimed positions from `p`: how many were kept (rule 4). */
  read(into: Array<A>, p: number, k: number): number {
    if (this.flat !== undefined) return this.readFlat(into, p, k, this.flat)
    if (this.arrayKind !== undefined) return this.readArrays(into, p, k, this.arrayKind)
    const ring = this.ring
    const mask = ring.capacity - 1
    const slot = ring.slotBytes
    const bytes = this.bytes
    const texts: Array<string> = new Array(k)
    for (let i = 0; i < k; i++) {
      const at = ((p + i) & mask) * slot
      const length = Math.min(Math.max(0, bytes.readInt32LE(at)), slot - lengthBytes)
      texts[i] = bytes.toString("utf8", at + lengthBytes, at + lengthBytes + length)
    }
    let kept = 0
    const released: Array<boolean> = new Array(k)
    for (let i = 0; i < k; i++) released[i] = ring.release(p + i)
    ring.signalSpace()
    // Parsed after release: the texts are copies, so the cells go back to senders sooner.
    const kept_: Array<string> = []
    for (let i = 0; i < k; i++) if (released[i]) kept_.push(texts[i]!) // rule 4: possibly torn, dropped
    if (this.decode === undefined && kept_.length > 1) {
      // One parse for the batch: far fewer calls into the JSON parser than one per value.
      const values = JSON.parse(`[${kept_.join(",")}]`) as Array<A>
      for (let i = 0; i < values.length; i++) into.push(values[i]!)
      return values.length
    }
    for (const text of kept_) {
      into.push(this.parse(text))
      kept++
    }
    return kept
  }

  private readFlat(into: Array<A>, p: number, k: number, fields: ReadonlyArray<FlatField>): number {
    const ring = this.ring
    const mask = ring.capacity - 1
    const slot = ring.slotBytes
    const bytes = this.bytes
    let kept = 0
    for (let i = 0; i < k; i++) {
      const at = ((p + i) & mask) * slot
      const end = at + slot
      // Read out before release (the cell is the next sender's after it); bounded by the slot,
      // so even a torn cell (dropped below) cannot make a read run past it.
      const value: Record<string, unknown> = {}
      let o = at + lengthBytes
      for (const field of fields) {
        if (field.kind === "number") {
          value[field.name] = o + 8 <= end ? bytes.readDoubleLE(o) : NaN
          o += 8
        } else if (field.kind === "boolean") {
          value[field.name] = bytes[o++] === 1
        } else {
          const length = o + 4 <= end ? bytes.readInt32LE(o) : 0
          const n = o + 4 <= end ? Math.min(length < 0 ? ~length : length, end - o - 4) : 0
          const text = bytes.toString("utf8", o + 4, o + 4 + n)
          value[field.name] = length < 0 ? unescaped(text) : text
          o += 4 + n
        }
      }
      if (ring.release(p + i)) {
        into.push(value as A)
        kept++
      }
    }
    ring.signalSpace()
    return kept
  }

  /** Each value a fresh typed array over its own `ArrayBuffer`, copied out before its cell is released. */
  private readArrays(into: Array<A>, p: number, k: number, kind: Kind): number {
    const ring = this.ring
    const mask = ring.capacity - 1
    const slot = ring.slotBytes
    const bytes = this.bytes
    const Ctor = constructors[kind] as unknown as new(length: number) => ArrayBufferView
    const width = constructors[kind].BYTES_PER_ELEMENT
    let kept = 0
    for (let i = 0; i < k; i++) {
      const at = ((p + i) & mask) * slot
      // Bounded by the slot and whole elements: even a torn cell (dropped below) reads within it.
      const length = Math.min(Math.max(0, bytes.readInt32LE(at)), slot - lengthBytes)
      const value = new Ctor(Math.floor(length / width))
      new Uint8Array(value.buffer).set(bytes.subarray(at + lengthBytes, at + lengthBytes + value.byteLength))
      if (ring.release(p + i)) {
        into.push(value as A)
        kept++
      }
    }
    ring.signalSpace()
    return kept
  }

  private parse(text: string): A {
    const json: unknown = JSON.parse(text)
    if (this.decode === undefined) return json as A
    const exit = this.decode(json)
    if (Exit.isSuccess(exit)) return exit.value as A
    // Every sender encoded with this Schema: a value that does not decode was not written by one.
    throw new Error(`Channel: a slot holds a value its Schema does not decode (${issueOf(exit).message})`)
  }
}

/** What a getter or proxy trap threw, bounded: an error describes, it never dumps. */
/**
 * The message of a refused value, saying why when its Schema has no JSON form: a declaration such
 * as `Schema.instanceOf(Float64Array)` has no JSON codec, so its every value failed as "Expected
 * JSON value", as if that value (not its Schema) were at fault.
 */
const withoutJsonForm = (value: unknown, issue: PayloadIssue): string => {
  if (issue.message !== "Expected JSON value") return issue.message
  let at: unknown = value
  try {
    for (const key of issue.path) at = (at as Record<PropertyKey, unknown>)[key]
  } catch {
    return issue.message
  }
  if (typeof at !== "object" || at === null || Array.isArray(at)) return issue.message
  const proto = Object.getPrototypeOf(at)
  if (proto === Object.prototype || proto === null) return issue.message
  const name = typeof proto.constructor?.name === "string" && proto.constructor.name !== "" ? proto.constructor.name : "class instance"
  const hint = ArrayBuffer.isView(at)
    ? "send whole typed arrays as elements of SharedArray.array(kind, { memory: \"copied\" }) (Float64, Float32, Int32, Uint8), or numbers"
    : "a channel copies a value by its JSON codec: give the Schema one (a toCodecJson annotation), or send its fields"
  return `Expected JSON value, got ${withArticle(name)}: its Schema (a declaration such as Schema.instanceOf) has no JSON form; ${hint}`
}

const thrownMessage = (error: unknown): string => {
  let reason: string
  try {
    reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  } catch {
    reason = "unknown error"
  }
  return `cannot be read (${reason.length > 200 ? `${reason.slice(0, 199)}…` : reason})`
}

const textOf = (v: FlatValue): string => typeof v === "string" ? v : (v as Escaped).json

/** An escaped string's JSON text read back; a torn cell's text may not parse (it is dropped anyway). */
const unescaped = (text: string): string => {
  try {
    return JSON.parse(text) as string
  } catch {
    return text
  }
}

export { Closed }

/** What was sent where a typed array of the channel's kind was expected, for its refusal. */
const sentArray = (value: unknown): string => {
  if (ArrayBuffer.isView(value)) return withArticle(Object.prototype.toString.call(value).slice(8, -1))
  if (Array.isArray(value)) return "an array (a typed array of the kind is needed)"
  return value === null ? "null" : typeof value
}
