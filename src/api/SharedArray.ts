/**
 * Shared arrays: typed arrays and matrices in `SharedArrayBuffer` memory, passed to workers by
 * reference and read there without a copy — Ray's object store for numbers.
 *
 * The models and Schemas (see `core/SharedArray.ts`), and the constructors: scoped (`make`,
 * `makeMatrix`, their `…Uninitialized` forms, `put`, `retain`), unscoped for a worker's results (`makeUnsafe`,
 * `makeMatrixUnsafe`), the liveness check (`isLive`) and the arena (`layerArena`, `arenaStats`).
 * Ownership, reuse and how stale views are caught (and where they are not) are described in
 * `runtime/memory/Arena.ts`.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import {
  checkKind,
  constructors,
  type Kind,
  type ReadonlySharedArray,
  type ReadonlySharedMatrix,
  type SharedArray,
  type SharedMatrix
} from "../core/SharedArray.ts"
import {
  Arena,
  type ArenaOptions,
  type ArenaStats,
  CurrentArena,
  type Grant,
  grantOf,
  isCurrent,
  register,
  releaseMemory,
  retainMemory,
  stateOf
} from "../runtime/memory/Arena.ts"

export * from "../core/SharedArray.ts"
export type { ArenaOptions, ArenaStats } from "../runtime/memory/Arena.ts"

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

/**
 * A zeroed shared array of `length` elements, owned by the current Scope: when the scope closes
 * (and no task in flight still carries it) its memory returns to the arena.
 *
 * **Details**: made in a loop (an image per round), it reuses the memory the last round released,
 * zeroed in the background between rounds rather than when it is made (`runtime/memory/Arena.ts`,
 * rule 7). Memory that is about to be overwritten anyway is cheaper from `makeUninitialized`.
 */
export const make = <K extends Kind>(kind: K, length: number): Effect.Effect<SharedArray<K>, never, Scope.Scope> =>
  allocate(kind, length, true)

/**
 * A shared array of `length` elements whose contents are unspecified (numpy's `empty`): for memory
 * the caller overwrites in full before anyone reads it. Owned by the current Scope, like `make`.
 *
 * **Gotchas**: reused memory holds what its previous owner in this program wrote; nothing is
 * zeroed, so a kernel that reads an element before writing it reads that.
 */
export const makeUninitialized = <K extends Kind>(
  kind: K,
  length: number
): Effect.Effect<SharedArray<K>, never, Scope.Scope> => allocate(kind, length, false)

/**
 * A zeroed `rows × cols` shared matrix owned by the current Scope (see `make`).
 *
 * **Gotchas**: reading `data` throws once the matrix's owners have all let go — its memory may
 * belong to the next allocation by then. `data` is an accessor that checks this on every read:
 * a hot loop should read it once into a local (the kernels do).
 */
export const makeMatrix = <K extends Kind>(
  kind: K,
  rows: number,
  cols: number
): Effect.Effect<SharedMatrix<K>, never, Scope.Scope> => allocateMatrix(kind, rows, cols, true)

/** A `rows × cols` shared matrix whose contents are unspecified (see `makeUninitialized`, `makeMatrix`). */
export const makeMatrixUninitialized = <K extends Kind>(
  kind: K,
  rows: number,
  cols: number
): Effect.Effect<SharedMatrix<K>, never, Scope.Scope> => allocateMatrix(kind, rows, cols, false)

/**
 * Copies `source` into shared memory owned by the current Scope, once: like `ray.put`, the
 * result can then go to any number of tasks, submitted now or later, without another copy. The
 * memory is not zeroed first: the copy writes all of it.
 *
 * **Gotchas**: a matrix's `data` throws once its owners have all let go (see `makeMatrix`). A matrix
 * source whose `data` does not hold `rows × cols` numbers dies with a `RangeError`, a source moved
 * away (detached) with a `TypeError`.
 */
export const put: {
  <K extends Kind>(kind: K, source: ArrayLike<number>): Effect.Effect<SharedArray<K>, never, Scope.Scope>
  <K extends Kind>(
    kind: K,
    source: { readonly rows: number; readonly cols: number; readonly data: ArrayLike<number> }
  ): Effect.Effect<SharedMatrix<K>, never, Scope.Scope>
} = (kind: Kind, source: ArrayLike<number> | { rows: number; cols: number; data: ArrayLike<number> }): any =>
  "data" in source && "rows" in source
    ? Effect.suspend(() => {
      if (isDetached(source.data)) return Effect.die(movedAway())
      // The memory is not zeroed: a shorter source would leave the rest holding the numbers of
      // its previous owner in this program.
      if (source.data.length !== checkedCount(source.rows, source.cols)) {
        return Effect.die(
          new RangeError(`SharedArray.put: a ${source.rows}×${source.cols} matrix needs ${source.rows * source.cols} elements, data has ${source.data.length}`)
        )
      }
      return Effect.map(allocateMatrix(kind, source.rows, source.cols, false), (m) => {
        m.data.set(source.data)
        return m
      })
    })
    : Effect.suspend(() =>
      // Else `set` threw V8's "Cannot perform %TypedArray%.prototype.set on a detached ArrayBuffer",
      // naming neither the call nor why, once the memory was taken.
      isDetached(source)
        ? Effect.die(movedAway())
        : Effect.map(allocate(kind, (source as ArrayLike<number>).length, false), (a) => {
          a.set(source as ArrayLike<number>)
          return a
        })
    )

