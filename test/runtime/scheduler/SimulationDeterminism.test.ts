/**
 * What the simulation promises beyond the scheduler: the same seed gives the same run — trace,
 * values, steps — for programs that use shared memory (channels, shared arrays) and spans, whose
 * machinery waits and schedules outside Effect's Clock on real threads.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Actor, Channel, SharedArray, Simulation, Task } from "../../../src/index.ts"
import { BlockingSum, ChannelTasks, Consumer, ProduceRecords, Producer, Rec } from "../../fixtures/channel-tasks.ts"
import channelEntry from "../../fixtures/channel-worker.ts"
import { Fill, Hold, SharedTasks } from "../../fixtures/shared-tasks.ts"
import simEntry, { Echo, SimTasks } from "../../fixtures/simulation.ts"
import sharedEntry from "../../fixtures/shared-worker.ts"
import { Nested, Plain, TracedTasks } from "../../fixtures/traced-tasks.ts"
import tracedEntry from "../../fixtures/traced-worker.ts"
import { memoryTracer } from "../../support/tracer.ts"

const runs = Math.min(200, Number(process.env.SIMULATION_RUNS ?? 200))
const int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/** Every observable of a report, for comparing two runs. */
const observed = (report: Simulation.Report<unknown, unknown>) => ({
  exit: JSON.stringify(report.exit),
  trace: Simulation.formatTrace(report.trace),
  pools: report.pools,
  steps: report.steps,
  time: report.time,
  quiescent: report.quiescent
})

describe("Simulation: channels", () => {
  const ChannelPool = Simulation.layer(ChannelTasks, { entry: channelEntry, size: 2 })

  /** A worker's task sends into a channel the caller takes from; two actors on workers meet through another. */
  const channels = (capacity: number, count: number, batch: number) =>
    Effect.gen(function*() {
      const records = yield* Channel.make(Rec, { capacity })
      const numbers = yield* Channel.make("Float64", { capacity })
      const producer = yield* Actor.spawn(Producer, {})
      const consumer = yield* Actor.spawn(Consumer, {})
      const [, taken, , took] = yield* Effect.all([
        Effect.andThen(Task.run(ProduceRecords, { out: records, from: 0, count, batch }), Channel.close(records)),
        Channel.toStream(records).pipe(Stream.map((record) => record.id), Stream.runCollect),
        Effect.andThen(Actor.call(producer, "numbers", { out: numbers, from: 100, count, batch }), Channel.close(numbers)),
        Actor.call(consumer, "numbers", { from: numbers })
      ], { concurrency: "unbounded" })
      return { taken, took }
    }).pipe(Effect.provide(ChannelPool))

  it.effect.prop(
    "channel waits run on the world's steps: the same seed gives the same run, and every value arrives in order",
    { seed: Schema.Int, capacity: int(1, 8), count: int(1, 30), batch: int(1, 5) },
    ({ seed, capacity, count, batch }) =>
      Effect.gen(function*() {
        const first = yield* Simulation.run(channels(capacity, count, batch), { seed })
        const second = yield* Simulation.run(channels(capacity, count, batch), { seed })
        Simulation.verify(first, ({ exit }) => {
          // Not a false `Deadlock`: a waiter woken by a real `Atomics.waitAsync` was invisible to the world.
          assert.deepStrictEqual(exit, Exit.succeed({
            taken: Array.from({ length: count }, (_, i) => i),
            took: Array.from({ length: count }, (_, i) => 100 + i)
          }))
          assert.isTrue(first.quiescent)
          assert.deepStrictEqual(observed(second), observed(first))
        })
      }),
    { timeout: 120_000, arbitrary: { runs } }
  )
})

describe("Simulation: a channel nobody sends to", () => {
  it.effect("a take that nothing can satisfy is a Deadlock, at once", () =>
    Effect.gen(function*() {
      const report = yield* Simulation.run(
        Effect.gen(function*() {
          const numbers = yield* Channel.make("Float64", { capacity: 2 })
          yield* Effect.sleep(5)
          return yield* Channel.take(numbers)
        }),
        { seed: 3 }
      )
      // Was: a `TimeLimit` after an hour of virtual time, its waiter looking again every 250 ms.
      assert.deepStrictEqual(report.exit, Exit.fail(new Simulation.SimulationError({
        reason: "Deadlock",
        message: "the program is waiting, but nothing in the world can wake it (at 5 virtual ms)"
      })))
      assert.isTrue(report.quiescent)
    }))
})

