/**
 * The ring under a `Channel`: a bounded multi-producer multi-consumer queue of fixed-size cells
 * in one `SharedArrayBuffer`, lock-free (Dmitry Vyukov's bounded MPMC queue: a sequence number
 * per cell), so no thread ever holds a lock another could wait on.
 *
 * Contains the layout (`layout`, `initialize`), the `Ring` (claim, publish, release, close,
 * abandon) and its waiting primitives. It moves positions only: what a cell holds (a number, an
 * encoded value) is the channel's business (`api/Channel.ts`); a claimant writes or reads the
 * cells of its claim between its claim and its publish/release.
 *
 * Rules (each has a test in `test/runtime/memory/Ring.test.ts`):
 * 1. Positions. `sendPos` and `takePos` are 31-bit counters that only move forward (modulo 2³¹),
 *    and only by compare-and-swap. The capacity is a power of two from 2 to 2²⁴, so the cell of position
 *    `p` is `p & (capacity - 1)` across the wrap, and a difference of positions is read as a
 *    signed 31-bit number.
 * 2. Cell states. The cell of position `p` is free for `p` when its sequence is `p`, published
 *    when it is `p + 1`, and free for the next lap when it is `p + capacity`. Nothing else writes
 *    a sequence.
 * 3. Claims are exclusive. A sender claims `[p, p + k)` by moving `sendPos` from `p` to `p + k`
 *    after seeing each of those cells free; a taker claims `[p, p + k)` by moving `takePos` after
 *    seeing each published. No two senders (or takers) ever hold one position, so every element
 *    is taken at most once, and — once published — exactly once (unless rule 8 drops it).
 * 4. Publish and release are compare-and-swaps (`p → p + 1`, `p + 1 → p + capacity`): a claimant
 *    whose swap fails lost its position to rule 8, and drops its element (a sender reports it, a
 *    taker discards what it read): an element is never delivered twice, nor read torn.
 * 5. Order. Takers claim positions in order, so elements leave in the order they were claimed:
 *    FIFO per sender (one sender's sends claim increasing positions), and FIFO overall with one
 *    sender and one taker.
 * 6. Close is part of `sendPos` (its bit 31): a close and a claim are ordered by the same word, so
 *    no send is accepted after a close, and the end is seen exactly when the ring is closed and
 *    `takePos` reached the final `sendPos` — after every claimed element was taken (or dropped by
 *    rule 8).
 * 7. No lost wake-up. A waiter announces itself (`waiters + 1`), reads the event word, checks the
 *    ring again and only then waits on that word (`Atomics.waitAsync`, or a simulated world's
 *    `CurrentWaits`: the thread's other fibers run meanwhile); whoever publishes, releases or
 *    closes bumps the event word and notifies when it reads a waiter. All these are sequentially consistent atomics, so either the waiter's
 *    re-check sees the change or the changer sees the waiter.
 * 8. A dead claimant does not wedge the ring. Every claim stamps its cells with the claim time.
 *    A cell claimed by a sender and still unpublished, or claimed by a taker and still unreleased,
 *    whose stamp is `abandonAfter` old and unchanged over two sightings at least a grace apart,
 *    is abandoned by a waiter stuck behind it: a taker skips the position (frees the cell for the
 *    next lap), a sender frees the cell. The dead claimant's element is lost (at most once; counted
 *    in `abandoned`); the others go on. Bounded consequence: a claimant that is alive but was
 *    stalled (its thread paused by the OS) for longer than `abandonAfter` between claim and
 *    publish/release finds its swap refused (rule 4); a stalled *sender* may by then also have
 *    written into the cell while its next-lap sender wrote there, tearing that element. Claims
 *    are written synchronously (no yield between claim and publish), so only a thread paused
 *    for `abandonAfter` can do this; a killed one cannot.
 * 9. A waiter that dies leaves its announcement behind: others then notify for nothing (a cost,
 *    never a missed or a false element).
 */

import * as Context from "effect/Context"

