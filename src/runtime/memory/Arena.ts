/**
 * The shared-memory arena: where `SharedArray` memory comes from, who owns it, and where it goes.
 *
 * Contains the `Arena` (idle `SharedArrayBuffer`s by size, reused instead of left to the garbage
 * collector), the block registry (reference count and generation per buffer, kept in the thread
 * that allocated it), the grants (which hand-out of a block each view or matrix the library made
 * belongs to) and the holds a submission takes on the shared arrays in its payloads.
 *
 * Why reuse: a `SharedArrayBuffer`'s memory comes back only after the allocating thread *and every
 * worker that saw it* have collected garbage, so a fresh 72 MB image per round piles up to GBs
 * before any of it is freed. Memory that goes back to an arena is handed out again to the next
 * allocation of the same size: the workers keep seeing the same backing store and nothing grows.
 *
 * Rules:
 * 1. A block is live (`refs > 0`), idle (in the arena, `refs === 0`), or dropped (left to the GC,
 *    `refs === 0`); only the thread that allocated it changes its count.
 * 2. `refs` counts owners: every scope that made or retained the array, and every submission in
 *    flight whose payloads carry it. Workers hold memory only through those submissions.
 * 3. Only a block whose count reached 0 goes back to the arena; a live block is never handed out.
 * 4. Memory handed out as zeroed (`make`) is zero. A released block is dirty; a zeroed request takes
 *    a clean block, else — when its size is scrubbed (rule 7) and one dirty block waits, being
 *    scrubbed — a new buffer (the OS hands it out zeroed, lazily), else it zeroes a dirty block at
 *    once. An uninitialized request (`makeUninitialized`, `put`) prefers a dirty block and never
 *    zeroes: it may see its previous owner's bytes — memory of this same program, like numpy's
 *    `empty`.
 * 5. A payload carrying an array whose block is no longer live fails that task with a payload
 *    error: its memory may already belong to someone else.
 * 6. Every hand-out of a block bumps its generation, and each view or matrix the library makes for
 *    it is granted that generation: it is live only while its block has owners *and* is still at
 *    that generation. `hold`, `retain`, `isLive` and a matrix's `data` compare generations, never
 *    the count alone: once the block is reused its count is above 0 again, for the next owner.
 *    Views the library did not make (a `subarray`, an array a worker sent, `makeUnsafe`) carry no
 *    grant and are judged by their buffer's count alone, so a stale one is not caught after reuse.
 * 7. A size that was once asked for zeroed memory with only dirty blocks idle is scrubbed: its
 *    released blocks are zeroed in slices between the thread's other work (`setImmediate`; a
 *    simulated process's own steps, so a run replays), so a loop that makes a zeroed image per
 *    round finds a clean block ready instead of writing 72 MB on its hot path. A block taken
 *    while being scrubbed stops being scrubbed; closing the arena stops scrubbing.
 *
 * What is not caught: index reads and writes through a stale plain view (`array[i]`). A typed
 * array cannot intercept them without slowing every access; only a matrix's `data` accessor and the
 * uses above check. `SharedArray.isLive` lets a caller ask.
 */
import { Buffer } from "node:buffer"
import * as Context from "effect/Context"
import type * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import { annotationKey, encodesAsItselfKey, movedKey } from "../../core/SharedArray.ts"
import type { PayloadIssue } from "../protocol/protocol.ts"

export interface ArenaStats {
  /** Blocks with at least one owner. */
  readonly liveBlocks: number
  readonly liveBytes: number
  /** Blocks kept for reuse. */
  readonly idleBlocks: number
  readonly idleBytes: number
  /** Allocations served from idle memory instead of a new buffer. */
  readonly reused: number
  /** New buffers allocated. */
  readonly allocated: number
  /** Dirty blocks zeroed on the spot for a zeroed request (the slow path rule 7 avoids). */
  readonly zeroedOnAcquire: number
  /** Dirty blocks zeroed in the background (rule 7). */
  readonly scrubbed: number
}