describe("Simulation: blocking channel forms", () => {
  const ChannelPool = Simulation.layer(ChannelTasks, { entry: channelEntry, size: 2 })

  it.effect("a blocking take that would wait fails its task, saying why, instead of freezing the thread", () =>
    Effect.gen(function*() {
      const report = yield* Simulation.run(
        Effect.gen(function*() {
          const numbers = yield* Channel.make("Float64", { capacity: 4 })
          const [summed] = yield* Effect.all([
            Effect.exit(Task.run(BlockingSum, { from: numbers })),
            Effect.andThen(Effect.andThen(Effect.sleep(10), Channel.sendAll(numbers, [1, 2, 3])), Channel.close(numbers))
          ], { concurrency: 2 })
          // With the values there already, nothing waits: the blocking form just takes them.
          const ready = yield* Channel.make("Float64", { capacity: 4 })
          yield* Channel.sendAll(ready, [4, 5])
          yield* Channel.close(ready)
          return { summed, ready: yield* Task.run(BlockingSum, { from: ready }) }
        }).pipe(Effect.provide(ChannelPool)),
        { seed: 5 }
      )
      // Was: Atomics.wait blocked the one thread for ever (not even the test's timeout fired).
      Simulation.verify(report, ({ exit }) => {
        if (!Exit.isSuccess(exit)) return assert.fail(`the program failed: ${String(exit.cause)}`)
        assert.isTrue(Exit.isFailure(exit.value.summed))
        assert.include(String(Exit.isFailure(exit.value.summed) ? exit.value.summed.cause : ""), "Channel.takeBlocking cannot wait in a simulation")
        assert.strictEqual(exit.value.ready, 9)
        assert.isTrue(report.quiescent)
      })
    }))
})

describe("Simulation: shared arrays", () => {
  const SharedPool = Simulation.layer(SharedTasks, { entry: sharedEntry, size: 2 })

  /**
   * Rounds of zeroed arrays lent to workers (their memory goes back to the arena when the task
   * ends) and made by workers, so released blocks are scrubbed (Arena rule 7) while the run goes
   * on; then what an uninitialized array holds, and the caller's arena counts.
   */
  const rounds = (length: number, count: number, millis: number) =>
    Effect.gen(function*() {
      const sums: Array<number> = []
      for (let round = 0; round < count; round++) {
        const lent = yield* Effect.scoped(Effect.gen(function*() {
          const values = yield* SharedArray.make("Float64", length)
          values.fill(round + 1)
          return yield* Task.run(Hold, { values, millis })
        }))
        const made = yield* Effect.scoped(Effect.map(Task.run(Fill, { length, value: round }), (filled) => filled[length - 1]!))
        sums.push(lent, made)
      }
      const seen = yield* Effect.scoped(Effect.map(SharedArray.makeUninitialized("Float64", length), (values) => [values[0], values[length - 1]]))
      return { sums, seen, stats: yield* SharedArray.arenaStats }
    }).pipe(Effect.provide(SharedPool))

  it.effect.prop(
    "each run has its own arenas, scrubbed on the world's steps: the same seed gives the same run",
    { seed: Schema.Int, length: int(1, 400_000), count: int(1, 4), millis: int(0, 5) },
    ({ seed, length, count, millis }) =>
      Effect.gen(function*() {
        const first = yield* Simulation.run(rounds(length, count, millis), { seed })
        const second = yield* Simulation.run(rounds(length, count, millis), { seed })
        Simulation.verify(first, ({ exit }) => {
          assert.isTrue(Exit.isSuccess(exit))
          assert.deepStrictEqual(observed(second), observed(first))
        })
      }),
    { timeout: 120_000, arbitrary: { runs: Math.min(runs, 50) } }
  )
})

