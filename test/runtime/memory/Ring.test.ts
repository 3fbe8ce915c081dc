/**
 * The channel ring's numbered rules (`src/runtime/memory/Ring.ts`), one `describe` per rule, and
 * its properties explored over interleavings: producers and consumers are simulated in one
 * thread at the granularity of the ring's steps (claim, write, publish / claim, read, release),
 * in orders fast-check chooses, with tiny capacities, deaths between claim and publish, and a
 * virtual clock. A failing case prints its seed and path for replay.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { NumericCells } from "../../../src/runtime/memory/Cells.ts"
import { allocate, Closed, Ended, Full, Ring } from "../../../src/runtime/memory/Ring.ts"

const ringOf = (capacity: number, options?: { start?: number; abandonAfter?: number; clock?: { now: number } }) => {
  const clock = options?.clock ?? { now: 0 }
  const now = () => clock.now
  const buffer = allocate(capacity, 8, 1, options?.abandonAfter ?? 1000, now, options?.start ?? 0)
  const ring = new Ring(buffer, now)
  return { ring, cells: new NumericCells(ring, "Float64"), clock }
}

/** Sends one value with the step API: claim, write, publish. */
const sendOne = (ring: Ring, cells: NumericCells, value: number): number => {
  const k = ring.claimSend(1)
  if (k <= 0) return k
  cells.view[ring.cell(ring.claimed)] = value
  ring.publish(ring.claimed, 1)
  return 1
}

/** Takes one value with the channel's own take: claim, make the array, read, release. */
const takeOne = (cells: NumericCells): number | "empty" | "ended" => {
  const take = cells.take(1, (length) => new Array<number>(length))
  const k = take.attempt()
  return k === Ended ? "ended" : k === 0 ? "empty" : take.result(k)[0]!
}

// ---------------------------------------------------------------------------------------------
// The interleaving model
// ---------------------------------------------------------------------------------------------

type Party =
  | { readonly side: "send"; readonly id: number; next: number; readonly count: number; claim?: { p: number; k: number } | undefined; dead: boolean }
  | { readonly side: "take"; readonly id: number; claim?: { p: number; k: number } | undefined; got: Array<number>; dead: boolean }

interface Scenario {
  readonly capacity: number
  readonly producers: number
  readonly consumers: number
  readonly perProducer: number
  readonly batch: number
  readonly start: number
  /** Indices into the parties, one step each; a party that cannot move skips. */
  readonly schedule: ReadonlyArray<number>
  /** Parties that die after their first claim: [party, after how many steps of theirs]. */
  readonly deaths: ReadonlyArray<number>
}

const scenario = fc.record({
  capacity: fc.constantFrom(2, 4, 8),
  producers: fc.integer({ min: 1, max: 3 }),
  consumers: fc.integer({ min: 1, max: 3 }),
  perProducer: fc.integer({ min: 1, max: 12 }),
  batch: fc.integer({ min: 1, max: 3 }),
  start: fc.constantFrom(0, 0x7fffffff - 5),
  schedule: fc.array(fc.nat(5), { minLength: 1, maxLength: 400 }),
  deaths: fc.constant([] as ReadonlyArray<number>)
})

const valueOf = (producer: number, index: number) => producer * 1000 + index

/**
 * Runs a scenario to the end: the schedule first, then round-robin until every live producer has
 * sent everything, the ring is closed, and every consumer saw the end (with rule 8's clock moved
 * on whenever nothing can move). Returns what each consumer got and the ring.
 */
