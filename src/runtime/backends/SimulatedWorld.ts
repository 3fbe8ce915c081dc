/**
 * A deterministic world for simulated runs: processes that share the caller's thread, virtual
 * time, and a seeded generator that makes every choice the real runtime leaves to chance.
 *
 * Contains `World` (the event loop, its clock and its generator) and `Process` (one simulated
 * thread: its own Effect `Scheduler`, `Clock`, `Random` and shared-memory waits, its timers, and a
 * kill switch). The simulated backend (`SimulatedBackend.ts`) puts a pool on one process and each
 * worker on another.
 *
 * Rules:
 * 1. One step runs at a time — an Effect scheduler batch, a timer, a message delivery: what a
 *    macrotask is to Node — and the microtask queue drains completely before the next step (the
 *    loop waits for a real `setImmediate`), as Node drains it between macrotasks.
 * 2. A process runs its steps in the order they became runnable (Node runs one thread's
 *    immediates, and one port's messages, in order); which process steps next is drawn from the
 *    generator, so threads interleave differently under different seeds.
 * 3. Time moves only when no process can step: it jumps to the earliest timer. Timers due at the
 *    same time become runnable in the order they were set.
 * 4. A killed process never steps again: its runnable steps and timers are dropped. Like a
 *    terminated thread it runs no finalizers; its fibers stay suspended and are collected.
 * 5. While a real asynchronous operation the world waits on (`block`) is pending, nothing steps:
 *    its real duration cannot change the order of anything.
 * 6. Same seed, same program ⇒ same steps in the same order, as long as the program takes time
 *    only from Effect's `Clock` and randomness only from Effect's `Random` (the world provides both
 *    to every process) and does no real I/O outside `block`.
 * 7. A fiber waiting on a shared-memory word (a channel's send or take) is parked in the world,
 *    not on `Atomics.waitAsync` (whose wake-up is a real macrotask the world would neither order
 *    nor wait for): after each step the world wakes, in the order they parked, the waiters whose
 *    word moved — each as a step of its process — and a waiter's timeout is a virtual timer. When
 *    only waiters' timeouts are left, nothing can move a word: the world is quiescent (a program
 *    still waiting is a `Deadlock`, not a `TimeLimit` an hour of slices later).
 *    A blocking wait (`Atomics.wait`: `Channel.takeBlocking`) during a step would freeze the world
 *    for ever: it throws instead.
 * 8. Each process has its own `SharedArray` arena, as each thread has — made with the process, so
 *    no run inherits another's idle memory — and scrubs it (Arena rule 7) in steps of its own,
 *    not on a real `setImmediate`.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Scheduler from "effect/Scheduler"
import { Arena, CurrentArena } from "../memory/Arena.ts"
import { CurrentWaits, simulatedStep, type Waits } from "../memory/Ring.ts"

/** Why `World.drive` returned. */
export type DriveOutcome =
  /** Nothing can step and no timer is pending. */
  | "quiescent"
  /** `until` became true. */
  | "done"
  | "step-limit"
  | "time-limit"
  | "aborted"

export interface DriveLimits {
  readonly maxSteps: number
  /** Virtual milliseconds. */
  readonly maxTime: number
}

export class World {
  readonly seed: number
  private readonly draw: () => number
  private clock = 0
  private stepCount = 0
  private readonly processes: Array<Process> = []
  private readonly timers = new TimerHeap()
  private timerSeq = 0
  private readonly blocked = new Set<Promise<unknown>>()
  /** Waiters on shared-memory words, in the order they parked (rule 7). */
  private parked: Array<Parked> = []
  private aborted = false

  constructor(seed: number) {
    this.seed = seed
    this.draw = mulberry32(mix(seed))
  }

  /** Virtual milliseconds since the world began. */
  get now(): number {
    return this.clock
  }

  get steps(): number {
    return this.stepCount
  }

  /** A new process; it lives until killed. */
  process(name: string): Process {
    const process = new Process(this, name, mulberry32(this.nextUint32()))
    this.processes.push(process)
    return process
  }

  /** A draw in [0, 1). */
  random(): number {
    return this.nextUint32() / 4294967296
  }

  /** A draw in [min, max]: a whole number when both are, else any number between them. */
  between(min: number, max: number): number {
    if (max <= min) return min
    // Whole bounds keep their draw, so existing seeds replay; a whole step past a fractional max overshot it.
    if (Number.isInteger(min) && Number.isInteger(max)) return min + Math.floor(this.random() * (max - min + 1))
    return min + this.random() * (max - min)
  }

  /** Runs `f` at `at` (virtual ms) as a step of `process` (rule 3); an `idle` timer alone does not keep the world going (rule 7). */
  schedule(process: Process, at: number, f: () => void, idle = false): Timer {
    const timer: Timer = { at: Math.max(at, this.clock), seq: this.timerSeq++, process, f, idle }
    this.timers.push(timer)
    return timer
  }