/**
 * How a fiber waits on an event word without blocking its thread (rule 7): `waitAsync` is
 * `Atomics.waitAsync`'s, `undefined` when the word moved from `seen` already.
 */
export interface Waits {
  readonly waitAsync: (word: Int32Array, index: number, seen: number, timeoutMillis: number) => Promise<unknown> | undefined
}

const atomicWaits: Waits = {
  waitAsync: (word, index, seen, timeoutMillis) => {
    const result = Atomics.waitAsync(word, index, seen, timeoutMillis)
    return result.async ? result.value : undefined
  }
}

/**
 * The waits of the current fiber's thread. A simulated world provides its own, on its steps and
 * virtual time: `Atomics.waitAsync` wakes a waiter on a real macrotask, which the world neither
 * orders nor sees (its run would look deadlocked, or step differently each time).
 */
export const CurrentWaits = Context.Reference<Waits>("effect-parallel/Ring/Waits", { defaultValue: () => atomicWaits })

/**
 * Set while a simulated world runs one of its steps on this thread (and the microtasks the step
 * queued): a blocking wait there would freeze every simulated worker — the one that could wake it
 * too — for ever.
 */
export const simulatedStep = { running: false }

// ---------------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------------

/** Header words (Int32 indices); the two positions sit on separate cache lines. */
const SendPos = 0
const TakePos = 16
const DataEvent = 32
const SpaceEvent = 36
const TakersWaiting = 40
const SendersWaiting = 44
const Capacity = 48
const SlotBytes = 49
const Kind = 50
const Magic = 51
const Abandoned = 52
const AbandonAfter = 53
/** Float64 index of the epoch (ms) the stamps count from. */
const EpochF64 = 28
const headerBytes = 256
const magic = 0x52494e47 // "RING"

const Mask31 = 0x7fffffff
/** Bit 31 of `sendPos`: closed (rule 6). */
const ClosedBit = -0x80000000

/** The largest capacity (rule 1). */
export const maxCapacity = 1 << 24

/**
 * Rounded up to a power of two (rule 1), at least 2: with one cell, "published for `p`" and "free
 * for `p + 1`" would be the same sequence (rule 2).
 */
export const roundCapacity = (capacity: number): number => {
  let c = 2
  while (c < capacity) c *= 2
  return c
}

export interface Layout {
  readonly capacity: number
  readonly slotBytes: number
  readonly seqOffset: number
  readonly stampOffset: number
  readonly dataOffset: number
  readonly byteLength: number
}

export const layout = (capacity: number, slotBytes: number): Layout => {
  const seqOffset = headerBytes
  const stampOffset = seqOffset + capacity * 4
  const dataOffset = Math.ceil((stampOffset + capacity * 4) / 64) * 64
  return { capacity, slotBytes, seqOffset, stampOffset, dataOffset, byteLength: dataOffset + capacity * slotBytes }
}

/** Makes and initializes the memory of a ring: every cell free for its first lap (rule 2). */
export const allocate = (
  capacity: number,
  slotBytes: number,
  kind: number,
  abandonAfterMillis: number,
  now: () => number = Date.now,
  /** The first position (tests start near the wrap of rule 1). */
  start = 0
): SharedArrayBuffer => {
  const l = layout(capacity, slotBytes)
  const buffer = new SharedArrayBuffer(l.byteLength)
  const header = new Int32Array(buffer, 0, headerBytes / 4)
  header[Capacity] = capacity
  header[SlotBytes] = slotBytes
  header[Kind] = kind
  header[AbandonAfter] = abandonAfterMillis
  new Float64Array(buffer, 0, headerBytes / 8)[EpochF64] = now()
  const seq = new Int32Array(buffer, l.seqOffset, capacity)
  for (let i = 0; i < capacity; i++) {
    const q = advance(start, i)
    seq[q & (capacity - 1)] = q
  }
  header[SendPos] = start & Mask31
  header[TakePos] = start & Mask31
  Atomics.store(header, Magic, magic)
  return buffer
}