const runScenario = (s: Scenario, deadSenders: ReadonlySet<number> = new Set(), deadTakers: ReadonlySet<number> = new Set()) => {
  const { cells, clock, ring } = ringOf(s.capacity, { start: s.start, abandonAfter: 100 })
  const parties: Array<Party> = []
  for (let i = 0; i < s.producers; i++) {
    parties.push({ side: "send", id: i, next: 0, count: s.perProducer, dead: false })
  }
  for (let i = 0; i < s.consumers; i++) parties.push({ side: "take", id: i, got: [], dead: false })
  let closed = false
  const ended = new Set<number>()
  const refusedSends: Array<number> = []
  const sightings = new Map<Party, ReturnType<Ring["sight"]>>()

  /** One step of a party: true when it moved. */
  const step = (party: Party): boolean => {
    if (party.dead) return false
    if (party.side === "send") {
      if (party.claim === undefined) {
        if (party.next >= party.count) return false
        const k = ring.claimSend(Math.min(s.batch, party.count - party.next))
        if (k === Closed) throw new Error("closed before a producer finished")
        if (k === Full) return false
        party.claim = { p: ring.claimed, k }
        for (let i = 0; i < k; i++) cells.view[ring.cell(ring.claimed + i)] = valueOf(party.id, party.next + i)
        if (deadSenders.has(party.id)) party.dead = true // dies between claim and publish
        return true
      }
      const refused = ring.publish(party.claim.p, party.claim.k)
      if (refused > 0) refusedSends.push(refused)
      party.next += party.claim.k
      party.claim = undefined
      return true
    }
    if (ended.has(party.id)) return false
    if (party.claim === undefined) {
      const k = ring.claimTake(s.batch)
      if (k === Ended) {
        ended.add(party.id)
        return true
      }
      if (k === 0) return false
      party.claim = { p: ring.claimed, k }
      if (deadTakers.has(party.id)) party.dead = true // dies between claim and release
      return true
    }
    for (let i = 0; i < party.claim.k; i++) {
      const value = cells.view[ring.cell(party.claim.p + i)]!
      if (ring.release(party.claim.p + i)) party.got.push(value)
    }
    party.claim = undefined
    return true
  }

  /** A waiter's side of rule 8: sight stuck cells, and abandon on a later sighting. */
  const unstick = (): boolean => {
    let moved = false
    for (const party of parties) {
      if (party.dead) continue
      const side = party.side
      const earlier = sightings.get(party)
      if (earlier !== undefined) {
        const result = ring.abandon(earlier, 10)
        sightings.delete(party)
        if (result.adopted) {
          // The position is this taker's now: read and release it.
          const value = cells.view[ring.cell(ring.claimed)]!
          if (ring.release(ring.claimed)) (party as Extract<Party, { side: "take" }>).got.push(value)
        }
        if (result.abandoned > 0 || result.adopted) moved = true
      } else {
        const seen = ring.sight(side)
        if (seen !== undefined) sightings.set(party, seen)
      }
    }
    return moved
  }

  for (const index of s.schedule) step(parties[index % parties.length]!)
  for (let round = 0; round < 100_000; round++) {
    let moved = false
    for (const party of parties) moved = step(party) || moved
    const producersDone = parties.every((p) => p.side === "take" || p.dead || (p.next >= p.count && p.claim === undefined))
    if (producersDone && !closed) {
      assert.isTrue(ring.close())
      closed = true
      moved = true
    }
    if (parties.every((p) => p.side === "send" || p.dead || ended.has(p.id))) break
    if (!moved) {
      clock.now += 60 // nothing can move: time passes (rule 8's clock)
      unstick()
    }
  }
  const live = parties.filter((p) => p.side === "take" && !p.dead)
  assert.isTrue(live.every((p) => ended.has(p.id)), "every live consumer saw the end")
  return { parties, ring, refusedSends }
}

const takersOf = (parties: ReadonlyArray<Party>) => parties.filter((p): p is Extract<Party, { side: "take" }> => p.side === "take")

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