export interface ArenaOptions {
  /** Idle memory kept for reuse; beyond it, released memory is left to the garbage collector. */
  readonly maxIdleBytes?: number | undefined
}

/** Runs `f` after the thread's current work (rule 7's slices); returns how to cancel it. */
export type Defer = (f: () => void) => () => void

const deferImmediate: Defer = (f) => {
  // Unref'd: zeroing memory for a reuse that a finished program will never make must not keep it alive.
  const immediate = setImmediate(f).unref()
  return () => clearImmediate(immediate)
}

/** Default cap on idle memory: a few large images' worth. */
export const defaultMaxIdleBytes = 512 * 1024 * 1024

/** One buffer an arena allocated, for its whole life: reuse keeps the block and bumps `generation`. */
export interface Block {
  readonly arena: Arena
  readonly buffer: SharedArrayBuffer
  refs: number
  /** How many times the block was handed out (rule 6). */
  generation: number
}

/** One hand-out of a block: what a view or matrix the library made remembers of it (rule 6). */
export interface Grant {
  readonly block: Block
  readonly generation: number
}

/** Blocks by buffer, for the buffers this thread allocated from an arena (rule 1). */
const blocks = new WeakMap<SharedArrayBuffer, Block>()

/**
 * The grant of each view and matrix the library handed out in this thread (rule 6). Weak: a view
 * nobody references costs nothing here.
 */
const grants = new WeakMap<object, Grant>()

/** Idle blocks of one size (rules 4, 7). */
interface SizeClass {
  readonly clean: Array<Block>
  readonly dirty: Array<Block>
  /** Released blocks of this size are zeroed in the background (rule 7). */
  scrub: boolean
}

/** Bytes zeroed per background slice: ~0.2 ms here, short enough not to delay a reply noticeably. */
const scrubSliceBytes = 2 * 1024 * 1024

export class Arena {
  private readonly maxIdleBytes: number
  private readonly idle = new Map<number, SizeClass>()
  private idleBytes = 0
  private idleBlocks = 0
  private liveBlocks = 0
  private liveBytes = 0
  private reused = 0
  private allocated = 0
  private zeroedOnAcquire = 0
  private scrubbed = 0
  private closed = false
  /** Dirty blocks waiting to be scrubbed, oldest first; the first is being scrubbed from `scrubOffset`. */
  private readonly scrubQueue: Array<Block> = []
  private scrubOffset = 0
  /** Cancels the pending scrub slice. */
  private scrubTimer: (() => void) | undefined

  /** Schedules rule 7's slices; an arena made for a scope inherits its thread's. */
  readonly defer: Defer

  constructor(options?: ArenaOptions, defer: Defer = deferImmediate) {
    this.defer = defer
    const maxIdleBytes = options?.maxIdleBytes ?? defaultMaxIdleBytes
    // NaN would make `free`'s cap check never true: every released block kept for ever.
    if (typeof maxIdleBytes !== "number" || !(maxIdleBytes >= 0)) {
      throw new RangeError(`SharedArray.layerArena: maxIdleBytes must be a number of bytes >= 0, or Infinity; got ${String(maxIdleBytes)}`)
    }
    this.maxIdleBytes = maxIdleBytes
  }