/** What a buffer's header says, or why it is not a ring. */
export const describe = (
  buffer: SharedArrayBuffer
): { readonly capacity: number; readonly slotBytes: number; readonly kind: number } | string => {
  if (buffer.byteLength < headerBytes) return "not a channel's memory (too short)"
  const header = new Int32Array(buffer, 0, headerBytes / 4)
  if (Atomics.load(header, Magic) !== magic) return "not a channel's memory"
  const capacity = header[Capacity]!
  const slotBytes = header[SlotBytes]!
  if (layout(capacity, slotBytes).byteLength !== buffer.byteLength) return "a channel's memory of the wrong size"
  return { capacity, slotBytes, kind: header[Kind]! }
}

// ---------------------------------------------------------------------------------------------
// The ring
// ---------------------------------------------------------------------------------------------

/** A claim result: how many positions, or one of these. */
export const Full = 0
export const Empty = 0
export const Closed = -1
export const Ended = -1

/** Two sightings of stuck cells (rule 8): what was seen, and when. */
export interface Sighting {
  readonly side: "send" | "take"
  readonly position: number
  readonly stamps: ReadonlyArray<number>
  readonly at: number
}

/** Signed difference of two 31-bit positions (rule 1). */
const diff = (a: number, b: number): number => ((a - b) << 1) >> 1
const advance = (p: number, k: number): number => (p + k) & Mask31

export class Ring {
  readonly capacity: number
  readonly slotBytes: number
  readonly kind: number
  readonly buffer: SharedArrayBuffer
  readonly dataOffset: number
  /** The first position of the last successful claim. */
  claimed = 0
  private readonly mask: number
  private readonly header: Int32Array<SharedArrayBuffer>
  private readonly seq: Int32Array<SharedArrayBuffer>
  private readonly stamps: Int32Array<SharedArrayBuffer>
  private readonly epoch: number
  readonly abandonAfter: number

  readonly now: () => number

  constructor(buffer: SharedArrayBuffer, now: () => number = Date.now) {
    this.now = now
    const described = describe(buffer)
    if (typeof described === "string") throw new Error(`Ring: ${described}`)
    const l = layout(described.capacity, described.slotBytes)
    this.buffer = buffer
    this.capacity = described.capacity
    this.slotBytes = described.slotBytes
    this.kind = described.kind
    this.mask = described.capacity - 1
    this.dataOffset = l.dataOffset
    this.header = new Int32Array(buffer, 0, headerBytes / 4)
    this.seq = new Int32Array(buffer, l.seqOffset, described.capacity)
    this.stamps = new Int32Array(buffer, l.stampOffset, described.capacity)
    this.epoch = new Float64Array(buffer, 0, headerBytes / 8)[EpochF64]!
    this.abandonAfter = this.header[AbandonAfter]!
  }

  /** The cell index of a position. */
  cell(position: number): number {
    return position & this.mask
  }

  /**
   * Claims up to `max` free cells at `sendPos` (rules 3, 6): how many (their first position in
   * `claimed`), `Full`, or `Closed`.
   */
  claimSend(max: number): number {
    const header = this.header
    const seq = this.seq
    const mask = this.mask
    let v = Atomics.load(header, SendPos)
    for (;;) {
      if (v < 0) return Closed
      const p = v
      let k = 0
      while (k < max) {
        const q = advance(p, k)
        if (Atomics.load(seq, q & mask) !== q) break
        k++
      }
      if (k === 0) {
        if (diff(Atomics.load(seq, p & mask), p) < 0) return Full
        v = Atomics.load(header, SendPos)
        continue
      }
      const seen = Atomics.compareExchange(header, SendPos, v, advance(p, k))
      if (seen === v) {
        this.stamp(p, k)
        this.claimed = p
        return k
      }
      v = seen
    }
  }

  /**
   * Publishes the `count` cells claimed from `position` (rule 4): how many of them were refused
   * because rule 8 abandoned them meanwhile (their elements are lost).
   */
  publish(position: number, count: number): number {
    const seq = this.seq
    const mask = this.mask
    let refused = 0
    for (let i = 0; i < count; i++) {
      const q = advance(position, i)
      if (Atomics.compareExchange(seq, q & mask, q, advance(q, 1)) !== q) refused++
    }
    this.signal(TakersWaiting, DataEvent)
    return refused
  }