  /** Stops the world from stepping until `promise` settles (rule 5); returns it. */
  block<A>(promise: Promise<A>): Promise<A> {
    const settled = promise.then(noop, noop).finally(() => this.blocked.delete(settled))
    this.blocked.add(settled)
    return promise
  }

  abort(): void {
    this.aborted = true
  }

  /** Steps the world until `until()` holds, nothing is left to do, or a limit is reached. */
  async drive(until: () => boolean, limits: DriveLimits): Promise<DriveOutcome> {
    for (;;) {
      // Rule 1: let every microtask the previous step queued run before the next step.
      await new Promise<void>((resolve) => setImmediate(resolve))
      simulatedStep.running = false
      while (this.blocked.size > 0) await Promise.all(this.blocked)
      if (this.aborted) return "aborted"
      this.wakeParked()
      if (until()) return "done"
      if (this.stepCount >= limits.maxSteps) return "step-limit"
      const process = this.pickRunnable()
      if (process !== undefined) {
        this.stepCount++
        // Until the next step: its microtasks belong to it.
        simulatedStep.running = true
        try {
          process.runOne()
        } catch (error) {
          simulatedStep.running = false
          throw error
        }
        continue
      }
      const advanced = this.advance(limits.maxTime)
      if (advanced !== "advanced") return advanced
    }
  }

  /** Parks a waiter of `process` until `word[index]` moves from `seen` or `timeoutMillis` pass (rule 7). */
  park(process: Process, word: Int32Array, index: number, seen: number, timeoutMillis: number): Promise<void> | undefined {
    if (Atomics.load(word, index) !== seen) return undefined
    return new Promise<void>((resolve) => {
      const parked: Parked = { process, word, index, seen, wake: resolve, timer: undefined }
      parked.timer = process.setTimer(timeoutMillis, () => {
        parked.wake = undefined
        resolve()
      }, true)
      this.parked.push(parked)
    })
  }

  /** Rule 7: wakes the waiters whose word moved; forgets those that woke by timeout or were killed. */
  private wakeParked(): void {
    if (this.parked.length === 0) return
    const still: Array<Parked> = []
    for (const parked of this.parked) {
      const wake = parked.wake
      if (wake === undefined || !parked.process.alive) continue
      if (Atomics.load(parked.word, parked.index) === parked.seen) {
        still.push(parked)
        continue
      }
      parked.wake = undefined
      if (parked.timer !== undefined) parked.process.clearTimer(parked.timer)
      parked.process.enqueue(wake)
    }
    this.parked = still
  }

  /** Rule 2. */
  private pickRunnable(): Process | undefined {
    let count = 0
    for (const process of this.processes) if (process.runnable) count++
    if (count === 0) return undefined
    let pick = count === 1 ? 0 : Math.floor(this.random() * count)
    for (const process of this.processes) {
      if (process.runnable && pick-- === 0) return process
    }
    return undefined
  }

  /** Rule 3: moves the clock to the earliest live timer and makes every timer due then runnable. */
  private advance(maxTime: number): "advanced" | "quiescent" | "time-limit" {
    let next = this.timers.peek()
    while (next !== undefined && (next.f === undefined || !next.process.alive)) {
      this.timers.pop()
      next = this.timers.peek()
    }
    // Only waiters' timeouts left: each would look again and wait again, for ever (rule 7).
    if (next === undefined || (next.idle && !this.timers.some((timer) => !timer.idle && timer.f !== undefined && timer.process.alive))) {
      return "quiescent"
    }
    if (next.at > maxTime) return "time-limit"
    this.clock = Math.max(this.clock, next.at)
    while ((next = this.timers.peek()) !== undefined && next.at <= this.clock) {
      this.timers.pop()
      const f = next.f
      if (f === undefined || !next.process.alive) continue
      next.f = undefined
      next.process.enqueue(f)
    }
    return "advanced"
  }

  /** @internal */
  forget(process: Process): void {
    const index = this.processes.indexOf(process)
    if (index >= 0) this.processes.splice(index, 1)
  }

  private nextUint32(): number {
    return this.draw()
  }
}

/** A pending timer; `f` is cleared when it fires or is cancelled. */
export interface Timer {
  readonly at: number
  readonly seq: number
  readonly process: Process
  f: (() => void) | undefined
  /** A waiter's timeout (rule 7). */
  readonly idle: boolean
}

interface Step {
  run: (() => void) | undefined
}

interface Parked {
  readonly process: Process
  readonly word: Int32Array
  readonly index: number
  readonly seen: number
  /** Cleared once it woke (its word moved, or its timer fired). */
  wake: (() => void) | undefined
  timer: Timer | undefined
}

/** One simulated thread. */
export class Process {
  readonly name: string
  readonly world: World
  /** Clock, Scheduler and Random for every fiber of this process. */
  readonly services: Context.Context<never>
  private queue: Array<Step> = []
  private head = 0
  private isAlive = true

