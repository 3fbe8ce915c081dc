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
 * 4. Memory is zeroed before it is handed out again.
 * 5. A payload carrying an array whose block is no longer live fails that task with a payload
 *    error: its memory may already belong to someone else.
 * 6. Every hand-out of a block bumps its generation, and each view or matrix the library makes for
 *    it is granted that generation: it is live only while its block has owners *and* is still at
 *    that generation. `hold`, `retain`, `isLive` and a matrix's `data` compare generations, never
 *    the count alone: once the block is reused its count is above 0 again, for the next owner.
 *    Views the library did not make (a `subarray`, an array a worker sent, `makeUnsafe`) carry no
 *    grant and are judged by their buffer's count alone, so a stale one is not caught after reuse.
 *
 * What is not caught: index reads and writes through a stale plain view (`array[i]`). A typed
 * array cannot intercept them without slowing every access; only a matrix's `data` accessor and the
 * uses above check. `SharedArray.isLive` lets a caller ask.
 */
import * as Context from "effect/Context"
import type * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import { annotationKey } from "../../core/SharedArray.ts"
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
}

export interface ArenaOptions {
  /** Idle memory kept for reuse; beyond it, released memory is left to the garbage collector. */
  readonly maxIdleBytes?: number | undefined
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

export class Arena {
  private readonly maxIdleBytes: number
  private readonly idle = new Map<number, Array<Block>>()
  private idleBytes = 0
  private idleBlocks = 0
  private liveBlocks = 0
  private liveBytes = 0
  private reused = 0
  private allocated = 0
  private closed = false

  constructor(options?: ArenaOptions) {
    this.maxIdleBytes = Math.max(0, options?.maxIdleBytes ?? defaultMaxIdleBytes)
  }

  /**
   * A zeroed block of `byteLength` bytes with one owner, at a new generation (rules 3, 4, 6). The
   * caller `register`s the views it makes over `grant.block.buffer` with the grant.
   */
  acquire(byteLength: number): Grant {
    const free = this.idle.get(byteLength)
    let block = free?.pop()
    if (block !== undefined) {
      this.idleBytes -= byteLength
      this.idleBlocks--
      this.reused++
      new Uint8Array(block.buffer).fill(0)
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
      allocated: this.allocated
    }
  }

  /** Drops idle memory and stops keeping any (the arena's Layer is closing). */
  close(): void {
    this.closed = true
    this.idle.clear()
    this.idleBytes = 0
    this.idleBlocks = 0
  }

  /** @internal the last owner of `block` let go (rule 3). */
  free(block: Block): void {
    const size = block.buffer.byteLength
    this.liveBlocks--
    this.liveBytes -= size
    if (this.closed || this.idleBytes + size > this.maxIdleBytes) return
    let free = this.idle.get(size)
    if (free === undefined) this.idle.set(size, free = [])
    free.push(block)
    this.idleBytes += size
    this.idleBlocks++
  }
}

/**
 * The arena `SharedArray` allocations use. By default one per thread, kept for the life of the
 * program; `SharedArray.layerArena` gives a scope its own.
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
 * Walks plain objects and arrays, each object once (a payload may hold cycles, as a structured
 * clone may); typed arrays are leaves, and so are matrices the library made: their grant is
 * checked instead of their `data` accessor, which throws once they are released.
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

/** A hold's owner lets go. The block cannot have been reused while held (rule 3). */
const releaseBlock = (block: Block): void => {
  if (--block.refs === 0) block.arena.free(block)
}

// ---------------------------------------------------------------------------------------------
// Which Schemas carry shared memory
// ---------------------------------------------------------------------------------------------

/** Whether values of `schema` may carry shared arrays (read once per task definition). */
export const containsShared = (schema: Schema.Top): boolean => {
  const seen = new Set<SchemaAST.AST>()
  const visit = (ast: SchemaAST.AST): boolean => {
    if (seen.has(ast)) return false
    seen.add(ast)
    if (ast.annotations?.[annotationKey] !== undefined) return true
    switch (ast._tag) {
      case "Declaration":
        return ast.typeParameters.some(visit)
      case "Arrays":
        return ast.elements.some(visit) || ast.rest.some(visit)
      case "Objects":
        return ast.propertySignatures.some((p) => visit(p.type)) || ast.indexSignatures.some((i) => visit(i.type))
      case "Union":
        return ast.types.some(visit)
      case "Suspend":
        return visit(ast.thunk())
      default:
        return false
    }
  }
  return visit(schema.ast)
}