  /**
   * Claims up to `max` published cells at `takePos` (rules 3, 5, 6): how many (first position in
   * `claimed`), `Empty`, or `Ended` (closed and everything claimed was taken).
   */
  claimTake(max: number): number {
    const header = this.header
    const seq = this.seq
    const mask = this.mask
    let p = Atomics.load(header, TakePos)
    for (;;) {
      let k = 0
      while (k < max) {
        const q = advance(p, k)
        if (Atomics.load(seq, q & mask) !== advance(q, 1)) break
        k++
      }
      if (k === 0) {
        if (diff(Atomics.load(seq, p & mask), advance(p, 1)) < 0) {
          const s = Atomics.load(header, SendPos)
          return s < 0 && (s & Mask31) === p ? Ended : Empty
        }
        p = Atomics.load(header, TakePos)
        continue
      }
      const seen = Atomics.compareExchange(header, TakePos, p, advance(p, k))
      if (seen === p) {
        this.stamp(p, k)
        this.claimed = p
        return k
      }
      p = seen
    }
  }

  /**
   * Releases the cell of a taken position for the next lap (rule 4): `false` when rule 8 took it
   * back meanwhile, and what was read from it must be discarded. Call `signalSpace` after a batch.
   */
  release(position: number): boolean {
    return Atomics.compareExchange(
      this.seq,
      position & this.mask,
      advance(position, 1),
      advance(position, this.capacity)
    ) === advance(position, 1)
  }

  /** Wakes senders waiting for room (after `release`s). */
  signalSpace(): void {
    this.signal(SendersWaiting, SpaceEvent)
  }

  /** Closes the ring (rule 6): `false` when it was closed already. */
  close(): boolean {
    let v = Atomics.load(this.header, SendPos)
    for (;;) {
      if (v < 0) return false
      const seen = Atomics.compareExchange(this.header, SendPos, v, v | ClosedBit)
      if (seen === v) break
      v = seen
    }
    this.bump(DataEvent)
    this.bump(SpaceEvent)
    return true
  }

  get isClosed(): boolean {
    return Atomics.load(this.header, SendPos) < 0
  }

  /** Elements published or claimed and not yet taken (approximate while others run). */
  get size(): number {
    const s = Atomics.load(this.header, SendPos) & Mask31
    return Math.max(0, diff(s, Atomics.load(this.header, TakePos)))
  }

  /** Positions abandoned under rule 8 since the ring was made. */
  get abandoned(): number {
    return Atomics.load(this.header, Abandoned)
  }

  // -------------------------------------------------------------------------------------------
  // Waiting (rule 7)
  // -------------------------------------------------------------------------------------------

  /** Announces a waiting taker (or sender) and returns the event word's value to wait on. */
  announce(side: "send" | "take"): number {
    Atomics.add(this.header, side === "take" ? TakersWaiting : SendersWaiting, 1)
    return Atomics.load(this.header, side === "take" ? DataEvent : SpaceEvent)
  }

  /** Withdraws an announcement (also when the wait was interrupted). */
  withdraw(side: "send" | "take"): void {
    Atomics.sub(this.header, side === "take" ? TakersWaiting : SendersWaiting, 1)
  }

  /**
   * Waits, without blocking the thread, until the event word of `side` moves from `seen` or
   * `timeoutMillis` pass. `undefined` when it moved already (no need to wait).
   */
  waitAsync(side: "send" | "take", seen: number, timeoutMillis: number, waits: Waits = atomicWaits): Promise<unknown> | undefined {
    return waits.waitAsync(this.header, side === "take" ? DataEvent : SpaceEvent, seen, timeoutMillis)
  }

  /** Blocks the thread (never the main thread) until the event word moves or the timeout passes. */
  waitSync(side: "send" | "take", seen: number, timeoutMillis: number): void {
    Atomics.wait(this.header, side === "take" ? DataEvent : SpaceEvent, seen, timeoutMillis)
  }

