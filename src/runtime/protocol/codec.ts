/**
 * How a task's values cross the worker boundary: its Schemas' encode/decode, with the
 * structured clone of `postMessage` carrying the encoded form.
 *
 * Fast path: when a Schema's encoded form is its type (plain structs, numbers, strings, arrays,
 * shared arrays — the common case), one side skips its work: the caller sends payloads as they are
 * and the worker's decode validates them; the worker's encode validates results and the caller takes
 * them as they are. Each value is still checked exactly once, where a failure can name the worker.
 * There, a parser compiled from the Schema (`identityParser.ts`) copies the values the Schema would
 * only check and copy; the rest take the Schema's parser.
 *
 * A value the structured clone cannot take (a function, a proxy …) is found only when its message
 * is sent; `cloneIssue` then says why and where, for the scheduler's and the actor host's
 * `PayloadInvalid`.
 */
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import * as SchemaIssue from "effect/SchemaIssue"
import { types } from "node:util"
import { isMarkedAsUntransferable } from "node:worker_threads"
import { constructors, copiedKey, encodesAsItselfKey, type Kind, movedKey, withArticle } from "../../core/SharedArray.ts"
import type { Any } from "../../core/Task.ts"
import { noteMoved } from "../../core/TaskError.ts"
import { mayCarryShared, stateOf } from "../memory/Arena.ts"
import { coveredByMovedView, type PayloadIssue } from "./protocol.ts"
import { parserOf, Refused } from "./identityParser.ts"

/** The result of one encode or decode: a value, or the issue that rejected it. */
export type Coded =
  | { readonly value: unknown; readonly issue: undefined }
  | { readonly value: undefined; readonly issue: PayloadIssue }

export interface Codec {
  /** caller → wire */
  readonly encodePayload: (payload: unknown) => Coded
  /** wire → handler */
  readonly decodePayload: (encoded: unknown) => Coded
  /** handler → wire */
  readonly encodeSuccess: (success: unknown) => Coded
  /** wire → caller */
  readonly decodeSuccess: (encoded: unknown) => Coded
  /** handler → wire */
  readonly encodeError: (error: unknown) => Coded
  /** wire → caller */
  readonly decodeError: (encoded: unknown) => Coded
  /**
   * Payloads may carry shared arrays (declared, or in a `Schema.Unknown` field): a submission holds
   * their memory while it runs.
   */
  readonly sharedPayload: boolean
  /** Successes may carry shared arrays (likewise): a worker checks that none was released before sending one. */
  readonly sharedSuccess: boolean
  /** What a payload left out stands for: `{}` for a struct (every field optional), else `undefined`. */
  readonly absentPayload: unknown
  /** The buffers an encoded payload moves (`memory: "moved"`); absent when its Schema moves none. */
  readonly payloadTransfers: Transfers | undefined
  /** The buffers an encoded success moves; absent when its Schema moves none. */
  readonly successTransfers: Transfers | undefined
  /** Whether the task declares an error (its error Schema is not `Never`). */
  readonly declaresError: boolean
}

/**
 * The transfer list of one encoded value: the buffers under its moved arrays, each once (two views
 * of one buffer move it once), or the issue that makes a move impossible.
 */
export type Transfers = (encoded: unknown) =>
  | { readonly list: Array<ArrayBuffer>; readonly issue: undefined }
  | { readonly list: undefined; readonly issue: PayloadIssue }

const emptyStruct = Object.freeze({})

const codecs = new WeakMap<Any, Codec>()

