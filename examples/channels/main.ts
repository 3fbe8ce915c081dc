/**
 * Channels: producer and consumer workers through shared-memory queues — Python's multiprocessing
 * `Queue` example (a task queue feeding worker processes, a done queue collecting results), typed
 * and without pickling. A producer actor and the caller both put jobs on one channel; two consumer
 * actors take them and put results on another; the caller reads the results. Then a bad job and an
 * oversized one fail their own sends with typed errors, one worker streams a million numbers
 * to another without the caller seeing any of them, and whole arrays (signals of 4,096 samples)
 * cross from worker to worker one element each.
 *
 * Run with `npm run example -- channels`.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Actor, Channel, WorkerPool } from "effect-parallel"
import { Consumer, Done, Job, Producer, QueueActors, Signal } from "./jobs.ts"

const Pool = WorkerPool.layer(QueueActors, { entry: new URL("./worker.ts", import.meta.url), size: 2 })

const queues = Effect.scoped(Effect.gen(function*() {
  console.log("1. A job queue and a done queue, shared by two consumers")
  const jobs = yield* Channel.make(Job, { capacity: 8 }) // small: producers wait for consumers
  const results = yield* Channel.make(Done, { capacity: 64 })
  const consumers = [yield* Actor.spawn(Consumer, {}, { worker: 0 }), yield* Actor.spawn(Consumer, {}, { worker: 1 })]
  const producer = yield* Actor.spawn(Producer, {}, { worker: 0 })

  const produce = Effect.all([
    producer.call("jobs", { out: jobs, first: 0, count: 20 }), // from a worker
    Channel.sendAll(jobs, Array.from({ length: 20 }, (_, i) => ({ id: 20 + i, op: "plus" as const, a: i, b: 0.5 }))) // from the caller
  ], { concurrency: 2 })
  const consume = Effect.all(consumers.map((c) => c.call("work", { jobs, results })), { concurrency: 2 })
  const [, done, collected] = yield* Effect.all([
    Effect.andThen(produce, Channel.close(jobs)), // no more jobs: consumers drain, then stop
    Effect.tap(consume, () => Channel.close(results)),
    Channel.toStream(results).pipe(Stream.runCollect)
  ], { concurrency: "unbounded" })
  const ids = collected.map((r) => r.id).sort((a, b) => a - b)
  console.log(`   results: ${collected.length}, each job exactly once: ${ids.every((id, i) => id === i)}`)
  // Which consumer takes which job is not fixed: the split varies from run to run, and one that is
  // quicker to wake may take them all (40 + 0).
  console.log(`   jobs done per consumer: ${done.join(" + ")} = ${done[0]! + done[1]!} (whichever is free takes the next job: the split varies)`)
  const first = collected.find((r) => r.id === 2)!
  console.log(`   job 2 (mul 2 × 7) = ${first.value}, computed on worker ${first.worker}`)

  console.log("2. A bad value fails its own send, typed; the channel goes on")
  const bad = yield* Effect.flip(Channel.send(jobs, { id: 99, op: "div" as never, a: 1, b: 2 }))
  // The path names the field of the value sent: ["op"] (a sendAll's starts with the value's index).
  const at = bad.reason._tag === "ValueInvalid" ? ` at ${JSON.stringify(bad.reason.path)}` : ""
  console.log(`   ${bad._tag}, reason ${bad.reason._tag}${at}: ${bad.reason.message}`)
  const small = yield* Channel.make(Job, { capacity: 2, slotBytes: 40 })
  const big = yield* Effect.flip(Channel.send(small, { id: 1, op: "mul", a: Math.PI, b: Math.E }))
  console.log(`   ${big._tag}, reason ${big.reason._tag}: ${big.reason.message}`)
  yield* Channel.send(small, { id: 1, op: "mul", a: 2, b: 3 })
  console.log(`   the next send fits: taken back ${JSON.stringify(yield* Channel.take(small))}`)
}))

const numbers = Effect.scoped(Effect.gen(function*() {
  console.log("3. Worker to worker: a million float64 values, the caller sees only the sum")
  const channel = yield* Channel.make("Float64", { capacity: 65_536 })
  const producer = yield* Actor.spawn(Producer, {}, { worker: 0 })
  const consumer = yield* Actor.spawn(Consumer, {}, { worker: 1 })
  const n = 1_000_000
  const [, sum] = yield* Effect.all([
    Effect.andThen(producer.call("numbers", { out: channel, count: n }), Channel.close(channel)),
    consumer.call("sum", { from: channel })
  ], { concurrency: 2 })
  console.log(`   sum of 0 … ${n - 1}: ${sum} (expected ${(n * (n - 1)) / 2}: ${sum === (n * (n - 1)) / 2})`)
}))

const signals = Effect.scoped(Effect.gen(function*() {
  console.log("4. Whole arrays: 200 signals of 4,096 samples, one element each")
  const length = 4096
  // A slot holds one signal: its 4-byte length and 8 bytes a sample.
  const channel = yield* Channel.make(Signal, { capacity: 8, slotBytes: 4 + 8 * length })
  const producer = yield* Actor.spawn(Producer, {}, { worker: 0 })
  const consumer = yield* Actor.spawn(Consumer, {}, { worker: 1 })
  const [sent, { peak, signals: taken }] = yield* Effect.all([
    Effect.andThen(producer.call("signals", { out: channel, count: 200, length }), (n) => Effect.as(Channel.close(channel), n)),
    consumer.call("peaks", { from: channel })
  ], { concurrency: 2 })
  console.log(`   sent ${sent}, taken ${taken}, highest sample ${peak} (expected 199)`)
}))

const program = Effect.gen(function*() {
  yield* queues
  yield* numbers
  yield* signals
})

program.pipe(Effect.provide(Pool), Effect.runPromise).then(
  () => console.log(`\nworkers left running: ${WorkerPool.liveThreads()}`),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