  /**
   * A block of `byteLength` bytes with one owner, at a new generation (rules 3, 4, 6, 7): zeroed
   * unless `zeroed` is false. The caller `register`s the views it makes over `grant.block.buffer`
   * with the grant.
   */
  acquire(byteLength: number, zeroed = true): Grant {
    const size = this.idle.get(byteLength)
    let block: Block | undefined
    if (size !== undefined) {
      if (!zeroed) {
        block = size.dirty.pop() ?? size.clean.pop()
      } else if ((block = size.clean.pop()) === undefined && size.dirty.length > 0) {
        if (!size.scrub || size.dirty.length > 1) {
          // The block being scrubbed needs only its rest; any other, all of it.
          const scrubbing = this.scrubQueue[0]
          const partly = scrubbing !== undefined && scrubbing.buffer.byteLength === byteLength
          block = partly ? scrubbing : size.dirty.pop()!
          if (partly) size.dirty.splice(size.dirty.indexOf(block), 1)
          zeroFill(block.buffer, partly ? this.scrubOffset : 0)
          this.zeroedOnAcquire++
        }
        if (!size.scrub) {
          // From now on this size is scrubbed; the next time its only dirty block is still being
          // scrubbed, a new buffer is cheaper than zeroing it on the spot (rule 4).
          size.scrub = true
          for (const dirty of size.dirty) this.scrubQueue.push(dirty)
        }
        this.scheduleScrub()
      }
    }
    if (block !== undefined) {
      this.unqueue(block)
      this.idleBytes -= byteLength
      this.idleBlocks--
      this.reused++
      block.generation++
      block.refs = 1
    } else {
      const buffer = new SharedArrayBuffer(byteLength)
      block = { arena: this, buffer, refs: 1, generation: 1 }
      blocks.set(buffer, block)
      this.allocated++
    }
    this.liveBlocks++
    this.liveBytes += byteLength
    return { block, generation: block.generation }
  }

  stats(): ArenaStats {
    return {
      liveBlocks: this.liveBlocks,
      liveBytes: this.liveBytes,
      idleBlocks: this.idleBlocks,
      idleBytes: this.idleBytes,
      reused: this.reused,
      allocated: this.allocated,
      zeroedOnAcquire: this.zeroedOnAcquire,
      scrubbed: this.scrubbed
    }
  }

  /** Drops idle memory and stops keeping any or scrubbing (the arena's Layer is closing). */
  close(): void {
    this.closed = true
    this.idle.clear()
    this.idleBytes = 0
    this.idleBlocks = 0
    this.scrubQueue.length = 0
    this.scrubTimer?.()
    this.scrubTimer = undefined
  }

  /** @internal the last owner of `block` let go (rule 3). */
  free(block: Block): void {
    const byteLength = block.buffer.byteLength
    this.liveBlocks--
    this.liveBytes -= byteLength
    if (this.closed || this.idleBytes + byteLength > this.maxIdleBytes) return
    let size = this.idle.get(byteLength)
    if (size === undefined) this.idle.set(byteLength, size = { clean: [], dirty: [], scrub: false })
    size.dirty.push(block)
    this.idleBytes += byteLength
    this.idleBlocks++
    if (size.scrub) {
      this.scrubQueue.push(block)
      this.scheduleScrub()
    }
  }

  private unqueue(block: Block): void {
    const at = this.scrubQueue.indexOf(block)
    if (at === -1) return
    this.scrubQueue.splice(at, 1)
    if (at === 0) this.scrubOffset = 0
  }

  private scheduleScrub(): void {
    if (this.scrubTimer !== undefined || this.scrubQueue.length === 0) return
    this.scrubTimer = this.defer(this.scrubSlice)
  }

  /** Zeroes one slice of the oldest dirty block; a finished block moves to its size's clean list. */
  private readonly scrubSlice = (): void => {
    this.scrubTimer = undefined
    const block = this.scrubQueue[0]
    if (block === undefined) return
    const end = Math.min(block.buffer.byteLength, this.scrubOffset + scrubSliceBytes)
    zeroFill(block.buffer, this.scrubOffset, end)
    this.scrubOffset = end
    if (end === block.buffer.byteLength) {
      this.scrubQueue.shift()
      this.scrubOffset = 0
      const size = this.idle.get(end)!
      size.dirty.splice(size.dirty.indexOf(block), 1)
      size.clean.push(block)
      this.scrubbed++
    }
    this.scheduleScrub()
  }
}

/** Bytes checked (and, when not all zero, written) at a time by `zeroFill`. */
const zeroChunkBytes = 64 * 1024
const zeroChunk = Buffer.alloc(zeroChunkBytes)