/** The codec of a task, built once per task definition. */
export const codecOf = (task: Any): Codec => {
  let codec = codecs.get(task)
  if (codec === undefined) {
    const payloadIdentity = isIdentity(task.payload)
    const successIdentity = isIdentity(task.success)
    codec = {
      encodePayload: withCopies(
        payloadIdentity ? passThrough : coder(Schema.encodeUnknownExit(task.payload as AnyCodec)),
        task.payload
      ),
      decodePayload: compiledFirst(payloadIdentity, task.payload, coder(Schema.decodeUnknownExit(task.payload as AnyCodec))),
      encodeSuccess: withCopies(
        compiledFirst(successIdentity, task.success, coder(Schema.encodeUnknownExit(task.success as AnyCodec))),
        task.success
      ),
      decodeSuccess: successIdentity ? passThrough : coder(Schema.decodeUnknownExit(task.success as AnyCodec)),
      encodeError: coder(Schema.encodeUnknownExit(task.error as AnyCodec)),
      decodeError: coder(Schema.decodeUnknownExit(task.error as AnyCodec)),
      sharedPayload: mayCarryShared(task.payload),
      sharedSuccess: mayCarryShared(task.success),
      absentPayload: SchemaAST.toType(task.payload.ast)._tag === "Objects" ? emptyStruct : undefined,
      payloadTransfers: transfersOf(task.payload),
      successTransfers: transfersOf(task.success),
      declaresError: SchemaAST.toType(task.error.ast)._tag !== "Never"
    }
    codecs.set(task, codec)
  }
  return codec
}

type AnyCodec = Schema.Codec<unknown, unknown, never, never>

const isIdentity = (schema: Schema.Top): boolean =>
  SchemaAST.toEncoded(schema.ast) === schema.ast || encodesAsItself(schema.ast)

/**
 * Whether encoding can only validate: no transformation anywhere in the Schema. `toEncoded` alone
 * says no to any declaration and to a struct with its own checks (a matrix is both), though
 * neither changes a value; declarations other than the marked ones are taken to transform.
 */
const encodesAsItself = (ast: SchemaAST.AST): boolean => {
  if (ast.encoding !== undefined) return false
  switch (ast._tag) {
    case "Declaration":
      return ast.annotations?.[encodesAsItselfKey] === true
    case "Arrays":
      return ast.elements.every(encodesAsItself) && ast.rest.every(encodesAsItself)
    case "Objects":
      return ast.propertySignatures.every((p) => encodesAsItself(p.type)) &&
        ast.indexSignatures.every((i) => encodesAsItself(i.parameter) && encodesAsItself(i.type))
    case "Union":
      return ast.types.every(encodesAsItself)
    case "Suspend":
      return false
    default:
      return true
  }
}

const passThrough = (value: unknown): Coded => ({ value, issue: undefined })

/**
 * The worker's side of an identity Schema (its payload's decode, its success's encode): the
 * compiled parser's copy when it answers; otherwise the Schema's own path, which rebuilds the value
 * or says why not (`identityParser.ts`, rule 1).
 */
const compiledFirst = (identity: boolean, schema: Schema.Top, slow: (input: unknown) => Coded) => {
  const parse = identity ? parserOf(schema.ast) : undefined
  if (parse === undefined) return slow
  return (input: unknown): Coded => {
    let value: unknown
    try {
      value = parse(input)
    } catch {
      // A getter or proxy trap threw (a handler's result may be anything): the Schema's path says
      // why, as an issue of this value alone, instead of an exception out of the worker's runtime.
      return slow(input)
    }
    return value === Refused ? slow(input) : { value, issue: undefined }
  }
}

// ---------------------------------------------------------------------------------------------
// Copies
// ---------------------------------------------------------------------------------------------

/** A value with the shared arrays in its copied places replaced by plain copies; the value itself when it has none. */
type Copy = (value: unknown) => unknown

/**
 * The sender's side of a Schema that declares copied arrays (`memory: "copied"`): such a field
 * takes a shared array too, which `postMessage` would share rather than copy, so the receiver's
 * writes to its "copy" would reach the sender's memory. The encoded value's shared arrays in those
 * places are copied into plain buffers here, on the sender's thread as the message is made.
 * Schemas that declare none keep `encode` as it is; a plain array costs one check.
 */