  private signal(waitersIndex: number, eventIndex: number): void {
    if (Atomics.load(this.header, waitersIndex) > 0) this.bump(eventIndex)
  }

  private bump(eventIndex: number): void {
    Atomics.add(this.header, eventIndex, 1)
    Atomics.notify(this.header, eventIndex)
  }

  // -------------------------------------------------------------------------------------------
  // Abandonment (rule 8)
  // -------------------------------------------------------------------------------------------

  private stamp(position: number, count: number): void {
    const t = this.clock()
    const stamps = this.stamps
    const mask = this.mask
    for (let i = 0; i < count; i++) stamps[(position + i) & mask] = t
  }

  private clock(): number {
    return Math.min(Mask31, Math.max(0, Math.floor(this.now() - this.epoch)))
  }

  /**
   * The stuck cells a waiter on `side` sees now: positions claimed by another party and not
   * published (take side) or not released (send side), with a stamp at least `abandonAfter` old.
   * `undefined` when the first position is not stuck.
   */
  sight(side: "send" | "take", max = 4096): Sighting | undefined {
    const now = this.clock()
    const stamps: Array<number> = []
    const first = side === "take" ? Atomics.load(this.header, TakePos) : Atomics.load(this.header, SendPos)
    if (first < 0) return undefined
    for (let i = 0; i < max; i++) {
      const p = advance(first, i)
      if (!this.isStuck(side, p)) break
      const stamp = this.stamps[p & this.mask]!
      if (now - stamp < this.abandonAfter) break
      stamps.push(stamp)
    }
    return stamps.length === 0 ? undefined : { side, position: first, stamps, at: now }
  }

  /**
   * Acts on a second sighting (rule 8): abandons the cells of `earlier` that are still stuck with
   * the same stamps, when at least `graceMillis` passed since. A taker that, having taken a stuck
   * position, finds it published after all keeps it instead: `adopted` is then true and the
   * position is in `claimed`, to be read and released like any claim of one.
   */
  abandon(earlier: Sighting, graceMillis: number): { readonly abandoned: number; readonly adopted: boolean } {
    let abandoned = 0
    let adopted = false
    if (this.clock() - earlier.at >= graceMillis) {
      for (let i = 0; i < earlier.stamps.length; i++) {
        const p = advance(earlier.position, i)
        if (!this.isStuck(earlier.side, p) || this.stamps[p & this.mask] !== earlier.stamps[i]) break
        if (earlier.side === "take") {
          if (Atomics.compareExchange(this.header, TakePos, p, advance(p, 1)) !== p) break
          if (Atomics.compareExchange(this.seq, p & this.mask, p, advance(p, this.capacity)) !== p) {
            this.claimed = p
            adopted = true
            break
          }
        } else {
          const previous = advance(p, -this.capacity)
          const published = advance(previous, 1)
          if (Atomics.compareExchange(this.seq, p & this.mask, published, p) !== published) break
        }
        Atomics.add(this.header, Abandoned, 1)
        abandoned++
      }
    }
    if (abandoned > 0) {
      this.bump(SpaceEvent)
      this.bump(DataEvent)
    }
    return { abandoned, adopted }
  }

  /** Whether position `p` is held by another party on the other side of a waiter on `side`. */
  private isStuck(side: "send" | "take", p: number): boolean {
    const seq = Atomics.load(this.seq, p & this.mask)
    if (side === "take") {
      // Claimed by a sender (`sendPos` beyond it), not published, not taken yet.
      const s = Atomics.load(this.header, SendPos) & Mask31
      return seq === p && diff(s, p) > 0 && diff(p, Atomics.load(this.header, TakePos)) >= 0
    }
    // The previous lap's element was published and claimed by a taker that did not release it.
    const previous = advance(p, -this.capacity)
    return seq === advance(previous, 1) && diff(Atomics.load(this.header, TakePos), previous) > 0
  }
}