/**
 * Zeroes `[from, to)` of `buffer`, writing only the 64 KB chunks that are not zero already. A
 * chunk never written since the OS handed it out reads as zero from one shared zero page, and
 * stays that way only while nobody writes it: a zero image made round after round and only read
 * keeps its cheap zero pages (kernels read them in 15 against 21 ms per 72 MB of written zeros
 * here). The check is a native compare (`Buffer#equals`, a JavaScript loop was 10× slower): ~2 ms
 * per 72 MB of such pages, under 1 ms for written data (it stops at the first difference), about
 * a write's cost for zeros that were written. Writes go through 8-byte elements:
 * `Uint8Array#fill` on shared memory runs ~2.7× slower than `Float64Array#fill` (27 against 10 ms).
 */
const zeroFill = (buffer: SharedArrayBuffer, from: number, to = buffer.byteLength): void => {
  const wideFrom = Math.min(to, Math.ceil(from / 8) * 8)
  const wideTo = Math.max(wideFrom, Math.floor(to / 8) * 8)
  new Uint8Array(buffer, from, wideFrom - from).fill(0)
  new Uint8Array(buffer, wideTo, to - wideTo).fill(0)
  if (wideTo === wideFrom) return
  const doubles = new Float64Array(buffer, wideFrom, (wideTo - wideFrom) / 8)
  for (let start = wideFrom; start < wideTo; start += zeroChunkBytes) {
    const length = Math.min(zeroChunkBytes, wideTo - start)
    const zero = length === zeroChunkBytes ? zeroChunk : zeroChunk.subarray(0, length)
    if (!Buffer.from(buffer, start, length).equals(zero)) {
      doubles.fill(0, (start - wideFrom) / 8, (start - wideFrom + length) / 8)
    }
  }
}

/**
 * The arena `SharedArray` allocations use. By default one per thread, kept for the life of the
 * program (a simulated process has its own, for the life of its run); `SharedArray.layerArena`
 * gives a scope its own.
 */
export const CurrentArena = Context.Reference<Arena>("effect-parallel/SharedArray/Arena", {
  defaultValue: () => globalArena ??= new Arena()
})
let globalArena: Arena | undefined

// ---------------------------------------------------------------------------------------------
// Grants and owners
// ---------------------------------------------------------------------------------------------

/** Records that `value` (a view over `grant.block.buffer`, or a matrix of one) was made for `grant`. */
export const register = (value: object, grant: Grant): void => {
  grants.set(value, grant)
}

/** The grant `value` was made for, if the library made it in this thread. */
export const grantOf = (value: object): Grant | undefined => grants.get(value)

/**
 * Whether the hand-out `grant` still owns its block (rule 6). Two loads and two compares: cheap
 * enough for a matrix's `data` accessor.
 */
export const isCurrent = (grant: Grant): boolean => grant.block.refs > 0 && grant.block.generation === grant.generation

/**
 * Whether `value` is arena memory of this thread and whether it is still live: by its grant when
 * the library made it (rule 6), else by its buffer's count (a view over a buffer no arena of this
 * thread made is `"unmanaged"`).
 */
export const stateOf = (value: ArrayBufferView | object): "live" | "released" | "unmanaged" => {
  const grant = grants.get(value)
  if (grant !== undefined) return isCurrent(grant) ? "live" : "released"
  return ArrayBuffer.isView(value) ? bufferState(value.buffer) : "unmanaged"
}

/** Adds an owner to the memory of `value`; false when it is not live arena memory (rule 6). */
export const retainMemory = (value: ArrayBufferView | object): boolean => {
  const grant = grants.get(value)
  if (grant === undefined) return ArrayBuffer.isView(value) && retainBuffer(value.buffer)
  if (!isCurrent(grant)) return false
  grant.block.refs++
  return true
}

/**
 * Removes an owner from the memory of `value`; the last one returns it to its arena (rule 3). A
 * grant of an older generation releases nothing: the count now belongs to the block's next owner.
 */