const withCopies = (encode: (input: unknown) => Coded, schema: Schema.Top): (input: unknown) => Coded => {
  const copy = copierOf(SchemaAST.toEncoded(schema.ast))
  if (copy === undefined) return encode
  return (input) => {
    const coded = encode(input)
    if (coded.issue !== undefined) return coded
    let value: unknown
    try {
      value = copy(coded.value)
    } catch {
      // A getter or proxy trap threw: left as it is, for the hold's walk or the send to report.
      return coded
    }
    return value === coded.value ? coded : { value, issue: undefined }
  }
}

const copierOf = (ast: SchemaAST.AST): Copy | undefined => {
  switch (ast._tag) {
    case "Declaration": {
      const kind = ast.annotations?.[copiedKey] as Kind | undefined
      if (kind === undefined) return undefined
      const ofKind = constructors[kind]
      // A released one stays as it is: the call's hold refuses it, naming its path (arena rule 5),
      // where a copy would carry the memory's next owner's numbers.
      return (value) =>
        value instanceof ofKind && value.buffer instanceof SharedArrayBuffer && stateOf(value) !== "released"
          ? new ofKind(value)
          : value
    }
    case "Objects": {
      const fields: Array<readonly [PropertyKey, Copy]> = []
      for (const p of ast.propertySignatures) {
        const copy = copierOf(p.type)
        if (copy !== undefined) fields.push([p.name, copy])
      }
      const declared = new Set(ast.propertySignatures.map((p) => p.name))
      const indexed = ast.indexSignatures.map((i) => copierOf(i.type)).filter((c): c is Copy => c !== undefined)
      if (fields.length === 0 && indexed.length === 0) return undefined
      return (value) => {
        // A released library matrix is left whole (its `data` accessor throws): the hold refuses it.
        if (typeof value !== "object" || value === null || stateOf(value) === "released") return value
        const record = value as Record<PropertyKey, unknown>
        let out: Record<PropertyKey, unknown> | undefined
        const put = (name: PropertyKey, copy: Copy) => {
          const item = record[name]
          const copied = copy(item)
          if (copied !== item) (out ??= { ...record })[name] = copied
        }
        for (const [name, copy] of fields) if (name in record) put(name, copy)
        if (indexed.length > 0) {
          for (const key of Object.keys(record)) {
            if (declared.has(key)) continue
            for (const copy of indexed) put(key, copy)
          }
        }
        return out ?? value
      }
    }
    case "Arrays": {
      const elements = ast.elements.map(copierOf)
      const rest = ast.rest.length > 0 ? copierOf(ast.rest[0]!) : undefined
      if (rest === undefined && elements.every((e) => e === undefined)) return undefined
      return (value) => {
        if (!Array.isArray(value)) return value
        let out: Array<unknown> | undefined
        for (let i = 0; i < value.length; i++) {
          const copy = i < elements.length ? elements[i] : rest
          if (copy === undefined) continue
          const copied = copy(value[i])
          if (copied !== value[i]) (out ??= value.slice())[i] = copied
        }
        return out ?? value
      }
    }
    case "Union": {
      const copiers = ast.types.map(copierOf)
      const last = copiers.findLastIndex((c) => c !== undefined)
      if (last < 0) return undefined
      // In the Schema's order, as it picks the member: a member before a copied one that takes
      // the value as it is (`Union([SharedArray.Float64, copied])` given a shared array) keeps it
      // shared; a copied member copies only values of its own kind and shape.
      const members = copiers.slice(0, last + 1).map((copy, i): Copy | ((value: unknown) => boolean) =>
        copy ?? Schema.is(Schema.make(ast.types[i]!))
      )
      const copying = copiers.slice(0, last + 1).map((copy) => copy !== undefined)
      return (value) => {
        for (let i = 0; i < members.length; i++) {
          const result = members[i]!(value)
          if (copying[i]) {
            if (result !== value) return result
          } else if (result === true) return value
        }
        return value
      }
    }
    default:
      // A recursive (`suspend`) Schema copies nothing inside it: `postMessage` shares its shared arrays.
      return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Moves
// ---------------------------------------------------------------------------------------------

/**
 * Adds the buffers a value moves to `into`, each with the byte ranges its moved views cover
 * (`[start, end, …]`); returns the issue that stops a move, if any.
 */
type Collect = (value: unknown, into: Map<ArrayBuffer, Array<number>>, path: ReadonlyArray<string | number>) => PayloadIssue | undefined

/**
 * How to find the moved arrays of a Schema's encoded values, compiled once per Schema: a walk of
 * the value that follows only the Schema's branches that hold a moved array. `undefined` when the
 * Schema moves nothing: then nothing is walked, and a message has no transfer list (the cost of
 * moves when no Schema declares one is that one check).
 */
const transfersOf = (schema: Schema.Top): Transfers | undefined => {
  const collect = collectorOf(SchemaAST.toEncoded(schema.ast))
  if (collect === undefined) return undefined
  return (encoded) => {
    const into = new Map<ArrayBuffer, Array<number>>()
    const issue = collect(encoded, into, [])
    if (issue !== undefined) return { list: undefined, issue }
    for (const [buffer, ranges] of into) if (coversWhole(buffer, ranges)) coveredByMovedView.add(buffer)
    return { list: [...into.keys()], issue: undefined }
  }
}

/**
 * Whether the moved views of one value cover every byte of their buffer: then the sender gives the
 * whole buffer up, and a channel that copies may detach it (`detachMoved`).
 */
const coversWhole = (buffer: ArrayBuffer, ranges: Array<number>): boolean => {
  if (ranges.length === 2) return ranges[0] === 0 && ranges[1] === buffer.byteLength
  const sorted: Array<readonly [number, number]> = []
  for (let i = 0; i < ranges.length; i += 2) sorted.push([ranges[i]!, ranges[i + 1]!])
  sorted.sort((a, b) => a[0] - b[0])
  let reached = 0
  for (const [start, end] of sorted) {
    if (start > reached) return false
    if (end > reached) reached = end
  }
  return reached === buffer.byteLength
}

const collectorOf = (ast: SchemaAST.AST): Collect | undefined => {
  switch (ast._tag) {
    case "Declaration": {
      const kind = ast.annotations?.[movedKey] as Kind | undefined
      if (kind === undefined) return undefined
      const ofKind = constructors[kind]
      return (value, into, path) => {
        // Another kind is another member's (a union's), or the receiver's Schema check rejects it:
        // neither moved nor refused here, so the sender keeps an array its Schema did not give up.
        if (!(value instanceof ofKind)) return undefined
        // Shared memory is not the sender's to give away; refused here, as a channel that copies
        // (a child process's IPC) would hand the receiver a plain copy its check then accepts.
        if (ArrayBuffer.isView(value) && value.buffer instanceof SharedArrayBuffer) {
          return { path, message: `${withArticle(`${kind}Array`)} over a SharedArrayBuffer: shared memory cannot be moved` }
        }
        if (!(value.buffer instanceof ArrayBuffer)) return undefined
        if (value.buffer.detached) {
          return { path, message: `${withArticle(`${kind}Array`)} that was moved away already: a moved array can be sent once` }
        }
        // Once moved, its view is empty: an error rendering its input later says what it was.
        noteMoved(value)
        const ranges = into.get(value.buffer)
        if (ranges === undefined) into.set(value.buffer, [value.byteOffset, value.byteOffset + value.byteLength])
        else ranges.push(value.byteOffset, value.byteOffset + value.byteLength)
        return undefined
      }
    }
    case "Objects": {
      const fields: Array<readonly [PropertyKey, Collect]> = []
      for (const p of ast.propertySignatures) {
        const collect = collectorOf(p.type)
        if (collect !== undefined) fields.push([p.name, collect])
      }
      if (fields.length === 0) return undefined
      return (value, into, path) => {
        if (typeof value !== "object" || value === null) return undefined
        for (const [name, collect] of fields) {
          const issue = collect((value as Record<PropertyKey, unknown>)[name], into, [...path, String(name)])
          if (issue !== undefined) return issue
        }
        return undefined
      }
    }
    case "Arrays": {
      const elements = ast.elements.map(collectorOf)
      const rest = ast.rest.length > 0 ? collectorOf(ast.rest[0]!) : undefined
      if (rest === undefined && elements.every((e) => e === undefined)) return undefined
      return (value, into, path) => {
        if (!Array.isArray(value)) return undefined
        for (let i = 0; i < value.length; i++) {
          const collect = i < elements.length ? elements[i] : rest
          const issue = collect?.(value[i], into, [...path, i])
          if (issue !== undefined) return issue
        }
        return undefined
      }
    }
    case "Union": {
      const members = ast.types.map(collectorOf).filter((c): c is Collect => c !== undefined)
      if (members.length === 0) return undefined
      // Each member lists only values of its own kind; the value is one member's.
      return (value, into, path) => {
        for (const collect of members) {
          const issue = collect(value, into, path)
          if (issue !== undefined) return issue
        }
        return undefined
      }
    }
    default:
      // Index signatures and recursive (`suspend`) Schemas move nothing: their arrays are copied.
      return undefined
  }
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const coder = (parse: (input: unknown) => Exit.Exit<unknown, Schema.SchemaError>) => (input: unknown): Coded => {
  try {
    const exit = parse(input)
    if (Exit.isSuccess(exit)) return { value: exit.value, issue: undefined }
    return { value: undefined, issue: issueOf(exit) }
  } catch (error) {
    // The Exit variants still throw on some hostile inputs (a revoked proxy fails the parser's
    // own `Array.isArray`): a value that cannot be inspected is an invalid payload all the same.
    return { value: undefined, issue: { path: [], message: `could not be processed: ${describeError(error)}` } }
  }
}

/** The first issue of a failed decode or encode: its path and message. */
export const issueOf = (exit: Exit.Exit<unknown, Schema.SchemaError>): PayloadIssue => {
  const error = Exit.findErrorOption(exit)
  if (error._tag === "None") {
    // A defect: a getter that threw while the Schema read the value (a released shared matrix's
    // `data`), or a Schema that needs to run asynchronously. Its message says which.
    const defect = Exit.isFailure(exit) ? Cause.findDefect(exit.cause) : undefined
    const message = defect !== undefined && Result.isSuccess(defect) && defect.success instanceof Error &&
        !Cause.isAsyncFiberError(defect.success)
      ? defect.success.message
      : "could not be processed synchronously"
    return { path: [], message: bounded(message) }
  }
  const first = formatter(error.value.issue).issues[0]
  return {
    path: (first?.path ?? []).map((key) => (typeof key === "number" ? key : String(key))),
    message: bounded(first?.message ?? error.value.message)
  }
}

/**
 * Why a value could not be sent (`postMessage`, or the structured clone that stands in for it,
 * threw `error`), and where in it, when a walk can find the spot.
 */
export const cloneIssue = (value: unknown, error: unknown): PayloadIssue => {
  const found = uncloneablePath(value)
  return {
    path: found?.path ?? [],
    // V8 says "Cannot transfer object of unsupported type" of a buffer another task of the
    // message moved first (Dispatcher rule 9), and of one Node marks untransferable: say which.
    message: found?.moved === true
      ? "a typed array whose buffer was moved away already (by another task of its message, or an earlier send): a moved array can be sent once"
      : found?.untransferable === true
      ? "a typed array over an untransferable buffer (Node's Buffer pool, shared with other Buffers: Buffer.allocUnsafe, " +
        "a short Buffer.from) cannot be moved: copy it into an array of its own (Float64Array.from(…)), or declare it \"copied\""
      : `cannot be sent to a worker (${describeError(error)})`
  }
}

/** An exception's name and message, for an issue, bounded; never throws. */
const describeError = (error: unknown): string => {
  try {
    return bounded(error instanceof Error ? `${error.name}: ${error.message}` : String(error))
  } catch {
    return "unknown error"
  }
}

/**
 * The most of a text an issue keeps: the exception of a hostile getter or proxy trap may say
 * anything, and a Schema's message may quote the value. An error describes; it never dumps.
 */
const maxIssueText = 300

const bounded = (text: string): string => text.length <= maxIssueText ? text : `${text.slice(0, maxIssueText - 1)}…`

/** Deeper than this, a walk stops and calls the value too deep: V8's serializer overflows its stack near here. */
const maxCloneDepth = 1_000

/**
 * The path to the first value the structured clone cannot take, walking in the order it walks
 * (own enumerable string keys; map and set entries by position): a function, a symbol, a proxy,
 * a non-transferred port, a promise or weak collection, a buffer moved away (detached: `moved`), a
 * getter that throws or returns one of these, or a nesting deeper than a clone can go. `undefined`
 * when the walk finds nothing (a host object it does not recognise).
 */
const uncloneablePath = (
  root: unknown
): { readonly path: Array<string | number>; readonly moved: boolean; readonly untransferable?: boolean } | undefined => {
  const seen = new Set<object>()
  const path: Array<string | number> = []
  let moved = false
  // A view over a buffer Node marks untransferable clones, but cannot be moved: the culprit when
  // nothing else in the value is uncloneable (its buffer was in the transfer list).
  let untransferable: Array<string | number> | undefined
  const visit = (value: unknown, depth: number): boolean => {
    if (typeof value === "function" || typeof value === "symbol") return true
    if (typeof value !== "object" || value === null) return false
    // A proxy is never cloned, whatever its target: test before touching it (its traps may throw).
    if (types.isProxy(value) || depth > maxCloneDepth) return true
    if (seen.has(value)) return false
    seen.add(value)
    try {
      if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) {
        // A detached buffer can be neither cloned nor transferred.
        const buffer = ArrayBuffer.isView(value) ? value.buffer : value
        if (untransferable === undefined && buffer instanceof ArrayBuffer && isMarkedAsUntransferable(buffer)) untransferable = [...path]
        return moved = buffer instanceof ArrayBuffer && buffer.detached
      }
      if (types.isPromise(value) || types.isWeakMap(value) || types.isWeakSet(value) || value instanceof WeakRef) return true
      if (typeof (value as { postMessage?: unknown }).postMessage === "function") return true
      if (value instanceof Map || value instanceof Set) {
        let position = 0
        for (const entry of value instanceof Map ? value.entries() : value.values()) {
          path.push(position++)
          if (visit(entry, depth + 1)) return true
          path.pop()
        }
        return false
      }
      for (const key of Reflect.ownKeys(value)) {
        if (typeof key === "symbol") continue
        const descriptor = Object.getOwnPropertyDescriptor(value, key)
        if (descriptor === undefined || !descriptor.enumerable) continue
        path.push(Array.isArray(value) && /^\d+$/.test(key) ? Number(key) : key)
        // The clone reads a getter's value; one that throws stops the clone right here.
        const field = descriptor.get === undefined ? descriptor.value : descriptor.get.call(value)
        if (visit(field, depth + 1)) return true
        path.pop()
      }
      return false
    } catch {
      return true
    }
  }
  try {
    if (visit(root, 0)) return { path, moved }
    return untransferable === undefined ? undefined : { path: untransferable, moved: false, untransferable: true }
  } catch {
    return undefined
  }
}
