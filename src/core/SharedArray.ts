/**
 * Shared arrays: typed arrays and matrices in `SharedArrayBuffer` memory, passed to workers by
 * reference and read there without a copy — Ray's object store for numbers.
 *
 * Contains the models (`SharedArray`, `SharedMatrix` and their read-only views), the Schemas a
 * task declares (`Float64`, `Float64Matrix`, …, `array`, `matrix`) and their guards. The
 * constructors (`make`, `makeMatrix`, `put`, `retain`, `makeUnsafe`, …) and the arena are the
 * public API's (`effect-parallel`'s `SharedArray`), built on the runtime's memory.
 *
 * ```ts
 * const image = yield* SharedArray.makeMatrix("Float64", 3000, 3000)   // freed with the scope
 * fill(image)
 * const out = yield* Task.map(Convolve, filters.map((filter) => ({ image, filter })))
 * ```
 *
 * **How it crosses.** A payload carries the view itself; `postMessage` shares a
 * `SharedArrayBuffer` instead of copying it, so only a handle (buffer reference, offset, length)
 * crosses and the worker's view reads the caller's memory.
 *
 * **Who owns it.** Memory made with `make`/`makeMatrix`/`put` belongs to the Scope that made it
 * (plus any scope that `retain`s it) and to every task in flight whose payload carries it; when
 * the last owner lets go it returns to an arena and is handed out again, zeroed, to the next
 * allocation of its size. So a task that outlives its caller's scope still reads valid memory,
 * and a loop that makes a large array per round does not pile up memory waiting for the garbage
 * collectors of every worker. Results a worker makes with `makeUnsafe` are not arena memory: they
 * live as long as something references them.
 *
 * **Who may write.** A handler sees its payload's shared arrays as read-only views
 * (`ReadonlySharedArray`): other tasks may be reading the same memory. A worker writes only into
 * memory it made for its result. The types prevent accidental writes, not deliberate ones
 * (`new Float64Array(view.buffer)` is not stopped).
 *
 * **Stale views.** After the last owner lets go, the memory may be handed to the next allocation
 * of its size. Arrays and matrices made by `make`/`makeMatrix`/`put` remember which hand-out they
 * belong to, so one kept past its scope is detectably dead even after reuse: a task or actor call
 * carrying it fails with a payload error, `retain` dies, a matrix's `data` throws, and `isLive`
 * says `false`. Index reads and writes through a stale plain view (`array[i]`) are not caught, nor
 * are views the library did not hand out (a `subarray` of one, an array from a worker): those
 * look live again once the memory is reused and then alias the next owner's data.
 *
 * **Plain typed arrays** in payloads (`array(kind, { memory: "copied" })`, or any
 * `Schema.instanceOf(Float64Array)`) still work: `postMessage` copies them into the worker. A
 * shared array given where `"copied"` is declared is copied into a plain buffer by its sender.
 */
import * as Schema from "effect/Schema"

/** Marks a Schema node as shared memory, so a task knows to hold its payloads' arrays. */
export const annotationKey = "effect-parallel/SharedArray"

/**
 * Marks a declared Schema (`Schema.declare`) whose values cross as they are: its encode can only
 * validate, never change a value. The shared array Schemas carry it.
 */
export const encodesAsItselfKey = "effect-parallel/encodesAsItself"

/**
 * Marks a Schema node as a moved (transferred) typed array of the kind it names: the buffer under
 * its value goes in the message's transfer list, and the sender's view is detached.
 */
export const movedKey = "effect-parallel/moved"

/**
 * Marks a Schema node as a copied typed array of the kind it names: a sender copies a shared
 * array found there into a plain buffer before the message is sent, since `postMessage` would
 * share its memory rather than copy it.
 */
export const copiedKey = "effect-parallel/copied"

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/** Element kinds a shared array can hold. */
export type Kind = "Float64" | "Float32" | "Int32" | "Uint8"

export const kinds: ReadonlyArray<Kind> = ["Float64", "Float32", "Int32", "Uint8"]

/** The writable view of each kind over shared memory. */
export interface Views {
  readonly Float64: Float64Array<SharedArrayBuffer>
  readonly Float32: Float32Array<SharedArrayBuffer>
  readonly Int32: Int32Array<SharedArrayBuffer>
  readonly Uint8: Uint8Array<SharedArrayBuffer>
}

/** A typed array in shared memory that its holder may write. */
export type SharedArray<K extends Kind = Kind> = Views[K]

/** The typed-array methods that write, absent from a read-only view. */
export type Writers = "set" | "fill" | "copyWithin" | "reverse" | "sort"

/**
 * A typed array of `kind` that its holder only reads, over any memory: what a kernel declares
 * for an input. A plain `Float64Array`, a shared array, and a handler's read-only view of its
 * payload all fit it without a cast, and writing through it (`a[i] = x`, `fill`, `set`, a
 * `subarray`'s elements) is a type error. It is also an `ArrayLike<number>` and an
 * `Iterable<number>`.
 *
 * ```ts
 * const sum = (a: SharedArray.ReadonlyView<"Float64">): number => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]!; return s }
 * sum(new Float64Array(8))      // a plain array
 * sum(payload.image.data)       // a handler's shared input
 * ```
 *
 * **Gotchas**: TypeScript has no read-only typed arrays, so a kernel typed `(a: Float64Array)`
 * cannot take a read-only view: declare `ReadonlyView` in kernels you write; for one you cannot
 * change, `view as Float64Array` is a deliberate, visible cast.
 */