export const releaseMemory = (value: ArrayBufferView | object): void => {
  const grant = grants.get(value)
  if (grant === undefined) {
    if (ArrayBuffer.isView(value)) releaseBuffer(value.buffer)
  } else if (isCurrent(grant) && --grant.block.refs === 0) {
    grant.block.arena.free(grant.block)
  }
}

const retainBuffer = (buffer: ArrayBufferLike): boolean => {
  const block = blocks.get(buffer as SharedArrayBuffer)
  if (block === undefined || block.refs === 0) return false
  block.refs++
  return true
}

const releaseBuffer = (buffer: ArrayBufferLike): void => {
  const block = blocks.get(buffer as SharedArrayBuffer)
  if (block === undefined || block.refs === 0) return
  if (--block.refs === 0) block.arena.free(block)
}

const bufferState = (buffer: ArrayBufferLike): "live" | "released" | "unmanaged" => {
  const block = blocks.get(buffer as SharedArrayBuffer)
  return block === undefined ? "unmanaged" : block.refs > 0 ? "live" : "released"
}

// ---------------------------------------------------------------------------------------------
// Holds: a submission owns the shared arrays its payloads carry until its tasks are done
// ---------------------------------------------------------------------------------------------

/**
 * What `hold` found: the buffers it retained, where a released one is (rule 5), or where a payload
 * could not be walked (a getter or proxy trap threw, or it nests deeper than the stack goes: it
 * could not be sent either). Either refusal names the payload by its index.
 */
export type Hold =
  | { readonly _tag: "Held"; readonly release: () => void }
  | { readonly _tag: "Released"; readonly index: number; readonly issue: PayloadIssue }
  | { readonly _tag: "Unwalkable"; readonly index: number; readonly issue: PayloadIssue }

const nothingHeld: Hold = { _tag: "Held", release: () => {} }

const unwalkableMessage = (error: unknown): string => {
  let reason: string
  try {
    reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  } catch {
    reason = "unknown error"
  }
  // A hostile getter's exception may say anything: an error describes, it never dumps.
  if (reason.length > 200) reason = `${reason.slice(0, 199)}…`
  return `cannot be sent to a worker (${reason})`
}

/** The payload error of rule 5. */
export const releasedMessage =
  "this shared array was released (every scope that owned it has closed): its memory may now belong to another owner"

/**
 * Retains every arena buffer reachable from `payloads` (each once) until `release` is called.
 * Walks plain objects, arrays, Maps and Sets, each object once (a payload may hold cycles, as a
 * structured clone may); typed arrays are leaves, and so are matrices the library made: their
 * grant is checked instead of their `data` accessor, which throws once they are released.
 */
export const hold = (payloads: ReadonlyArray<unknown>): Hold => {
  const held = new Set<Block>()
  const seen = new Set<object>()
  const path: Array<string | number> = []
  let released = false
  const take = (block: Block): void => {
    if (held.has(block)) return
    block.refs++
    held.add(block)
  }
  const visit = (value: unknown): void => {
    if (released || typeof value !== "object" || value === null || seen.has(value)) return
    seen.add(value)
    const grant = grants.get(value)
    if (grant !== undefined) {
      // Rule 6: the generation decides. The count alone says "live" for a reused block.
      if (isCurrent(grant)) take(grant.block)
      else {
        released = true
        if (!ArrayBuffer.isView(value)) path.push("data")
      }
      return
    }
    if (ArrayBuffer.isView(value)) {
      const block = blocks.get(value.buffer as SharedArrayBuffer)
      if (block === undefined) return
      if (block.refs === 0) released = true
      else take(block)
      return
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length && !released; i++) {
        path.push(i)
        visit(value[i])
        if (!released) path.pop()
      }
      return
    }
    // A `ReadonlyMap` / `ReadonlySet` Schema encodes to one: its entries have no keys for
    // `Object.keys`, and their arrays went unheld (reused while the worker read them).
    if (value instanceof Map) {
      let i = 0
      for (const [key, entry] of value) {
        path.push(typeof key === "string" || typeof key === "number" ? key : i)
        visit(key)
        if (released) return
        visit(entry)
        if (released) return
        path.pop()
        i++
      }
      return
    }
    if (value instanceof Set) {
      let i = 0
      for (const entry of value) {
        path.push(i++)
        visit(entry)
        if (released) return
        path.pop()
      }
      return
    }
    for (const key of Object.keys(value)) {
      path.push(key)
      visit((value as Record<string, unknown>)[key])
      if (released) return
      path.pop()
    }
  }
  for (let index = 0; index < payloads.length; index++) {
    try {
      visit(payloads[index])
    } catch (error) {
      // A hostile payload (a throwing getter or proxy trap, a nesting deeper than the stack):
      // the caller gets a payload error at the spot, never an exception from here.
      for (const block of held) releaseBlock(block)
      return { _tag: "Unwalkable", index, issue: { path: [...path], message: unwalkableMessage(error) } }
    }
    if (released) {
      for (const block of held) releaseBlock(block)
      return { _tag: "Released", index, issue: { path: [...path], message: releasedMessage } }
    }
  }
  if (held.size === 0) return nothingHeld
  let done = false
  return {
    _tag: "Held",
    release: () => {
      if (done) return
      done = true
      for (const block of held) releaseBlock(block)
    }
  }
}