const isDetached = (source: unknown): boolean =>
  ArrayBuffer.isView(source) && source.buffer instanceof ArrayBuffer && source.buffer.detached

const movedAway = () =>
  new TypeError("SharedArray.put: the source was moved away (its buffer is detached, e.g. sent as a moved array): there is nothing to copy")

const allocate = <K extends Kind>(
  kind: K,
  length: number,
  zeroed: boolean
): Effect.Effect<SharedArray<K>, never, Scope.Scope> =>
  Effect.flatMap(CurrentArena, (arena) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const bytes = byteLength(kind, length)
        const grant = allocating(kind, length, bytes, () => arena.acquire(bytes, zeroed))
        const array = view(kind, grant.block.buffer, length)
        register(array, grant)
        return array
      }),
      (array) => Effect.sync(() => releaseMemory(array))
    ))

const allocateMatrix = <K extends Kind>(
  kind: K,
  rows: number,
  cols: number,
  zeroed: boolean
): Effect.Effect<SharedMatrix<K>, never, Scope.Scope> =>
  Effect.suspend(() =>
    Effect.map(allocate(kind, checkedCount(rows, cols), zeroed), (data) => guardedMatrix(rows, cols, data, grantOf(data)!))
  )

/**
 * Makes the current Scope one more owner of `array` (or a matrix's data): its memory stays valid
 * until this scope closes too. Arrays that are not arena memory (made by `makeUnsafe`, or
 * received from a worker) are left to the garbage collector and need no owner.
 *
 * **Gotchas**: dies if the array's owners have all let go already — its memory may be reused,
 * and retaining it would make this scope an owner of someone else's data. For arrays the library
 * handed out this holds even after the memory was reused; a `subarray` of one is judged by its
 * buffer alone (see `isLive`).
 */
export const retain = (
  array: ReadonlySharedArray | ReadonlySharedMatrix
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.suspend(() => {
    const memory = memoryOf(array)
    switch (stateOf(memory)) {
      case "unmanaged":
        return Effect.void
      case "released":
        return Effect.die(
          new Error("SharedArray.retain: the array's owners have all released it; its memory may now belong to another owner")
        )
      case "live":
        return Effect.acquireRelease(
          Effect.sync(() => retainMemory(memory)),
          () => Effect.sync(() => releaseMemory(memory))
        )
    }
  })

/**
 * Whether a shared array or matrix still has an owner: `false` once every owner let go, when a
 * stale view may alias the next owner's memory.
 *
 * **When to use**: before reading an array kept past its scope (a cache, a closure), when it is
 * not certain that a scope still owns it.
 *
 * **Details**: arrays and matrices that `make`, `makeMatrix` and `put` handed out carry the
 * generation of the memory they were made for, so they read `false` even after that memory was
 * handed to a new owner. Anything else is judged by its buffer: a `subarray` of a library view
 * (`true` again once its memory is reused), an array received from a worker or made by
 * `makeUnsafe` (always `true`: the garbage collector keeps its buffer alive — but a worker's view
 * of arena memory the caller sent aliases that memory, and still reads `true` once it is reused).
 *
 * **Gotchas**: reads through a stale plain view (`array[i]`) are not caught — a typed array cannot
 * check its indexing without slowing every read. Only its use is: a task or actor call carrying it
 * fails with `TaskError` / `PayloadInvalid`, `retain` dies, and a matrix's `data` throws.
 */
export const isLive = (array: ReadonlySharedArray | ReadonlySharedMatrix): boolean =>
  stateOf(memoryOf(array)) !== "released"

/**
 * A writable view of a shared array the caller owns outright — typically a worker's result, whose
 * Schema type is read-only because the same Schema also types handler inputs.
 *
 * **Gotchas**: writing to memory a running task reads is a data race; this is for results.
 */
export const asWritable: {
  <K extends Kind>(array: ReadonlySharedArray<K>): SharedArray<K>
  <K extends Kind>(matrix: ReadonlySharedMatrix<K>): SharedMatrix<K>
} = (value: unknown): any => value

/**
 * A zeroed shared array that no scope owns: the garbage collector frees it once nothing
 * references it. This is how a worker returns a result by reference: it makes the result here,
 * fills it, and returns it; the caller then reads the same memory.
 */
export const makeUnsafe = <K extends Kind>(kind: K, length: number): SharedArray<K> => {
  const bytes = byteLength(kind, length)
  return view(kind, allocating(kind, length, bytes, () => new SharedArrayBuffer(bytes)), length)
}

/** A zeroed `rows × cols` shared matrix that no scope owns (see `makeUnsafe`). */
export const makeMatrixUnsafe = <K extends Kind>(kind: K, rows: number, cols: number): SharedMatrix<K> => ({
  rows,
  cols,
  data: makeUnsafe(kind, checkedCount(rows, cols))
})

// ---------------------------------------------------------------------------------------------
// The arena
// ---------------------------------------------------------------------------------------------

/**
 * Gives the scope its own arena: `make`s within it reuse each other's released memory, and its
 * idle memory is dropped when the Layer closes. Without it, each thread has one default arena
 * that keeps up to 512 MB of idle memory for the life of the program. Dies with a `RangeError`
 * when `maxIdleBytes` is not a number ≥ 0 (`Infinity`: no cap).
 */
export const layerArena = (options?: ArenaOptions): Layer.Layer<never> =>
  Layer.effectContext(
    Effect.map(
      Effect.acquireRelease(
        // Scrubbed as its thread's arena is: in a simulated world, on the world's steps.
        Effect.flatMap(CurrentArena, (outer) => Effect.sync(() => new Arena(options, outer.defer))),
        (arena) => Effect.sync(() => arena.close())
      ),
      (arena) => CurrentArena.context(arena)
    )
  ) as Layer.Layer<never>

/** Counts of live and idle memory in the current arena. */
export const arenaStats: Effect.Effect<ArenaStats> = Effect.map(CurrentArena, (arena) => arena.stats())

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

const byteLength = (kind: Kind, length: number): number => {
  checkKind(kind, "SharedArray")
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`SharedArray: length must be a non-negative integer, got ${length}`)
  }
  return length * constructors[kind].BYTES_PER_ELEMENT
}