export type ReadonlyView<K extends Kind = Kind> =
  & { readonly [index: number]: number }
  & Omit<PlainViews[K], Writers | "subarray" | number>
  & { subarray(begin?: number, end?: number): ReadonlyView<K> }

/**
 * A read-only view of a shared array: what a handler sees of its payload. Every reading method of
 * the typed array is there; index writes and writing methods are not, and `subarray` stays
 * read-only. It is a `ReadonlyView` whose memory is a `SharedArrayBuffer`.
 */
export type ReadonlySharedArray<K extends Kind = Kind> =
  & { readonly [index: number]: number }
  & Omit<Views[K], Writers | "subarray" | number>
  & { subarray(begin?: number, end?: number): ReadonlySharedArray<K> }

/**
 * A dense `rows × cols` matrix stored row-major in shared memory: `(i, j)` is `data[i * cols + j]`.
 * In a matrix from `makeMatrix`/`put`, `data` is an accessor that throws once the matrix's memory
 * was released; read it once per kernel call, not per element.
 */
export interface SharedMatrix<K extends Kind = Kind> {
  readonly rows: number
  readonly cols: number
  readonly data: SharedArray<K>
}

export interface ReadonlySharedMatrix<K extends Kind = Kind> {
  readonly rows: number
  readonly cols: number
  readonly data: ReadonlySharedArray<K>
}

/** A row-major matrix that its holder only reads, over any memory: what a kernel declares for an input matrix (see `ReadonlyView`). */
export interface ReadonlyMatrixView<K extends Kind = Kind> {
  readonly rows: number
  readonly cols: number
  readonly data: ReadonlyView<K>
}

/** A row-major matrix over any typed array of its kind (the copied form). */
export interface Matrix<K extends Kind = Kind> {
  readonly rows: number
  readonly cols: number
  readonly data: PlainViews[K]
}

/** The plain typed array of each kind. */
export interface PlainViews {
  readonly Float64: Float64Array
  readonly Float32: Float32Array
  readonly Int32: Int32Array
  readonly Uint8: Uint8Array
}

/** The typed array constructor of each kind. */
export const constructors = {
  Float64: Float64Array,
  Float32: Float32Array,
  Int32: Int32Array,
  Uint8: Uint8Array
} as const

/**
 * `kind`, checked: untyped code may pass any string ("BigInt64", "Uint8Clamped"), whose missing
 * constructor failed far from the call (`instanceof undefined` at a payload's decode, "reading
 * 'BYTES_PER_ELEMENT'" at an allocation).
 */
export const checkKind = <K extends Kind>(kind: K, where: string): K => {
  if (typeof kind !== "string" || !Object.hasOwn(constructors, kind)) {
    throw new RangeError(`${where}: unknown kind ${String(kind)}; the kinds are ${kinds.join(", ")}`)
  }
  return kind
}

/**
 * A typed array's name with its article, for messages: "an Int32Array", "a Float64Array", "a
 * Uint8Array" (said "you-int"), "a BigInt64Array".
 */
export const withArticle = (arrayName: string): string => `${/^[AEIO]/.test(arrayName) ? "an" : "a"} ${arrayName}`

// ---------------------------------------------------------------------------------------------
// Guards
// ---------------------------------------------------------------------------------------------

/** Whether `u` is a typed array of `kind` over a `SharedArrayBuffer`. */
export const isShared = <K extends Kind>(kind: K, u: unknown): u is SharedArray<K> =>
  u instanceof constructors[kind] && u.buffer instanceof SharedArrayBuffer

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

/**
 * `"shared"`: a read-only view of the caller's memory. `"output"`: shared memory the caller lends
 * the task to write its result into (numpy's `out=`): the handler gets a writable view, and the
 * caller reads the result in place — no result buffer is made per task. `"copied"`: a plain typed
 * array, copied by `postMessage`. `"moved"`: a plain typed array whose buffer is transferred, not
 * copied: the sender gives it up (its view is detached, `byteLength` 0) and the receiver gets the
 * same bytes — a worker returns a fresh result with no copy.
 */
export type Memory = "shared" | "output" | "copied" | "moved"

export interface ArraySchema<K extends Kind, M extends Memory> extends
  Schema.declare<M extends "shared" ? ReadonlySharedArray<K> : M extends "output" ? SharedArray<K> : PlainViews[K]>
{}

/** Whether `u` is a typed array of `kind` over an `ArrayBuffer` that was not moved away: one that can be moved. */
export const isMovable = <K extends Kind>(kind: K, u: unknown): u is PlainViews[K] =>
  u instanceof constructors[kind] && u.buffer instanceof ArrayBuffer && !u.buffer.detached

