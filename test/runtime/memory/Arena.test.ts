/**
 * The arena's numbered rules (see the top of `src/runtime/memory/Arena.ts`), one test each,
 * driven directly: blocks, counts, holds and generations without a pool or a Scope.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  Arena,
  type Grant,
  type Hold,
  hold,
  isCurrent,
  register,
  releaseMemory,
  retainMemory,
  stateOf
} from "../../../src/runtime/memory/Arena.ts"

/** What `SharedArray.make` does: a block, and a view over it registered with its grant. */
const make = (arena: Arena, length: number): { readonly view: Float64Array<SharedArrayBuffer>; readonly grant: Grant } => {
  const grant = arena.acquire(length * 8)
  const view = new Float64Array(grant.block.buffer)
  register(view, grant)
  return { view, grant }
}

const held = (result: Hold): () => void => {
  assert.strictEqual(result._tag, "Held")
  return (result as Extract<Hold, { _tag: "Held" }>).release
}

describe("Arena", () => {
  it("rule 1: memory no arena of this thread made is unmanaged: held by nobody, never rejected", () => {
    // Like an array a worker made and sent: its count lives in no registry here.
    const foreign = new Float64Array(new SharedArrayBuffer(32))
    assert.strictEqual(stateOf(foreign), "unmanaged")
    assert.isFalse(retainMemory(foreign))
    const result = hold([{ values: foreign }])
    assert.strictEqual(result._tag, "Held")
  })

  it("rule 2: the count is every owner: the maker and each hold in flight", () => {
    const arena = new Arena()
    const { view } = make(arena, 4)
    const first = held(hold([{ a: view, b: view }])) // one hold owns a block once, however often it appears
    const second = held(hold([view]))
    releaseMemory(view) // the maker's scope closes
    assert.strictEqual(arena.stats().liveBlocks, 1)
    first()
    first() // a hold's release is idempotent
    assert.strictEqual(arena.stats().liveBlocks, 1)
    second()
    assert.deepStrictEqual([arena.stats().liveBlocks, arena.stats().idleBlocks], [0, 1])
  })

  it("rule 3: only a block whose count reached 0 is handed out again", () => {
    const arena = new Arena()
    const a = make(arena, 4)
    const b = make(arena, 4)
    assert.notStrictEqual(a.view.buffer, b.view.buffer, "a live block is never handed out")
    releaseMemory(a.view)
    const c = make(arena, 4)
    assert.strictEqual(c.grant.block, a.grant.block, "the released one is")
    assert.deepStrictEqual([arena.stats().allocated, arena.stats().reused], [2, 1])
  })

  it("rule 4: memory handed out zeroed is zero: a clean block, else a new buffer, else a dirty one zeroed at once", () => {
    const arena = new Arena()
    const a = make(arena, 4)
    const b = make(arena, 4)
    a.view.fill(7)
    b.view.fill(7)
    releaseMemory(a.view)
    // The first zeroed request of a size with only a dirty block idle zeroes it on the spot…
    const c = make(arena, 4)
    assert.strictEqual(c.view.buffer, a.view.buffer)
    assert.deepStrictEqual(Array.from(c.view), [0, 0, 0, 0])
    // …and makes the size scrubbed: a dirty block released now is zeroed in the background, and
    // while it is, a new buffer (zero from the OS) is cheaper than writing it on the spot.
    releaseMemory(b.view)
    const d = make(arena, 4)
    assert.notInclude([a.view.buffer, b.view.buffer], d.view.buffer)
    assert.deepStrictEqual(Array.from(d.view), [0, 0, 0, 0])
    // Two dirty blocks idle (the background has not run): one is zeroed at once, never a third buffer.
    c.view.fill(7)
    d.view.fill(7)
    releaseMemory(c.view)
    releaseMemory(d.view)
    const e = make(arena, 4)
    assert.deepStrictEqual(Array.from(e.view), [0, 0, 0, 0])
    assert.deepStrictEqual([arena.stats().allocated, arena.stats().zeroedOnAcquire], [3, 2])
    arena.close()
  })

  it("rule 4: an uninitialized request takes a dirty block as it is, and never zeroes", () => {
    const arena = new Arena()
    const a = make(arena, 4)
    a.view.fill(7)
    releaseMemory(a.view)
    const grant = arena.acquire(32, false)
    assert.strictEqual(grant.block, a.grant.block)
    assert.deepStrictEqual(Array.from(new Float64Array(grant.block.buffer)), [7, 7, 7, 7])
    assert.strictEqual(arena.stats().zeroedOnAcquire, 0)
    arena.close()
  })

  it("rule 7: a loop of zeroed blocks finds each one scrubbed between rounds, never zeroed on the spot", async () => {
    const arena = new Arena()
    const length = 700_001 // 5.6 MB: three background slices, and a size that is not a multiple of 8 elements' slice
    const buffers = new Set<SharedArrayBuffer>()
    let previous = make(arena, length)
    for (let round = 0; round < 6; round++) {
      previous.view.fill(round + 1) // the round writes its image
      releaseMemory(previous.view) // its scope closes as the next round starts
      const next = make(arena, length)
      assert.strictEqual(next.view[0], 0)
      assert.strictEqual(next.view[length - 1], 0)
      assert.isTrue(next.view.every((x) => x === 0), `round ${round}: a zeroed block`)
      buffers.add(next.view.buffer)
      previous = next
      // The round's work: the thread waits, turning its event loop (a slice per turn).
      for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve))
    }
    const stats = arena.stats()
    assert.strictEqual(stats.zeroedOnAcquire, 1, "only the first round's, which makes the size scrubbed")
    assert.strictEqual(stats.allocated, 2, "two blocks take turns: one in use, one scrubbed")
    assert.isAtLeast(stats.scrubbed, 4)
    arena.close()
  })

  it("rule 7: a block taken while being scrubbed stops being scrubbed; closing the arena stops scrubbing", async () => {
    const arena = new Arena()
    const bytes = 6 * 1024 * 1024 + 13 // slices, and a tail of single bytes
    const first = arena.acquire(bytes)
    const second = arena.acquire(bytes)
    new Uint8Array(first.block.buffer).fill(9)
    new Uint8Array(second.block.buffer).fill(9)
    releaseMemory(new Uint8Array(first.block.buffer)) // a view the arena did not register: released by its buffer
    const third = arena.acquire(bytes) // zeroes `first` on the spot; the size is scrubbed from now on
    assert.strictEqual(third.block, first.block)
    new Uint8Array(first.block.buffer).fill(9)
    releaseMemory(new Uint8Array(first.block.buffer))
    await new Promise((resolve) => setImmediate(resolve)) // one slice of `first`
    const taken = arena.acquire(bytes, false)
    assert.strictEqual(taken.block, first.block, "taken mid-scrub, as it is")
    const tail = new Uint8Array(first.block.buffer)
    assert.strictEqual(tail[0], 0, "the first slice was zeroed")
    assert.strictEqual(tail[bytes - 1], 9, "the rest was left: it stopped being scrubbed")
    releaseMemory(new Uint8Array(second.block.buffer))
    arena.close()
    await new Promise((resolve) => setImmediate(resolve))
    assert.notInclude(process.getActiveResourcesInfo(), "Immediate")
    assert.strictEqual(new Uint8Array(second.block.buffer)[0], 9, "nothing scrubbed after close")
  })

  it("background scrubbing never keeps the process alive: a program that is done exits with dirty blocks left", () => {
    // Was: each slice was a ref'd `setImmediate`, so a program that had finished kept turning
    // its event loop to zero idle memory nobody would use again (the default arena never closes).
    const arena = new Arena()
    const bytes = 6 * 1024 * 1024
    const first = arena.acquire(bytes)
    releaseMemory(new Uint8Array(first.block.buffer))
    const refd = () => process.getActiveResourcesInfo().filter((kind) => kind === "Immediate").length
    const before = refd()
    const second = arena.acquire(bytes) // zeroes `first` on the spot; the size is scrubbed from now on
    new Uint8Array(second.block.buffer).fill(9)
    releaseMemory(new Uint8Array(second.block.buffer)) // queued for scrubbing
    assert.strictEqual(refd(), before, "no ref'd immediate for the scrub")
    arena.close()
  })

  it("rule 5: a payload carrying a released array is rejected at its path, and nothing stays held", () => {
    const arena = new Arena()
    const live = make(arena, 2)
    const gone = make(arena, 4)
    releaseMemory(gone.view)
    const result = hold([{ values: live.view }, { nested: [live.view, gone.view] }])
    assert.strictEqual(result._tag, "Released")
    if (result._tag === "Released") {
      assert.strictEqual(result.index, 1)
      assert.deepStrictEqual(result.issue.path, ["nested", 1])
      assert.match(result.issue.message, /released.*another owner/)
    }
    assert.strictEqual(live.grant.block.refs, 1, "the hold let go of what it had taken")
  })

  it("rules 2 and 5: hold owns the arrays in a payload's Maps and Sets (a ReadonlyMap or ReadonlySet Schema's values), and refuses released ones there", () => {
    const arena = new Arena()
    const inMap = make(arena, 2)
    const asKey = make(arena, 3)
    const inSet = make(arena, 4)
    const release = held(hold([{ byName: new Map<unknown, unknown>([["a", inMap.view], [asKey.view, 1]]), all: new Set([inSet.view]) }]))
    for (const { view } of [inMap, asKey, inSet]) releaseMemory(view) // the makers' scopes close
    assert.strictEqual(arena.stats().liveBlocks, 3, "the submission in flight still owns them")
    release()
    assert.strictEqual(arena.stats().liveBlocks, 0)
    const live = make(arena, 5)
    for (const [payload, path] of [
      [{ byName: new Map([["a", live.view], ["b", inMap.view]]) }, ["byName", "b"]],
      [{ all: new Set([live.view, inSet.view]) }, ["all", 1]]
    ] as const) {
      const result = hold([payload])
      assert.strictEqual(result._tag, "Released")
      if (result._tag === "Released") assert.deepStrictEqual(result.issue.path, path)
      assert.strictEqual(live.grant.block.refs, 1, "the hold let go of what it had taken")
    }
  })

  it("hold walks a payload with cycles once per object, and refuses one it cannot walk at the spot", () => {
    // Was: the walk recursed forever on a cycle, and a throwing getter or a nesting deeper than
    // the stack threw out of hold: the caller's Task.run died instead of failing typed.
    const arena = new Arena()
    const live = make(arena, 2)
    const cyclic: Record<string, unknown> = { values: live.view }
    cyclic.self = cyclic
    cyclic.again = [cyclic, live.view]
    const release = held(hold([cyclic]))
    assert.strictEqual(live.grant.block.refs, 2, "held once")
    release()
    let deep: unknown = {}
    for (let i = 0; i < 100_000; i++) deep = { x: deep }
    const boom = Object.defineProperty({}, "boom", {
      enumerable: true,
      get: () => {
        throw new RangeError("hostile getter")
      }
    })
    const throwing = { values: live.view, nested: boom }
    const trap = new Proxy({}, {
      ownKeys: () => {
        throw new TypeError("hostile trap")
      }
    })
    const cases: Array<[unknown, ReadonlyArray<string | number>, RegExp]> = [
      [throwing, ["nested", "boom"], /RangeError: hostile getter/],
      [{ a: [1, trap] }, ["a", 1], /TypeError: hostile trap/],
      [{ deep }, ["deep", "x", "x"], /Maximum call stack/]
    ]
    for (const [payload, prefix, message] of cases) {
      const result = hold([{ ok: live.view }, payload])
      assert.strictEqual(result._tag, "Unwalkable")
      if (result._tag === "Unwalkable") {
        assert.strictEqual(result.index, 1)
        assert.deepStrictEqual(result.issue.path.slice(0, prefix.length), prefix)
        assert.match(result.issue.message, message)
      }
      assert.strictEqual(live.grant.block.refs, 1, "the hold let go of what it had taken")
    }
    const loud = Object.defineProperty({}, "loud", {
      enumerable: true,
      get: () => {
        throw new Error("!".repeat(1_000_000))
      }
    })
    const refused = hold([loud])
    assert.strictEqual(refused._tag, "Unwalkable")
    if (refused._tag === "Unwalkable") assert.isAtMost(refused.issue.message.length, 300, "an error describes, never dumps")
  })

  describe("rule 6: generations", () => {
    it("a hand-out bumps the generation; a stale grant stays stale after reuse", () => {
      const arena = new Arena()
      const old = make(arena, 4)
      releaseMemory(old.view)
      assert.isFalse(isCurrent(old.grant))
      const next = make(arena, 4)
      assert.strictEqual(next.grant.block, old.grant.block)
      assert.strictEqual(next.grant.generation, old.grant.generation + 1)
      assert.isTrue(next.grant.block.refs > 0, "the count alone would call the old view live")
      assert.isFalse(isCurrent(old.grant))
      assert.strictEqual(stateOf(old.view), "released")
      assert.strictEqual(stateOf(next.view), "live")
    })

    it("a stale view is rejected by hold and retain, and its release leaves the new owner's count alone", () => {
      const arena = new Arena()
      const old = make(arena, 4)
      releaseMemory(old.view)
      const next = make(arena, 4)
      next.view.set([1, 2, 3, 4])
      assert.strictEqual(hold([{ values: old.view }])._tag, "Released")
      assert.isFalse(retainMemory(old.view))
      releaseMemory(old.view) // a second close of the old owner's scope, say
      assert.strictEqual(next.grant.block.refs, 1)
      assert.deepStrictEqual(Array.from(next.view), [1, 2, 3, 4])
      held(hold([next.view]))()
      assert.strictEqual(next.grant.block.refs, 1)
    })

    it("a registered matrix is checked by its grant: hold never reads its data", () => {
      const arena = new Arena()
      const { grant, view } = make(arena, 4)
      let reads = 0
      const matrix = { rows: 2, cols: 2 }
      Object.defineProperty(matrix, "data", { enumerable: true, get: () => (reads++, view) })
      register(matrix, grant)
      held(hold([{ matrix }]))()
      releaseMemory(view)
      make(arena, 4)
      const result = hold([{ matrix }])
      assert.strictEqual(result._tag, "Released")
      if (result._tag === "Released") assert.deepStrictEqual(result.issue.path, ["matrix", "data"])
      assert.strictEqual(reads, 0)
    })

    it("views the library did not hand out are judged by their buffer alone (the documented limit)", () => {
      const arena = new Arena()
      const old = make(arena, 4)
      const part = old.view.subarray(0, 2)
      releaseMemory(old.view)
      assert.strictEqual(stateOf(part), "released")
      make(arena, 4)
      assert.strictEqual(stateOf(part), "live", "after reuse a subarray of the stale view looks live")
    })
  })
})