describe("Ring", () => {
  describe("rule 1: positions wrap at 2³¹, cells stay consistent", () => {
    it("a ring started just below the wrap keeps FIFO order across it", () => {
      const { cells, ring } = ringOf(4, { start: 0x7fffffff - 2 })
      const out: Array<number> = []
      for (let i = 0; i < 20; i++) {
        assert.strictEqual(sendOne(ring, cells, i), 1)
        if (i % 2 === 1) {
          out.push(takeOne(cells) as number, takeOne(cells) as number)
        }
      }
      assert.deepStrictEqual(out, Array.from({ length: 20 }, (_, i) => i))
      assert.strictEqual(ring.size, 0)
    })
  })

  describe("rule 2: a cell is free, published, then free for the next lap", () => {
    it("a full ring refuses a claim until a taker releases a cell", () => {
      const { cells, ring } = ringOf(2)
      assert.strictEqual(sendOne(ring, cells, 1), 1)
      assert.strictEqual(sendOne(ring, cells, 2), 1)
      assert.strictEqual(ring.claimSend(1), Full)
      assert.strictEqual(takeOne(cells), 1)
      assert.strictEqual(sendOne(ring, cells, 3), 1)
      assert.strictEqual(takeOne(cells), 2)
      assert.strictEqual(takeOne(cells), 3)
      assert.strictEqual(takeOne(cells), "empty")
    })

    it("a claimed but unpublished cell is not taken", () => {
      const { cells, ring } = ringOf(4)
      assert.strictEqual(ring.claimSend(1), 1)
      assert.strictEqual(takeOne(cells), "empty")
      ring.publish(ring.claimed, 1)
      assert.strictEqual(takeOne(cells), 0)
    })
  })

  describe("rules 3 and 5: claims are exclusive; every element once, FIFO per producer", () => {
    it("any interleaving, any batch size, any capacity", () => fc.assert(fc.property(scenario, (s) => {
      const { parties, ring } = runScenario(s)
      const takers = takersOf(parties)
      const all = takers.flatMap((t) => t.got).sort((a, b) => a - b)
      const expected: Array<number> = []
      for (let p = 0; p < s.producers; p++) for (let i = 0; i < s.perProducer; i++) expected.push(valueOf(p, i))
      assert.deepStrictEqual(all, expected.sort((a, b) => a - b))
      // FIFO per producer within each consumer's sequence.
      for (const t of takers) {
        for (let p = 0; p < s.producers; p++) {
          const mine = t.got.filter((v) => Math.floor(v / 1000) === p)
          assert.deepStrictEqual(mine, [...mine].sort((a, b) => a - b))
        }
      }
      assert.strictEqual(ring.abandoned, 0)
    }), { numRuns: 300 }))

    it("one producer and one consumer: FIFO overall", () => {
      const { cells, ring } = ringOf(8)
      const values = Array.from({ length: 100 }, (_, i) => i * 1.5)
      let sent = 0
      const got: Array<number> = []
      const take = cells.take(3, (length) => new Array<number>(length))
      while (got.length < values.length) {
        if (sent < values.length) sent += Math.max(0, cells.send(values, sent))
        const k = take.attempt()
        if (k > 0) got.push(...take.result(k))
      }
      assert.deepStrictEqual(got, values)
      assert.strictEqual(ring.size, 0)
    })
  })

  describe("rule 4: publish and release are compare-and-swaps", () => {
    it("a publish after its position was abandoned is refused, and the late value never delivered", () => {
      const { cells, clock, ring } = ringOf(2, { abandonAfter: 100 })
      assert.strictEqual(ring.claimSend(1), 1)
      const late = ring.claimed
      cells.view[ring.cell(late)] = 666
      clock.now += 150
      const seen = ring.sight("take")
      assert.isDefined(seen)
      clock.now += 20
      assert.deepStrictEqual(ring.abandon(seen!, 10), { abandoned: 1, adopted: false })
      assert.strictEqual(ring.publish(late, 1), 1, "the stalled sender is told")
      assert.strictEqual(sendOne(ring, cells, 7), 1)
      assert.strictEqual(takeOne(cells), 7)
      assert.strictEqual(takeOne(cells), "empty")
    })

    it("a release after its cell was reclaimed is refused: the reader discards what it read", () => {
      const { cells, clock, ring } = ringOf(2, { abandonAfter: 100 })
      assert.strictEqual(sendOne(ring, cells, 1), 1)
      assert.strictEqual(sendOne(ring, cells, 2), 1)
      assert.strictEqual(ring.claimTake(1), 1) // a taker claims, then stalls
      const stalled = ring.claimed
      assert.strictEqual(ring.claimSend(1), Full)
      clock.now += 150
      const seen = ring.sight("send")
      assert.isDefined(seen)
      clock.now += 20
      assert.deepStrictEqual(ring.abandon(seen!, 10), { abandoned: 1, adopted: false })
      assert.strictEqual(sendOne(ring, cells, 3), 1)
      assert.isFalse(ring.release(stalled))
      assert.strictEqual(takeOne(cells), 2)
      assert.strictEqual(takeOne(cells), 3)
    })
  })

  describe("rule 6: close is part of sendPos", () => {
    it("no claim after close; takers drain, including a claim made before the close, then see the end", () => {
      const { cells, ring } = ringOf(4)
      assert.strictEqual(sendOne(ring, cells, 1), 1)
      assert.strictEqual(ring.claimSend(1), 1) // claimed before the close, published after
      const pending = ring.claimed
      assert.isTrue(ring.close())
      assert.isFalse(ring.close())
      assert.strictEqual(ring.claimSend(1), Closed)
      assert.strictEqual(takeOne(cells), 1)
      assert.strictEqual(takeOne(cells), "empty", "not the end while a claimed cell is unpublished")
      cells.view[ring.cell(pending)] = 2
      ring.publish(pending, 1)
      assert.strictEqual(takeOne(cells), 2)
      assert.strictEqual(takeOne(cells), "ended")
      assert.strictEqual(takeOne(cells), "ended")
    })
  })

  describe("rule 7: no lost wake-up", () => {
    it("a waiter that announced itself is woken by a publish, a release and a close", async () => {
      const { cells, ring } = ringOf(2)
      const seen = ring.announce("take")
      assert.strictEqual(takeOne(cells), "empty")
      const woken = ring.waitAsync("take", seen, 10_000)
      assert.isDefined(woken)
      sendOne(ring, cells, 1)
      assert.strictEqual(await woken, "ok")
      ring.withdraw("take")

      sendOne(ring, cells, 2)
      const full = ring.announce("send")
      assert.strictEqual(ring.claimSend(1), Full)
      const room = ring.waitAsync("send", full, 10_000)
      assert.strictEqual(takeOne(cells), 1)
      assert.strictEqual(await room, "ok")
      ring.withdraw("send")

      const end = ring.announce("take")
      const closing = ring.waitAsync("take", end, 10_000)
      ring.close()
      assert.strictEqual(await closing, "ok")
      ring.withdraw("take")
    })

    it("a change between announcing and waiting makes the wait return at once", () => {
      const { cells, ring } = ringOf(2)
      const seen = ring.announce("take")
      sendOne(ring, cells, 1) // lands after the announcement, before the wait
      assert.isUndefined(ring.waitAsync("take", seen, 10_000))
      ring.withdraw("take")
    })
  })

  describe("rule 8: a dead claimant does not wedge the ring", () => {
    it("a producer or consumer dying between claim and publish/release loses only its own claim", () =>
      fc.assert(fc.property(scenario, fc.nat(2), fc.boolean(), (s, victim, killSender) => {
        const deadSenders = new Set(killSender ? [victim % s.producers] : [])
        const deadTakers = new Set(killSender || s.consumers < 2 ? [] : [victim % s.consumers])
        const { parties, ring, refusedSends } = runScenario(s, deadSenders, deadTakers)
        const got = takersOf(parties).flatMap((t) => t.got)
        assert.strictEqual(new Set(got).size, got.length, "nothing delivered twice")
        assert.deepStrictEqual(refusedSends, [], "no live sender was refused")
        // Every value of a live producer arrived, except those a dead consumer held.
        const dead = takersOf(parties).find((t) => t.dead)
        const lostToDeadTaker = dead?.claim?.k ?? 0
        let expected = 0
        for (const p of parties) {
          if (p.side !== "send") continue
          expected += p.dead ? p.next : p.count
        }
        assert.strictEqual(got.length, expected - lostToDeadTaker)
        const deadSender = parties.find((p) => p.side === "send" && p.dead)
        // A dead sender's claim always blocks the end, so it is abandoned; a dead taker's cells
        // only when a sender needs them again.
        const deadSenderClaim = deadSender?.claim?.k ?? 0
        assert.isAtLeast(ring.abandoned, deadSenderClaim)
        assert.isAtMost(ring.abandoned, deadSenderClaim + lostToDeadTaker)
      }), { numRuns: 200 }))

    it("a live claimant is not abandoned before abandonAfter, nor on one sighting", () => {
      const { clock, ring } = ringOf(2, { abandonAfter: 100 })
      assert.strictEqual(ring.claimSend(1), 1)
      clock.now += 50
      assert.isUndefined(ring.sight("take"), "too young to suspect")
      clock.now += 100
      const seen = ring.sight("take")
      assert.isDefined(seen)
      assert.deepStrictEqual(ring.abandon(seen!, 10), { abandoned: 0, adopted: false }, "no grace yet")
      const claimed = ring.claimed
      ring.publish(claimed, 1) // it was alive after all
      clock.now += 20
      assert.deepStrictEqual(ring.abandon(seen!, 10), { abandoned: 0, adopted: false })
      assert.strictEqual(ring.abandoned, 0)
    })
  })

  describe("rule 9: a waiter that dies leaves only a cost", () => {
    it("an announcement never withdrawn does not change what is delivered", () => {
      const { cells, ring } = ringOf(2)
      ring.announce("take")
      ring.announce("send")
      for (let i = 0; i < 10; i++) {
        assert.strictEqual(sendOne(ring, cells, i), 1)
        assert.strictEqual(takeOne(cells), i)
      }
    })
  })
})