/**
 * Where `value` carries arena memory of this thread that every owner released (rule 5), if it
 * does: a worker checks its result with it before sending it, since the caller would read memory
 * this thread's arena hands out again (a result made with `put` inside the handler's own
 * `Effect.scoped`). A hold taken and let go at once: live blocks keep an owner, so nothing is freed.
 */
export const releasedIn = (value: unknown): PayloadIssue | undefined => {
  const found = hold([value])
  if (found._tag === "Held") {
    found.release()
    return undefined
  }
  return found._tag === "Released" ? found.issue : undefined
}

/** A hold's owner lets go. The block cannot have been reused while held (rule 3). */
const releaseBlock = (block: Block): void => {
  if (--block.refs === 0) block.arena.free(block)
}

// ---------------------------------------------------------------------------------------------
// Which Schemas carry shared memory
// ---------------------------------------------------------------------------------------------

/** Whether `schema` declares shared arrays (read once per task definition). */
export const containsShared = (schema: Schema.Top): boolean => reachesShared(schema, false)

/**
 * Whether values of `schema` may carry arena memory that a call must hold (rule 2) and a worker
 * check (`releasedIn`): a declared shared array, a field any value may fill (`Schema.Unknown`,
 * `Any`, `Object`), or a copied array (`memory: "copied"`, which takes a shared array too: the
 * codec copies a live one before it is sent, and leaves a released one for this walk to refuse).
 * Schemas without any pay no walk. Other
 * declarations (`Schema.instanceOf(Float64Array)`, a class) are not looked into.
 */
export const mayCarryShared = (schema: Schema.Top): boolean => reachesShared(schema, true)

const reachesShared = (schema: Schema.Top, open: boolean): boolean => {
  const seen = new Set<SchemaAST.AST>()
  const visit = (ast: SchemaAST.AST): boolean => {
    if (seen.has(ast)) return false
    seen.add(ast)
    if (ast.annotations?.[annotationKey] !== undefined) return true
    switch (ast._tag) {
      case "Declaration":
        if (open && ast.annotations?.[encodesAsItselfKey] === true && ast.annotations?.[movedKey] === undefined) return true
        return ast.typeParameters.some(visit)
      case "Arrays":
        return ast.elements.some(visit) || ast.rest.some(visit)
      case "Objects":
        return ast.propertySignatures.some((p) => visit(p.type)) || ast.indexSignatures.some((i) => visit(i.type))
      case "Union":
        return ast.types.some(visit)
      case "Suspend":
        return visit(ast.thunk())
      case "Unknown":
      case "Any":
      case "ObjectKeyword":
        return open
      default:
        return false
    }
  }
  return visit(schema.ast)
}