  constructor(world: World, name: string, draw: () => number) {
    this.world = world
    this.name = name
    const scheduler = new Scheduler.MixedScheduler("async", (f) => {
      const step: Step = { run: f }
      this.queue.push(step)
      return () => {
        step.run = undefined
      }
    })
    const waits: Waits = { waitAsync: (word, index, seen, timeoutMillis) => world.park(this, word, index, seen, timeoutMillis) }
    this.services = Context.make(Clock.Clock, virtualClock(this)).pipe(
      Context.add(Scheduler.Scheduler, scheduler),
      Context.add(Random.Random, seededRandom(draw)),
      Context.add(CurrentWaits, waits),
      Context.add(CurrentArena, new Arena(undefined, (f) => this.defer(f)))
    ) as Context.Context<never>
  }

  get alive(): boolean {
    return this.isAlive
  }

  /** @internal */
  get runnable(): boolean {
    return this.isAlive && this.head < this.queue.length
  }

  /** Runs `f` as a step of this process, after the steps already runnable. */
  enqueue(f: () => void): void {
    if (this.isAlive) this.queue.push({ run: f })
  }

  /** Runs `f` as a step of this process, after the steps already runnable; returns how to cancel it. */
  defer(f: () => void): () => void {
    const step: Step = { run: f }
    if (this.isAlive) this.queue.push(step)
    return () => {
      step.run = undefined
    }
  }

  /** Runs `f` as a step of this process `millis` from now. */
  setTimer(millis: number, f: () => void, idle = false): Timer {
    return this.world.schedule(this, this.world.now + Math.max(0, millis), f, idle)
  }

  clearTimer(timer: Timer): void {
    timer.f = undefined
  }

  /** Rule 4. */
  kill(): void {
    if (!this.isAlive) return
    this.isAlive = false
    this.queue = []
    this.head = 0
    this.world.forget(this)
  }

  /** @internal */
  runOne(): void {
    const step = this.queue[this.head++]!
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    }
    step.run?.()
  }
}

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

const noop = () => {}

const virtualClock = (process: Process): Clock.Clock => {
  const millis = () => process.world.now
  const nanos = () => BigInt(Math.round(process.world.now * 1_000_000))
  return {
    currentTimeMillisUnsafe: millis,
    currentTimeMillis: Effect.sync(millis),
    currentTimeNanosUnsafe: nanos,
    currentTimeNanos: Effect.sync(nanos),
    monotonicTimeNanosUnsafe: nanos,
    monotonicTimeNanos: Effect.sync(nanos),
    sleep: (duration: Duration.Duration) => {
      const ms = Duration.toMillis(duration)
      if (!Number.isFinite(ms)) return Effect.never
      if (ms <= 0) return Effect.yieldNow
      return Effect.callback<void>((resume) => {
        const timer = process.setTimer(ms, () => resume(Effect.void))
        return Effect.sync(() => process.clearTimer(timer))
      })
    }
  }
}

const seededRandom = (draw: () => number): Random.Random => ({
  nextIntUnsafe: () => {
    // 53 random bits, centred on zero like the default service's range.
    const high = draw() >>> 11
    const low = draw()
    return (high * 4294967296 + low) - 2 ** 52
  },
  nextDoubleUnsafe: () => draw() / 4294967296
})

/** mulberry32: tiny state, and the same sequence on every platform for a seed. */
const mulberry32 = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return (t ^ (t >>> 14)) >>> 0
  }
}

/** Folds any number (negative, fractional, beyond 32 bits) into a 32-bit seed. */
const mix = (seed: number): number => {
  const low = seed >>> 0
  const high = Math.floor(seed / 4294967296) >>> 0
  let h = Math.imul(low ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(high ^ 0xc2b2ae35, 0x27d4eb2f)
  h ^= h >>> 16
  return Math.imul(h, 0x45d9f3b) >>> 0
}

/** A binary min-heap of timers by (at, seq). */
class TimerHeap {
  private items: Array<Timer> = []

  peek(): Timer | undefined {
    return this.items[0]
  }

  some(predicate: (timer: Timer) => boolean): boolean {
    return this.items.some(predicate)
  }

  push(timer: Timer): void {
    const items = this.items
    items.push(timer)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(items[i]!, items[parent]!)) break
      ;[items[i], items[parent]] = [items[parent]!, items[i]!]
      i = parent
    }
  }

  pop(): Timer | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length > 0 && last !== undefined) {
      items[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let smallest = i
        if (l < items.length && before(items[l]!, items[smallest]!)) smallest = l
        if (r < items.length && before(items[r]!, items[smallest]!)) smallest = r
        if (smallest === i) break
        ;[items[i], items[smallest]] = [items[smallest]!, items[i]!]
        i = smallest
      }
    }
    return top
  }
}

const before = (a: Timer, b: Timer): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq)