const checkedCount = (rows: number, cols: number): number => {
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0) {
    throw new RangeError(`SharedArray: a matrix needs non-negative integer dimensions, got ${rows}×${cols}`)
  }
  const count = rows * cols
  // Past 2⁵³ the product is rounded: no array is that long, and "length must be an integer" would blame the caller's numbers.
  if (!Number.isSafeInteger(count)) throw new RangeError(`SharedArray: a ${rows}×${cols} matrix has ${count} elements, more than an array can hold`)
  return count
}

/**
 * Runs `allocate`, saying what could not be allocated: V8's own "Array buffer allocation failed"
 * (more than the machine can give) or "Invalid array buffer length" names neither the call nor the size.
 */
const allocating = <A>(kind: Kind, length: number, bytes: number, allocate: () => A): A => {
  try {
    return allocate()
  } catch (error) {
    if (!(error instanceof RangeError)) throw error
    throw new RangeError(`SharedArray: cannot allocate ${length} ${kind} elements (${bytes} bytes): ${error.message}`, { cause: error })
  }
}

const view = <K extends Kind>(kind: K, buffer: SharedArrayBuffer, length: number): SharedArray<K> =>
  new (constructors[kind] as Float64ArrayConstructor)(buffer, 0, length) as unknown as SharedArray<K>

/**
 * A matrix whose `data` throws once `grant` lost its block (Arena rule 6), so a matrix kept past
 * its scope fails where it is read instead of aliasing the next owner's numbers. `data` is an own,
 * enumerable accessor: the matrix Schema reads it like a field, and `postMessage`'s structured
 * clone copies it into a plain field on the other side (the worker's view of live memory). The
 * matrix carries the grant itself, so `hold` and `retain` check it without calling the accessor.
 */
const guardedMatrix = <K extends Kind>(
  rows: number,
  cols: number,
  data: SharedArray<K>,
  grant: Grant
): SharedMatrix<K> => {
  const matrix = { rows, cols } as { rows: number; cols: number; data: SharedArray<K> }
  Object.defineProperty(matrix, "data", {
    enumerable: true,
    get: () => {
      if (isCurrent(grant)) return data
      throw new Error(
        `SharedArray: this ${rows}×${cols} matrix was released (every scope that owned it has closed); ` +
          "its memory may now belong to another owner"
      )
    }
  })
  // Error messages render a task's input with `util.inspect`, which shows an accessor as
  // `[Getter]`: this shows the numbers while the matrix is live. Not enumerable, and a symbol key,
  // so neither the Schema nor a structured clone sees it.
  Object.defineProperty(matrix, inspectSymbol, {
    value: (_depth: number, options: object, inspect: (value: unknown, options: object) => string) =>
      inspect({ rows, cols, data: isCurrent(grant) ? data : "<released>" }, options)
  })
  register(matrix, grant)
  return matrix
}

const inspectSymbol = Symbol.for("nodejs.util.inspect.custom")

/**
 * What owns `array`'s memory for `retain`/`isLive`: the array or matrix itself when the library
 * made it (its grant), else the view (a matrix's `data` is then a plain field, safe to read).
 */
const memoryOf = (array: ReadonlySharedArray | ReadonlySharedMatrix): object =>
  grantOf(array) !== undefined || ArrayBuffer.isView(array) ? array : (array as ReadonlySharedMatrix).data
