/**
 * The shared-memory arena: where `SharedArray` memory comes from, who owns it, and where it goes.
 *
 * Contains the `Arena` (idle `SharedArrayBuffer`s by size, reused instead of left to the garbage
 * collector), the block registry (reference counts per buffer, kept in the thread that allocated
 * it) and the holds a submission takes on the shared arrays in its payloads.
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

interface Block {
  readonly arena: Arena
  readonly buffer: SharedArrayBuffer
  refs: number
}

/** Blocks by buffer, for the buffers this thread allocated from an arena (rule 1). */
const blocks = new WeakMap<SharedArrayBuffer, Block>()

export class Arena {
  private readonly maxIdleBytes: number
  private readonly idle = new Map<number, Array<SharedArrayBuffer>>()
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

  /** A zeroed buffer of `byteLength` bytes with one owner (rules 3, 4). */
  acquire(byteLength: number): SharedArrayBuffer {
    const free = this.idle.get(byteLength)
    let buffer = free?.pop()
    if (buffer !== undefined) {
      this.idleBytes -= byteLength
      this.idleBlocks--
      this.reused++
      new Uint8Array(buffer).fill(0)
    } else {
      buffer = new SharedArrayBuffer(byteLength)
      this.allocated++
    }
    blocks.set(buffer, { arena: this, buffer, refs: 1 })
    this.liveBlocks++
    this.liveBytes += byteLength
    return buffer
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
    free.push(block.buffer)
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

/** Adds an owner to the block of `buffer`; false when it has none or is no longer live. */
export const retainBuffer = (buffer: ArrayBufferLike): boolean => {
  const block = blocks.get(buffer as SharedArrayBuffer)
  if (block === undefined || block.refs === 0) return false
  block.refs++
  return true
}

/** Removes an owner; the last one returns the memory to its arena (rule 3). */
export const releaseBuffer = (buffer: ArrayBufferLike): void => {
  const block = blocks.get(buffer as SharedArrayBuffer)
  if (block === undefined || block.refs === 0) return
  if (--block.refs === 0) block.arena.free(block)
}

/** Whether `buffer` came from an arena of this thread, and whether it is still live. */
export const bufferState = (buffer: ArrayBufferLike): "live" | "released" | "unmanaged" => {
  const block = blocks.get(buffer as SharedArrayBuffer)
  return block === undefined ? "unmanaged" : block.refs > 0 ? "live" : "released"
}

// ---------------------------------------------------------------------------------------------
// Holds: a submission owns the shared arrays its payloads carry until its tasks are done
// ---------------------------------------------------------------------------------------------

/** What `hold` found: the buffers it retained, or where a released one is (rule 5). */
export type Hold =
  | { readonly _tag: "Held"; readonly release: () => void }
  | { readonly _tag: "Released"; readonly index: number; readonly issue: PayloadIssue }

const nothingHeld: Hold = { _tag: "Held", release: () => {} }

/**
 * Retains every arena buffer reachable from `payloads` (each once) until `release` is called.
 * Walks plain objects and arrays; typed arrays are leaves.
 */
export const hold = (payloads: ReadonlyArray<unknown>): Hold => {
  const held = new Set<SharedArrayBuffer>()
  const path: Array<string | number> = []
  let released = false
  const visit = (value: unknown): void => {
    if (released || typeof value !== "object" || value === null) return
    if (ArrayBuffer.isView(value)) {
      const buffer = value.buffer
      if (!(buffer instanceof SharedArrayBuffer) || held.has(buffer)) return
      const state = bufferState(buffer)
      if (state === "released") released = true
      else if (state === "live") {
        retainBuffer(buffer)
        held.add(buffer)
      }
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
    visit(payloads[index])
    if (released) {
      for (const buffer of held) releaseBuffer(buffer)
      return {
        _tag: "Released",
        index,
        issue: { path: [...path], message: "this shared array was already released (every scope that owned it has closed)" }
      }
    }
  }
  if (held.size === 0) return nothingHeld
  let done = false
  return {
    _tag: "Held",
    release: () => {
      if (done) return
      done = true
      for (const buffer of held) releaseBuffer(buffer)
    }
  }
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