describe("Simulation: spans", () => {
  const TracedPool = Simulation.layer(TracedTasks, { entry: tracedEntry, size: 2 })

  /** Traced calls whose spans a tracer of the program's own collects, rendered without their ids. */
  const traced = (inputs: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const { spans, tracer } = memoryTracer()
      const results = yield* Effect.all([
        Task.map(Nested, inputs.map((n) => ({ n })), { chunkSize: 2 }),
        Effect.forEach(inputs, (n) => Task.run(Plain, { n }), { concurrency: 2 })
      ], { concurrency: 2 }).pipe(Effect.withSpan("caller"), Effect.withTracer(tracer))
      const index = new Map(spans.map((span, i) => [span.spanId, i]))
      return {
        results,
        spans: spans.map((span) => ({
          name: span.name,
          parent: span.parent._tag === "Some" ? index.get(span.parent.value.spanId) ?? "outside" : "root",
          status: span.status._tag === "Ended" ? [span.status.startTime, span.status.endTime] : "open",
          attributes: [...span.attributes]
        })),
        ids: spans.map((span) => span.spanId)
      }
    }).pipe(Effect.provide(TracedPool))

  it.effect.prop(
    "spans replay — names, nesting, virtual times, attributes — but their ids are the tracer's",
    { seed: Schema.Int, inputs: Schema.Array(int(0, 99)).check(Schema.isMinLength(1), Schema.isMaxLength(5)) },
    ({ seed, inputs }) =>
      Effect.gen(function*() {
        const first = yield* Simulation.run(traced(inputs), { seed })
        const second = yield* Simulation.run(traced(inputs), { seed })
        Simulation.verify(first, ({ exit }) => {
          if (!Exit.isSuccess(exit) || !Exit.isSuccess(second.exit)) return assert.fail("a run failed")
          const { ids, ...spans } = exit.value
          const { ids: _, ...again } = second.exit.value
          assert.deepStrictEqual(again, spans)
          assert.deepStrictEqual(Simulation.formatTrace(second.trace), Simulation.formatTrace(first.trace))
          // The caller's span, one a task, and each Nested task's own.
          assert.strictEqual(ids.length, 1 + 2 * inputs.length + inputs.length)
        })
      }),
    { timeout: 120_000, arbitrary: { runs: Math.min(runs, 50) } }
  )
})

describe("Simulation: ranges", () => {
  const EchoPool = Simulation.layer(SimTasks, { entry: simEntry, size: 2 })

  it.effect.prop(
    "latency and work stay within their ranges, fractional bounds too",
    { seed: Schema.Int, min: int(0, 8), spread: int(0, 8) },
    ({ seed, min, spread }) =>
      Effect.gen(function*() {
        // Quarters of a ms: bounds a test of sub-millisecond timing would give.
        const range = { min: min / 4, max: (min + spread) / 4 }
        const program = Task.map(Echo, [1, 2, 3].map((n) => ({ n, millis: 0, fail: "none" as const }))).pipe(Effect.provide(EchoPool))
        const report = yield* Simulation.run(program, { seed, latency: range, work: range })
        Simulation.verify(report, ({ exit, trace }) => {
          assert.isTrue(Exit.isSuccess(exit))
          const within = (took: number, draws: number, what: string) => {
            assert.isAtLeast(took, draws * range.min, `${what}: too soon`)
            assert.isAtMost(took, draws * range.max, `${what}: too late`)
          }
          const spawned = new Map<number, number>()
          const started = new Map<number, number>()
          for (const event of trace) {
            if (event._tag === "Spawn") spawned.set(event.worker, event.at)
            // Starting the worker, then its `Ready` on the wire: two draws of latency.
            if (event._tag === "Ready") within(event.at - spawned.get(event.worker)!, 2, `worker ${event.worker}'s start`)
            if (event._tag === "Start") started.set(event.task, event.at)
            // A handler of no time of its own: one draw of work.
            if (event._tag === "Finish") within(event.at - started.get(event.task)!, 1, `task ${event.task}'s work`)
          }
        })
      }),
    { timeout: 120_000, arbitrary: { runs: Math.min(runs, 100) } }
  )
})