export interface MatrixSchema<K extends Kind, M extends Memory> extends
  Schema.declare<M extends "shared" ? ReadonlySharedMatrix<K> : M extends "output" ? SharedMatrix<K> : Matrix<K>>
{}

const memories: ReadonlyArray<Memory> = ["shared", "output", "copied", "moved"]

/** `memory`, checked: any other string (`"copy"`) was read as `"shared"`. */
const checkMemory = <M extends Memory>(memory: M, where: string): M => {
  if (!memories.includes(memory)) {
    throw new RangeError(`${where}: unknown memory ${String(memory)}; it is one of ${memories.join(", ")}`)
  }
  return memory
}

const arraySchemas = new Map<string, Schema.Top>()

/** The kind and memory of a Schema made by `array`, or `undefined` for any other Schema. */
export const arrayElementOf = (schema: Schema.Top): { readonly kind: Kind; readonly memory: Memory } | undefined => {
  for (const [key, made] of arraySchemas) {
    if (made !== schema) continue
    const [kind, memory] = key.split("/") as [Kind, Memory]
    return { kind, memory }
  }
  return undefined
}

/**
 * The Schema of a typed array of `kind`. `memory: "shared"` (default) accepts only views over a
 * `SharedArrayBuffer` and gives handlers read-only views; `"output"` is the same memory given to
 * the handler writable, for its result; `"copied"` accepts any typed array of the kind, which
 * `postMessage` copies (a shared one its sender copies into a plain buffer first); `"moved"` accepts a typed array over an `ArrayBuffer` and transfers its
 * buffer (payloads caller → worker, results worker → caller): no copy, and the sender's view is
 * detached once the message is sent.
 *
 * **Gotchas**: an output must not be read by another task while the task writing it runs. A
 * moved array takes its whole buffer with it: every other view of that buffer (a `subarray`'s
 * parent) is detached too. A moved array can be sent once: one already moved away, or one over a
 * `SharedArrayBuffer`, fails its own task with `PayloadInvalid`; the same array in two payloads
 * fails the second.
 */
export const array = <K extends Kind, M extends Memory = "shared">(
  kind: K,
  options?: { readonly memory?: M | undefined }
): ArraySchema<K, M> => {
  const memory = checkMemory(options?.memory ?? "shared", "SharedArray.array")
  const key = `${checkKind(kind, "SharedArray.array")}/${memory}`
  let schema = arraySchemas.get(key)
  if (schema === undefined) {
    schema = memory === "moved"
      ? Schema.declare((u): u is PlainViews[K] => isMovable(kind, u), {
        expected: `${withArticle(`${kind}Array`)} over an ArrayBuffer that was not moved away already`,
        [movedKey]: kind,
        [encodesAsItselfKey]: true
      })
      : memory !== "copied"
      ? Schema.declare((u): u is ReadonlySharedArray<K> => isShared(kind, u), {
        expected: `${withArticle(`${kind}Array`)} over a SharedArrayBuffer (make one with SharedArray.make)`,
        [annotationKey]: kind,
        [encodesAsItselfKey]: true
      })
      : Schema.declare((u): u is PlainViews[K] => u instanceof constructors[kind], {
        expected: withArticle(`${kind}Array`),
        [copiedKey]: kind,
        [encodesAsItselfKey]: true
      })
    arraySchemas.set(key, schema)
  }
  return schema as ArraySchema<K, M>
}

const matrixSchemas = new Map<string, Schema.Top>()

/**
 * The Schema of a `rows × cols` matrix of `kind`; `data.length` must equal `rows * cols`.
 * `memory` as in `array`.
 */
export const matrix = <K extends Kind, M extends Memory = "shared">(
  kind: K,
  options?: { readonly memory?: M | undefined }
): MatrixSchema<K, M> => {
  const memory = checkMemory(options?.memory ?? "shared", "SharedArray.matrix")
  const key = `${checkKind(kind, "SharedArray.matrix")}/${memory}`
  let schema = matrixSchemas.get(key)
  if (schema === undefined) {
    schema = Schema.Struct({ rows: Schema.Int, cols: Schema.Int, data: array(kind, { memory }) }).check(
      Schema.makeFilter((m) =>
        m.rows >= 0 && m.cols >= 0 && m.data.length === m.rows * m.cols
          ? undefined
          : `a ${m.rows}×${m.cols} matrix needs ${m.rows * m.cols} elements, data has ${m.data.length}`
      )
    )
    matrixSchemas.set(key, schema)
  }
  return schema as unknown as MatrixSchema<K, M>
}

export const Float64: ArraySchema<"Float64", "shared"> = array("Float64")
export const Float32: ArraySchema<"Float32", "shared"> = array("Float32")
export const Int32: ArraySchema<"Int32", "shared"> = array("Int32")
export const Uint8: ArraySchema<"Uint8", "shared"> = array("Uint8")
export const Float64Matrix: MatrixSchema<"Float64", "shared"> = matrix("Float64")
export const Float32Matrix: MatrixSchema<"Float32", "shared"> = matrix("Float32")
export const Int32Matrix: MatrixSchema<"Int32", "shared"> = matrix("Int32")
export const Uint8Matrix: MatrixSchema<"Uint8", "shared"> = matrix("Uint8")

