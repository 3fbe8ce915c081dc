/**
 * Channels on real threads: handles in task and actor payloads, producers and consumers in
 * several workers (every element delivered exactly once, FIFO per producer), waits that leave a
 * worker's other fibers running, close and drain, typed errors for bad values, and workers that
 * die holding a claim without wedging the others. The ring's rules one by one, over interleavings,
 * are in `test/runtime/memory/Ring.test.ts`.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Actor, Channel, PoolError, ProcessBackend, SharedArray, Task, TaskError, WorkerPool } from "../../src/index.ts"
import {
  BlockingFill,
  BlockingSum,
  ChannelTasks,
  Consumer,
  DieMidSend,
  DieMidTake,
  Drain,
  Image,
  ProduceImages,
  Producer,
  ProduceRecords,
  Rec
} from "../fixtures/channel-tasks.ts"
import { constructors } from "../../src/core/SharedArray.ts"
import { poolReasonOf, reasonOf } from "../support/backends.ts"

const entry = new URL("../fixtures/channel-worker.ts", import.meta.url)
const pool = (size: number) => WorkerPool.layer(ChannelTasks, { entry, size })

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

const channelReason = (error: unknown) => {
  assert.instanceOf(error, Channel.ChannelError)
  return (error as Channel.ChannelError).reason
}

/** Each producer's values appear in increasing order in what one consumer took. */
const assertFifoPerProducer = (taken: ReadonlyArray<number>, producerOf: (v: number) => number) => {
  const last = new Map<number, number>()
  for (const v of taken) {
    const p = producerOf(v)
    assert.isTrue((last.get(p) ?? -Infinity) < v, `producer ${p}: ${v} after ${last.get(p)}`)
    last.set(p, v)
  }
}

describe("Channel", () => {
  it.live("a take waiting in a worker leaves that worker's other fibers running: a consumer actor and a producer task on one worker", () =>
    Effect.gen(function*() {
      const channel = yield* Channel.make(Rec, { capacity: 4 })
      const consumer = yield* Actor.spawn(Consumer, {})
      const [ids, sent] = yield* Effect.all([
        consumer.call("records", { from: channel }),
        Effect.andThen(
          Task.run(ProduceRecords, { out: channel, from: 0, count: 500, batch: 3 }),
          (n) => Effect.as(Channel.close(channel), n)
        )
      ], { concurrency: 2 })
      assert.strictEqual(sent, 500)
      assert.deepStrictEqual(ids, Array.from({ length: 500 }, (_, i) => i))
    }).pipe(Effect.scoped, Effect.provide(pool(1))))

  it.live("stress: 2 producer and 2 consumer workers, numbers and records, every element exactly once, FIFO per producer", () =>
    Effect.gen(function*() {
      const perProducer = 40_000
      const numbers = yield* Channel.make("Float64", { capacity: 64 })
      const records = yield* Channel.make(Rec, { capacity: 16 })
      const consumers = [yield* Actor.spawn(Consumer, {}, { worker: 0 }), yield* Actor.spawn(Consumer, {}, { worker: 1 })]
      const producers = [yield* Actor.spawn(Producer, {}, { worker: 2 }), yield* Actor.spawn(Producer, {}, { worker: 3 })]
      const [numbersTaken, recordsTaken] = yield* Effect.all([
        Effect.all([
          Effect.all(consumers.map((c) => c.call("numbers", { from: numbers })), { concurrency: 2 }),
          Effect.andThen(
            Effect.all([
              producers[0]!.call("numbers", { out: numbers, from: 0, count: perProducer, batch: 97 }),
              producers[1]!.call("numbers", { out: numbers, from: 1_000_000, count: perProducer, batch: 1 })
            ], { concurrency: 2 }),
            Channel.close(numbers)
          )
        ], { concurrency: 2 }),
        Effect.all([
          Effect.all(consumers.map((c) => c.call("records", { from: records })), { concurrency: 2 }),
          Effect.andThen(
            Effect.all([
              producers[0]!.call("records", { out: records, from: 0, count: 3000, batch: 7 }),
              producers[1]!.call("records", { out: records, from: 1_000_000, count: 3000, batch: 1 })
            ], { concurrency: 2 }),
            Channel.close(records)
          )
        ], { concurrency: 2 })
      ], { concurrency: 2 })
      const check = (takenByConsumer: ReadonlyArray<ReadonlyArray<number>>, count: number) => {
        const all = takenByConsumer.flat().sort((a, b) => a - b)
        const expected = [
          ...Array.from({ length: count }, (_, i) => i),
          ...Array.from({ length: count }, (_, i) => 1_000_000 + i)
        ]
        assert.strictEqual(all.length, expected.length)
        assert.deepStrictEqual(all, expected)
        for (const taken of takenByConsumer) assertFifoPerProducer(taken, (v) => (v >= 1_000_000 ? 1 : 0))
      }
      check(numbersTaken[0], perProducer)
      check(recordsTaken[0], 3000)
      assert.strictEqual(Channel.abandoned(numbers), 0)
    }).pipe(Effect.scoped, Effect.provide(pool(4))), 60_000)

  it.live("the caller is a party too: it sends to a worker and takes what a worker sends", () =>
    Effect.gen(function*() {
      const toWorker = yield* Channel.make(Rec, { capacity: 8 })
      const fromWorker = yield* Channel.make("Float64", { capacity: 8 })
      const consumer = yield* Actor.spawn(Consumer, {})
      const producer = yield* Actor.spawn(Producer, {})
      const [ids] = yield* Effect.all([
        consumer.call("records", { from: toWorker }),
        Effect.andThen(
          Stream.range(1, 50).pipe(Stream.map((id) => ({ id, name: `n${id}` })), Stream.run(Channel.sink(toWorker))),
          Channel.close(toWorker)
        )
      ], { concurrency: 2 })
      assert.deepStrictEqual(ids, Array.from({ length: 50 }, (_, i) => i + 1))
      const [, taken] = yield* Effect.all([
        Effect.andThen(producer.call("numbers", { out: fromWorker, from: 10, count: 100, batch: 16 }), Channel.close(fromWorker)),
        Channel.toStream(fromWorker).pipe(Stream.runCollect)
      ], { concurrency: 2 })
      assert.deepStrictEqual(taken, Array.from({ length: 100 }, (_, i) => i + 10))
    }).pipe(Effect.scoped, Effect.provide(pool(2))))

  it.live("a worker that must block opts in: takeBlocking and sendAllBlocking in synchronous handlers", () =>
    Effect.gen(function*() {
      const toWorker = yield* Channel.make("Float64", { capacity: 8 })
      const [sum] = yield* Effect.all([
        Task.run(BlockingSum, { from: toWorker }),
        Effect.andThen(Channel.sendAll(toWorker, Array.from({ length: 1000 }, (_, i) => i)), Channel.close(toWorker))
      ], { concurrency: 2 })
      assert.strictEqual(sum, 999 * 500)
      const fromWorker = yield* Channel.make("Float64", { capacity: 8 })
      const [, taken] = yield* Effect.all([
        Effect.andThen(Task.run(BlockingFill, { out: fromWorker, count: 1000 }), Channel.close(fromWorker)),
        Channel.toStream(fromWorker).pipe(Stream.runCollect)
      ], { concurrency: 2 })
      assert.deepStrictEqual(taken, Array.from({ length: 1000 }, (_, i) => i))
      assert.isUndefined(Channel.takeBlocking(fromWorker, 4), "closed and drained: the end, at once")
    }).pipe(Effect.scoped, Effect.provide(pool(1))))

  it.live("a handle in an actor's init arguments: the actor drains the channel the caller fills", () =>
    Effect.gen(function*() {
      const channel = yield* Channel.make(Rec, { capacity: 4 })
      const drain = yield* Actor.spawn(Drain, { from: channel })
      const [count] = yield* Effect.all([
        drain.call("run"),
        Effect.andThen(
          Channel.sendAll(channel, Array.from({ length: 100 }, (_, id) => ({ id, name: "x" }))),
          Channel.close(channel)
        )
      ], { concurrency: 2 })
      assert.strictEqual(count, 100)
    }).pipe(Effect.scoped, Effect.provide(pool(1))))

  it.effect("close: takers drain what was sent, then see the end; sends after it fail with Closed", () =>
    Effect.gen(function*() {
      const channel = yield* Channel.make("Int32", { capacity: 16 })
      yield* Channel.sendAll(channel, [1, 2, 3])
      assert.isTrue(yield* Channel.close(channel))
      assert.isFalse(yield* Channel.close(channel))
      const closed = yield* Effect.flip(Channel.send(channel, 4))
      assert.instanceOf(channelReason(closed), Channel.Closed)
      assert.deepStrictEqual(yield* Channel.toStream(channel).pipe(Stream.runCollect), [1, 2, 3])
      const end = yield* Effect.exit(Channel.take(channel))
      assert.isTrue(Exit.isFailure(end))
    }).pipe(Effect.scoped))

  it.live("interrupting a waiting take or send leaves the channel as it was", () =>
    Effect.gen(function*() {
      const channel = yield* Channel.make("Float64", { capacity: 2 })
      const waitingTake = yield* Effect.forkChild(Channel.take(channel))
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(waitingTake)
      yield* Channel.sendAll(channel, [1, 2]) // full now
      const waitingSend = yield* Effect.forkChild(Channel.send(channel, 3))
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(waitingSend)
      assert.strictEqual(Channel.size(channel), 2)
      assert.deepStrictEqual(yield* Channel.takeUpTo(channel, 10), [1, 2])
      yield* Channel.close(channel)
      assert.isTrue(Exit.isFailure(yield* Effect.exit(Channel.take(channel))))
    }).pipe(Effect.scoped))

  it.live("regression: an interrupted take, stream or send leaves no waiter announced behind it", () =>
    Effect.gen(function*() {
      // Was: the announcement stayed until the pending `Atomics.waitAsync` timed out (up to
      // 250 ms), every send and take meanwhile notifying a waiter that was gone.
      const channel = yield* Channel.make("Float64", { capacity: 2 })
      // The ring's waiter counts (Ring.ts header words 40 and 44: takers, senders).
      const header = new Int32Array((channel.cells.ring as { readonly buffer: SharedArrayBuffer }).buffer, 0, 64)
      for (const waiter of [Channel.take(channel), Stream.runDrain(Channel.toStream(channel))]) {
        const fiber = yield* Effect.forkChild(waiter)
        while (Atomics.load(header, 40) === 0) yield* Effect.sleep("1 millis")
        yield* Fiber.interrupt(fiber)
        assert.strictEqual(Atomics.load(header, 40), 0, "takers still announced")
      }
      yield* Channel.sendAll(channel, [1, 2])
      const sender = yield* Effect.forkChild(Channel.send(channel, 3))
      while (Atomics.load(header, 44) === 0) yield* Effect.sleep("1 millis")
      yield* Fiber.interrupt(sender)
      assert.strictEqual(Atomics.load(header, 44), 0, "senders still announced")
      // And the ring still flows both ways.
      assert.deepStrictEqual([...(yield* Channel.takeUpTo(channel, 10))], [1, 2])
      const taker = yield* Effect.forkChild(Channel.take(channel))
      yield* Effect.sleep("5 millis")
      yield* Channel.send(channel, 4)
      assert.strictEqual(yield* Fiber.join(taker), 4)
      assert.deepStrictEqual([Atomics.load(header, 40), Atomics.load(header, 44)], [0, 0])
    }).pipe(Effect.scoped))

  it.effect("a take's max of Infinity takes what is ready, up to the capacity", () =>
    Effect.gen(function*() {
      const numbers = yield* Channel.make("Float64", { capacity: 4 })
      const records = yield* Channel.make(Rec, { capacity: 4, slotBytes: 64 })
      yield* Channel.sendAll(numbers, [1, 2, 3])
      yield* Channel.sendAll(records, [{ id: 1, name: "a" }, { id: 2, name: "b" }])
      assert.deepStrictEqual([...(yield* Channel.takeUpTo(numbers, Infinity))], [1, 2, 3])
      assert.deepStrictEqual([...(yield* Channel.takeUpTo(records, Infinity))], [{ id: 1, name: "a" }, { id: 2, name: "b" }])
      yield* Channel.sendAll(numbers, [4, 5, 6])
      assert.deepStrictEqual([...(yield* Channel.takeArray(numbers, Number.POSITIVE_INFINITY))], [4, 5, 6])
      yield* Channel.sendAll(numbers, [7, 8])
      assert.deepStrictEqual([...(Channel.takeBlocking(numbers, Infinity) ?? [])], [7, 8])
    }).pipe(Effect.scoped))

  it.effect("regression: a take's max or a stream's chunkSize that is not a positive integer dies with a RangeError naming the call and option", () =>
    Effect.gen(function*() {
      // Was: read as one (or rounded down), unlike every other count option of the library.
      const numbers = yield* Channel.make("Float64", { capacity: 4 })
      const records = yield* Channel.make(Rec, { capacity: 4, slotBytes: 64 })
      yield* Channel.sendAll(numbers, [1, 2])
      yield* Channel.send(records, { id: 1, name: "a" })
      const dies = (exit: Exit.Exit<unknown, unknown>, pattern: RegExp, bad: number) => {
        const defect = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Die") : undefined
        const error = defect?._tag === "Die" ? defect.defect : undefined
        assert.instanceOf(error, RangeError, String(bad))
        assert.match(String(error), pattern)
      }
      for (const bad of [0, -1, 0.5, 2.5, Number.NaN, -Infinity]) {
        dies(yield* Effect.exit(Channel.takeUpTo(numbers, bad)), /Channel\.takeUpTo\(Float64\[4\]\): max must be a positive integer/, bad)
        dies(yield* Effect.exit(Channel.takeUpTo(records, bad)), /Channel\.takeUpTo\(.*\): max must be a positive integer/, bad)
        dies(yield* Effect.exit(Channel.takeArray(numbers, bad)), /Channel\.takeArray\(Float64\[4\]\): max/, bad)
        assert.throws(() => Channel.takeBlocking(numbers, bad), /Channel\.takeBlocking\(Float64\[4\]\): max/)
        dies(yield* Effect.exit(Stream.runCollect(Channel.toStream(numbers, { chunkSize: bad }))), /Channel\.toStream\(Float64\[4\]\): chunkSize must be a positive integer/, bad)
      }
      assert.strictEqual(Channel.size(numbers), 2, "nothing was taken")
      assert.strictEqual(Channel.size(records), 1)
      yield* Channel.close(numbers)
      assert.deepStrictEqual([...(yield* Stream.runCollect(Channel.toStream(numbers, { chunkSize: Infinity })))], [1, 2])
    }).pipe(Effect.scoped))

  it.effect("takeArray makes only the array it returns, not one of max (or capacity) values", () => {
    // The lengths of the typed arrays made meanwhile, seen through the constructor a take uses.
    const made: Array<number> = []
    const mutable = constructors as { Float64: Float64ArrayConstructor }
    const original = mutable.Float64
    class Counted extends Float64Array {
      constructor(...args: [number]) {
        super(...args)
        if (typeof args[0] === "number") made.push(args[0])
      }
    }
    const counted = Counted as unknown as Float64ArrayConstructor
    return Effect.gen(function*() {
      const numbers = yield* Channel.make("Float64", { capacity: 1024 })
      yield* Channel.sendAll(numbers, [1, 2, 3])
      mutable.Float64 = counted
      const all = yield* Channel.takeArray(numbers, Infinity)
      assert.deepStrictEqual([[...all], made], [[1, 2, 3], [3]], "three ready: an array of three, not of 1024")
      assert.strictEqual(all.buffer.byteLength, 3 * 8)
      // Sent as an array of the kind, taken as it is (no copy made by the send).
      const four = new counted(1)
      four[0] = 4
      made.length = 0
      const waiter = yield* Effect.forkChild(Channel.takeArray(numbers, 100))
      yield* Effect.yieldNow
      yield* Channel.sendAll(numbers, four)
      const one = yield* Fiber.join(waiter)
      assert.deepStrictEqual([[...one], made], [[4], [1]], "one sent to a waiting take: an array of one")
    }).pipe(Effect.ensuring(Effect.sync(() => { mutable.Float64 = original })), Effect.scoped)
  })

  it.effect("regression: a capacity, slotBytes or abandonAfter out of range dies naming Channel.make and the option", () =>
    Effect.gen(function*() {
      // Was: "Channel: capacity …", naming neither call (make or makeUnsafe says "Channel.make" for its element).
      const cases: ReadonlyArray<readonly [Channel.MakeOptions, string]> = [
        [{ capacity: 0 }, "capacity"],
        [{ capacity: 2.5 }, "capacity"],
        [{ capacity: Number.NaN }, "capacity"],
        [{ slotBytes: 4 }, "slotBytes"],
        [{ slotBytes: Number.NaN }, "slotBytes"],
        [{ abandonAfter: -1 }, "abandonAfter"]
      ]
      for (const [options, option] of cases) {
        const exit = yield* Effect.exit(Effect.scoped(Channel.make(Rec, options)))
        const defect = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Die") : undefined
        const error = defect?._tag === "Die" ? defect.defect : undefined
        assert.instanceOf(error, RangeError, option)
        assert.match(String(error), new RegExp(`Channel\\.make: ${option} must be`))
        assert.throws(() => Channel.makeUnsafe(Rec, options), new RegExp(`Channel\\.make: ${option} must be`))
      }
    }))

  it.effect("abandonAfter must be a duration above 0: NaN, negative and zero die instead of a 1 ms limit", () =>
    Effect.gen(function*() {
      for (const abandonAfter of [Number.NaN, -1, 0, "soon"] as const) {
        const exit = yield* Effect.exit(Effect.scoped(Channel.make("Float64", { abandonAfter: abandonAfter as never })))
        assert.isTrue(Exit.hasDies(exit), String(abandonAfter))
        const defect = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Die") : undefined
        assert.instanceOf(defect?._tag === "Die" ? defect.defect : undefined, RangeError, String(abandonAfter))
      }
      const channel = yield* Channel.make("Float64", { abandonAfter: Infinity })
      yield* Channel.send(channel, 1)
      assert.strictEqual(yield* Channel.take(channel), 1)
    }).pipe(Effect.scoped))

  it.effect("regression: a capacity and slotBytes whose ring cannot be allocated die naming both, not V8's bare \"Array buffer allocation failed\"", () =>
    Effect.gen(function*() {
      // Each is in range; together they ask for 256 TB.
      const exit = yield* Effect.exit(Effect.scoped(Channel.make(Schema.String, { capacity: 1 << 24, slotBytes: 1 << 24 })))
      const defect = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Die") : undefined
      const error = defect?._tag === "Die" ? defect.defect : undefined
      assert.instanceOf(error, RangeError)
      assert.match(String(error), /Channel: cannot allocate 16777216 slots of 16777216 bytes/)
    }))

  it.effect("regression: a value whose Schema has no JSON form is refused saying so, not as an invalid value", () =>
    Effect.gen(function*() {
      // Was: "ValueInvalid at [0]: Expected JSON value" for a Float64Array its Schema accepts.
      const arrays = yield* Channel.make(Schema.instanceOf(Float64Array), { capacity: 2 })
      const whole = channelReason(yield* Effect.flip(Channel.send(arrays, new Float64Array([1]))))
      assert.instanceOf(whole, Channel.ValueInvalid)
      assert.match(whole.message, /got a Float64Array: its Schema .* has no JSON form; send whole typed arrays as elements of SharedArray\.array/)
      const structs = yield* Channel.make(Schema.Struct({ at: Schema.instanceOf(Map) }), { capacity: 2 })
      const nested = channelReason(yield* Effect.flip(Channel.sendAll(structs, [{ at: new Map() }])))
      assert.deepStrictEqual((nested as Channel.ValueInvalid).path, [0, "at"])
      assert.match(nested.message, /got a Map: its Schema .* has no JSON form; .*toCodecJson/)
      // A value that is not JSON where the Schema has a JSON form keeps the plain message.
      const anything = yield* Channel.make(Schema.Unknown, { capacity: 2 })
      const odd = channelReason(yield* Effect.flip(Channel.send(anything, 1n)))
      assert.notInclude(odd.message, "no JSON form")
    }).pipe(Effect.scoped))

  it.effect("regression: an element that is neither a numeric kind nor a Schema is a RangeError naming it", () =>
    Effect.gen(function*() {
      // Was: "Cannot read properties of undefined (reading 'annotations')" (untyped code).
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [Float64Array, "the function Float64Array"],
        ["Uint8Clamped", "\"Uint8Clamped\""],
        [undefined, "undefined"],
        [{ fields: {} }, "an object that is not a Schema"]
      ]
      for (const [element, given] of cases) {
        const exit = yield* Effect.exit(Effect.scoped(Channel.make(element as never)))
        const defect = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Die") : undefined
        const error = defect?._tag === "Die" ? defect.defect : undefined
        assert.instanceOf(error, RangeError, given)
        assert.include(String(error), `Channel.make: the element must be a numeric kind (Float64, Float32, Int32, Uint8) or a Schema, got ${given}`)
        assert.throws(() => Channel.schema(element as never), RangeError, "Channel.schema: the element must be")
      }
    }))

  it.effect("the scope that made a channel closes it", () =>
    Effect.gen(function*() {
      const channel = yield* Effect.scoped(Channel.make("Float64"))
      assert.isTrue(Channel.isClosed(channel))
      assert.instanceOf(channelReason(yield* Effect.flip(Channel.send(channel, 1))), Channel.Closed)
    }))

  it.effect("a bad value fails its own send with a typed error, and nothing of that send is written", () =>
    Effect.gen(function*() {
      const channel = yield* Channel.make(Rec, { capacity: 4, slotBytes: 64 })
      const refusal = yield* Effect.flip(Channel.sendAll(channel, [{ id: 1, name: "a" }, { id: 1.5, name: "b" }]))
      const invalid = channelReason(refusal)
      assert.instanceOf(invalid, Channel.ValueInvalid)
      assert.deepStrictEqual((invalid as Channel.ValueInvalid).path, [1, "id"])
      assert.include(refusal.message, `ValueInvalid at [1,"id"]: `, "the message names the value and field")
      const tooLarge = channelReason(yield* Effect.flip(Channel.send(channel, { id: 2, name: "x".repeat(100) })))
      assert.instanceOf(tooLarge, Channel.TooLarge)
      assert.strictEqual((tooLarge as Channel.TooLarge).slotBytes, 64)
      assert.strictEqual(Channel.size(channel), 0)
      const ints = yield* Channel.make("Uint8", { capacity: 4 })
      const outOfRange = channelReason(yield* Effect.flip(Channel.sendAll(ints, [1, 256])))
      assert.deepStrictEqual((outOfRange as Channel.ValueInvalid).path, [1])
      // One value sent: its path starts at the value (was [0, "id"], the index of a batch of one);
      // a sendAll of one keeps the index.
      const single = yield* Effect.flip(Channel.send(channel, { id: 1.5, name: "b" }))
      assert.deepStrictEqual((channelReason(single) as Channel.ValueInvalid).path, ["id"])
      assert.include(single.message, `ValueInvalid at ["id"]: `)
      const number = channelReason(yield* Effect.flip(Channel.send(ints, 256)))
      assert.deepStrictEqual((number as Channel.ValueInvalid).path, [])
      const batchOfOne = channelReason(yield* Effect.flip(Channel.sendAll(channel, [{ id: 1.5, name: "b" }])))
      assert.deepStrictEqual((batchOfOne as Channel.ValueInvalid).path, [0, "id"])
      // The channels go on.
      yield* Channel.send(channel, { id: 3, name: "ok" })
      assert.deepStrictEqual(yield* Channel.take(channel), { id: 3, name: "ok" })
    }).pipe(Effect.scoped))

  it.live("typed arrays go whole, one a slot: a worker's images arrive in order, each a fresh array of the same numbers", () =>
    Effect.gen(function*() {
      const length = 4096
      const images = yield* Channel.make(Image, { capacity: 4, slotBytes: 4 + 8 * length })
      assert.strictEqual(images.name, "Float64Array[4]")
      const [sent, taken] = yield* Effect.all([
        Effect.andThen(Task.run(ProduceImages, { out: images, count: 50, length }), (n) => Effect.as(Channel.close(images), n)),
        Stream.runCollect(Channel.toStream(images))
      ], { concurrency: 2 })
      assert.strictEqual(sent, 50)
      assert.strictEqual(taken.length, 50)
      taken.forEach((image, i) => {
        assert.instanceOf(image, Float64Array)
        assert.instanceOf(image.buffer, ArrayBuffer, "its own memory, not the ring's")
        assert.strictEqual(image.length, length)
        assert.strictEqual(image[0], i)
        assert.strictEqual(image[length - 1], i + (length - 1) / length)
      })
    }).pipe(Effect.scoped, Effect.provide(pool(1))))

  it.effect("typed-array elements: copies both ways, the wrong kind or a too large one refused, shared arrays refused at make", () =>
    Effect.gen(function*() {
      const Ints = SharedArray.array("Int32", { memory: "moved" })
      const channel = yield* Channel.make(Ints, { capacity: 4, slotBytes: 4 + 4 * 8 })
      const sent = Int32Array.of(1, -2, 3)
      yield* Channel.send(channel, sent)
      sent[0] = 99 // after the send: not seen by the taker
      const taken = yield* Channel.take(channel)
      assert.deepStrictEqual([...taken], [1, -2, 3])
      assert.strictEqual(sent.length, 3, "the sender keeps its array: the channel copied it")
      taken[1] = 7
      yield* Channel.send(channel, new Int32Array(0))
      assert.strictEqual((yield* Channel.take(channel)).length, 0)
      const wrongKind = channelReason(yield* Effect.flip(Channel.sendAll(channel, [Int32Array.of(1), Float64Array.of(1) as never])))
      assert.instanceOf(wrongKind, Channel.ValueInvalid)
      assert.deepStrictEqual((wrongKind as Channel.ValueInvalid).path, [1])
      assert.include(wrongKind.message, ", got a Float64Array", "the message says what was sent")
      assert.include(wrongKind.message, "Expected an Int32Array")
      const int8 = channelReason(yield* Effect.flip(Channel.send(channel, Int8Array.of(1) as never)))
      assert.include(int8.message, ", got an Int8Array")
      const detached = Int32Array.of(1)
      structuredClone(detached.buffer, { transfer: [detached.buffer] })
      const copied = yield* Channel.make(SharedArray.array("Int32", { memory: "copied" }), { capacity: 4, slotBytes: 36 })
      assert.include(channelReason(yield* Effect.flip(Channel.send(copied, detached))).message, "an Int32Array that was moved away")
      const plain = channelReason(yield* Effect.flip(Channel.send(channel, [1, 2] as never)))
      assert.include(plain.message, "got an array (a typed array of the kind is needed)")
      const tooLargeError = yield* Effect.flip(Channel.send(channel, new Int32Array(9)))
      const tooLarge = channelReason(tooLargeError)
      assert.instanceOf(tooLarge, Channel.TooLarge)
      assert.strictEqual((tooLarge as Channel.TooLarge).bytes, 4 + 36)
      // The message says what to change: one value sent has no index, and the slot size that fits.
      assert.include(tooLargeError.message, "TooLarge: the value encodes to 40 bytes (its 4-byte length included); a slot holds 36")
      assert.include(tooLargeError.message, "make the channel with slotBytes: 40 or more")
      const ofMany = yield* Effect.flip(Channel.sendAll(channel, [new Int32Array(1), new Int32Array(12)]))
      assert.include(ofMany.message, "TooLarge: value 1 encodes to 52 bytes")
      const resizable = new Int32Array(new ArrayBuffer(8, { maxByteLength: 64 }))
      assert.instanceOf(channelReason(yield* Effect.flip(Channel.send(channel, resizable))), Channel.ValueInvalid)
      assert.strictEqual(Channel.size(channel), 0, "nothing of a refused send was written")
      // Arrays inside other values have no JSON form: refused at make, not at every send.
      for (const element of [SharedArray.matrix("Float64", { memory: "copied" }), Schema.Struct({ id: Schema.Int, values: Ints })]) {
        const exit = yield* Effect.exit(Effect.scoped(Channel.make(element)))
        assert.isTrue(Exit.hasDies(exit))
        assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "inside it cannot be sent")
      }
      for (const memory of ["shared", "output"] as const) {
        const exit = yield* Effect.exit(Effect.scoped(Channel.make(SharedArray.array("Float64", { memory }))))
        assert.isTrue(Exit.hasDies(exit))
        assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), `memory: "copied"`)
      }
    }).pipe(Effect.scoped))

  it.effect("values round-trip: flat structs field by field (unicode, NaN, booleans), other Schemas through their JSON codec", () =>
    Effect.gen(function*() {
      const Flat = Schema.Struct({ n: Schema.Number, s: Schema.String, b: Schema.Boolean })
      const flat = yield* Channel.make(Flat, { capacity: 4, slotBytes: 48 })
      const flats = [{ n: NaN, s: "héllo ✓ 😀", b: true }, { n: -0.5, s: "", b: false }]
      yield* Channel.sendAll(flat, flats)
      const back = yield* Channel.takeUpTo(flat, 4)
      assert.deepStrictEqual([...back], flats)
      const tooLong = channelReason(yield* Effect.flip(Channel.send(flat, { n: 1, s: "é".repeat(20), b: true })))
      assert.instanceOf(tooLong, Channel.TooLarge)
      assert.strictEqual((tooLong as Channel.TooLarge).bytes, 4 + 8 + 4 + 40 + 1)
      const Nested = Schema.Struct({
        tags: Schema.Array(Schema.String),
        score: Schema.optional(Schema.Number),
        big: Schema.BigInt,
        kind: Schema.Literals(["a", "b"])
      })
      const nested = yield* Channel.make(Nested, { capacity: 4 })
      const values = [{ tags: ["x", "y"], score: 2, big: 12345678901234567890n, kind: "a" as const }, { tags: [], big: 0n, kind: "b" as const }]
      yield* Channel.sendAll(nested, values)
      assert.deepStrictEqual([...(yield* Channel.takeUpTo(nested, 4))], values)
    }).pipe(Effect.scoped))

  it.live("a flat value changed while its send waits goes as it was checked, and never spills into another cell", () =>
    Effect.gen(function*() {
      // The string first: a longer one pushed the number past the end of its slot.
      const NameFirst = Schema.Struct({ name: Schema.String, id: Schema.Number })
      const channel = yield* Channel.make(NameFirst, { capacity: 2, slotBytes: 32 })
      yield* Channel.sendAll(channel, [{ name: "a", id: 1 }, { name: "b", id: 2 }]) // full
      const value = { name: "c", id: 3 }
      const sender = yield* Effect.forkChild(Channel.send(channel, value))
      yield* Effect.sleep("10 millis")
      value.name = "x".repeat(100) // would not fit a slot: the send checked it before it waited
      assert.deepStrictEqual(yield* Channel.take(channel), { name: "a", id: 1 })
      yield* Fiber.join(sender)
      assert.deepStrictEqual([...(yield* Channel.takeUpTo(channel, 4))], [{ name: "b", id: 2 }, { name: "c", id: 3 }])
    }).pipe(Effect.scoped))

  it.live("a value a waiting take cannot decode fails that take with a defect, rather than leaving it waiting forever", () =>
    Effect.gen(function*() {
      const Sent = Schema.Struct({ at: Schema.Date })
      const Expected = Schema.Struct({ n: Schema.BigInt })
      const channel = yield* Channel.make(Sent, { capacity: 4 })
      // A handle decoded with another Schema over the same kind of memory (JSON slots).
      const other = Schema.decodeUnknownSync(Channel.schema(Expected))({ channel: channel.cells.ring.buffer })
      const taker = yield* Effect.forkChild(Effect.exit(Channel.take(other).pipe(Effect.timeout("2 seconds"))))
      yield* Effect.sleep("20 millis") // the take waits: the value arrives in its wait loop
      yield* Channel.send(channel, { at: new Date(0) })
      const exit = yield* Fiber.join(taker)
      assert.isTrue(Exit.hasDies(exit), `the take ended with ${String(exit)}`)
    }).pipe(Effect.scoped))

  it.effect("a flat struct's string with a lone surrogate arrives as it was sent, as through the JSON codec", () =>
    Effect.gen(function*() {
      const Flat = Schema.Struct({ s: Schema.String, n: Schema.Number })
      const flat = yield* Channel.make(Flat, { capacity: 4, slotBytes: 32 })
      const cut = "ab😀".slice(0, 3) // a string cut inside a surrogate pair
      const values = [{ s: cut, n: 1 }, { s: "\udc00é\n", n: 2 }, { s: "plain", n: 3 }]
      yield* Channel.sendAll(flat, values)
      assert.deepStrictEqual([...(yield* Channel.takeUpTo(flat, 4))], values)
      // Its size is that of what is written: a lone surrogate's escape is 6 bytes.
      const tooLarge = channelReason(yield* Effect.flip(Channel.send(flat, { s: "\ud800".repeat(3), n: 4 })))
      assert.strictEqual((tooLarge as Channel.TooLarge).bytes, 4 + 4 + 2 + 18 + 8)
    }).pipe(Effect.scoped))

  it.effect("a value with keys its Schema does not declare is sent as its Schema encodes it: without them", () =>
    Effect.gen(function*() {
      const Tagged = Schema.Struct({ tags: Schema.Array(Schema.String), items: Schema.Array(Schema.Struct({ n: Schema.Int })) })
      const channel = yield* Channel.make(Tagged, { capacity: 4 })
      const value = { tags: ["a"], items: [{ n: 1, note: "undeclared" }], secret: 1n }
      yield* Channel.send(channel, value) // was refused: the undeclared bigint "cannot be encoded as JSON"
      const another = { ...value, secret: "undeclared" }
      yield* Channel.send(channel, another)
      assert.deepStrictEqual([...(yield* Channel.takeUpTo(channel, 4))], [
        { tags: ["a"], items: [{ n: 1 }] },
        { tags: ["a"], items: [{ n: 1 }] }
      ])
    }).pipe(Effect.scoped))

  it.effect("a value whose getter throws fails its send with ValueInvalid on every path; each number is read once", () =>
    Effect.gen(function*() {
      const hostile = <T extends object>(target: T, key: PropertyKey, reads: ReadonlyArray<unknown>) => {
        let n = 0
        return Object.defineProperty(target, key, {
          enumerable: true,
          get: () => {
            if (n < reads.length) return reads[n++]
            throw new RangeError("hostile getter")
          }
        })
      }
      const flat = yield* Channel.make(Schema.Struct({ s: Schema.String, n: Schema.Number }), { capacity: 4 })
      const strings = yield* Channel.make(Schema.Array(Schema.String), { capacity: 4 })
      const numbers = yield* Channel.make("Float64", { capacity: 4 })
      const refusals = [
        yield* Effect.flip(Channel.send(flat, hostile({ n: 1 }, "s", []) as { s: string; n: number })),
        yield* Effect.flip(Channel.send(strings, hostile(["a"], 1, []))),
        yield* Effect.flip(Channel.sendAll(numbers, hostile([1], 1, [])))
      ]
      for (const refusal of refusals) assert.instanceOf(channelReason(refusal), Channel.ValueInvalid)
      assert.deepStrictEqual([Channel.size(flat), Channel.size(strings), Channel.size(numbers)], [0, 0, 0])
      // A getter that answers once, then throws: what was checked is what is sent (a second read
      // threw while the cells were claimed, leaving them unpublished).
      yield* Channel.sendAll(numbers, hostile([1], 1, [5]))
      assert.deepStrictEqual([...(yield* Channel.takeUpTo(numbers, 4))], [1, 5])
    }).pipe(Effect.scoped))

  it.live("a typed array moved away while its send waits fails that send, and the thread goes on", () =>
    Effect.gen(function*() {
      // Was: the send claimed none of the free cells and retried forever, spinning the thread.
      const channel = yield* Channel.make("Float64", { capacity: 2 })
      const values = new Float64Array([1, 2, 3])
      const sender = yield* Effect.forkChild(Channel.sendAll(channel, values))
      yield* Effect.sleep("10 millis") // two sent, the third waits for room
      structuredClone(values.buffer, { transfer: [values.buffer] })
      assert.deepStrictEqual([...(yield* Channel.takeUpTo(channel, 4))], [1, 2])
      assert.isTrue(Exit.hasDies(yield* Fiber.await(sender)))
      yield* Channel.send(channel, 4)
      assert.deepStrictEqual(yield* Channel.take(channel), 4)
    }).pipe(Effect.scoped))

  it.live("a typed-array element moved away while its send waits fails that send, not delivered empty", () =>
    Effect.gen(function*() {
      const channel = yield* Channel.make(SharedArray.array("Float64", { memory: "moved" }), { capacity: 2, slotBytes: 64 })
      const moved = Float64Array.of(3, 4)
      const sender = yield* Effect.forkChild(Channel.sendAll(channel, [Float64Array.of(1), Float64Array.of(2), moved, Float64Array.of(5)]))
      yield* Effect.sleep("10 millis") // two sent, the third waits for room
      structuredClone(moved.buffer, { transfer: [moved.buffer] })
      assert.deepStrictEqual((yield* Channel.takeUpTo(channel, 4)).map((a) => [...a]), [[1], [2]])
      assert.isTrue(Exit.hasDies(yield* Fiber.await(sender)))
      assert.strictEqual(Channel.size(channel), 0, "nothing of the moved array (nor after it) was written")
      yield* Channel.send(channel, Float64Array.of(6))
      assert.deepStrictEqual([...(yield* Channel.take(channel))], [6], "the thread goes on")
    }).pipe(Effect.scoped))

  it.effect("a typed-array element already moved away is refused, as a payload refuses it, not sent as an empty array", () =>
    Effect.gen(function*() {
      const channel = yield* Channel.make(SharedArray.array("Float64", { memory: "copied" }), { capacity: 4, slotBytes: 36 })
      const moved = Float64Array.of(1, 2)
      structuredClone(moved.buffer, { transfer: [moved.buffer] })
      const refusal = channelReason(yield* Effect.flip(Channel.sendAll(channel, [Float64Array.of(3), moved])))
      assert.instanceOf(refusal, Channel.ValueInvalid)
      assert.deepStrictEqual((refusal as Channel.ValueInvalid).path, [1])
      assert.strictEqual(Channel.size(channel), 0, "nothing of the refused send was written")
      yield* Channel.send(channel, new Float64Array(0)) // empty, not moved: it goes
      assert.strictEqual((yield* Channel.take(channel)).length, 0)
    }).pipe(Effect.scoped))

  it.live("typed-array elements replaced in their list while the send waits go as they were checked", () =>
    Effect.gen(function*() {
      const channel = yield* Channel.make(SharedArray.array("Float64", { memory: "copied" }), { capacity: 2, slotBytes: 36 })
      const values = [Float64Array.of(1), Float64Array.of(2), Float64Array.of(3), Float64Array.of(4)]
      const sender = yield* Effect.forkChild(Channel.sendAll(channel, values))
      yield* Effect.sleep("10 millis") // two sent, the others wait for room
      values[2] = Float32Array.of(9, 9) as never // another kind, of the same byte length
      values[3] = "not an array" as never
      const first = yield* Channel.takeUpTo(channel, 2) // room for the other two
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(sender)))
      const taken = [...first, ...(yield* Channel.takeUpTo(channel, 4))]
      assert.deepStrictEqual(taken.map((a) => [a.constructor.name, ...a]), [["Float64Array", 1], ["Float64Array", 2], ["Float64Array", 3], ["Float64Array", 4]])
    }).pipe(Effect.scoped))

  it.effect("typed-array elements of every kind: a subarray sends its own bytes (byteOffset), on every send and take path", () =>
    Effect.gen(function*() {
      for (const kind of SharedArray.kinds) {
        const Ctor = SharedArray.constructors[kind]
        const channel = yield* Channel.make(SharedArray.array(kind, { memory: "copied" }), { capacity: 8, slotBytes: 68 })
        const whole = new Ctor(new SharedArrayBuffer(16 * Ctor.BYTES_PER_ELEMENT) as never)
        for (let i = 0; i < whole.length; i++) whole[i] = i + 1
        const plain = Ctor.of(7, 8)
        yield* Channel.sendAll(channel, [whole.subarray(3, 7) as never, plain.subarray(1) as never])
        Channel.sendAllBlocking(channel, [whole.subarray(15) as never])
        yield* Stream.make(whole.subarray(0, 2)).pipe(Stream.run(Channel.sink(channel as Channel.Channel<unknown>)))
        const taken = [...(yield* Channel.takeUpTo(channel, 2)), ...Channel.takeBlocking(channel, 8)!]
        assert.deepStrictEqual(taken.map((a) => [a.constructor.name, ...a]), [
          [Ctor.name, 4, 5, 6, 7],
          [Ctor.name, 8],
          [Ctor.name, 16],
          [Ctor.name, 1, 2]
        ], kind)
        assert.isTrue(whole.buffer instanceof SharedArrayBuffer)
        assert.isTrue(taken.every((a) => a.buffer instanceof ArrayBuffer && a.byteOffset === 0), kind)
      }
    }).pipe(Effect.scoped))

  it.effect("a typed-array cell whose length is garbage (a torn cell, rule 8) reads within its slot, whole elements only", () =>
    Effect.gen(function*() {
      const channel = yield* Channel.make(SharedArray.array("Float64", { memory: "copied" }), { capacity: 8, slotBytes: 36 })
      const ring = channel.cells.ring
      const lengths = [-8, 0x7fffffff, 7, 1000, 12]
      for (const length of lengths) {
        // Internal: a cell published with this length prefix, as a torn write could leave it.
        assert.strictEqual(ring.claimSend(1), 1)
        const p = ring.claimed
        new DataView(ring.buffer, ring.dataOffset).setInt32((p & (ring.capacity - 1)) * ring.slotBytes, length, true)
        ring.publish(p, 1)
      }
      const taken = yield* Channel.takeUpTo(channel, 8)
      assert.deepStrictEqual(taken.map((a) => a.length), [0, 4, 0, 4, 1])
      assert.isTrue(taken.every((a) => a instanceof Float64Array && a.byteOffset === 0))
    }).pipe(Effect.scoped))

  it.effect("a payload whose channel memory holds another element is a payload error", () =>
    Effect.gen(function*() {
      const numbers = yield* Channel.make("Float64")
      const decoded = Schema.decodeUnknownExit(Channel.schema(Rec))({ channel: numbers.cells.ring.buffer })
      assert.isTrue(Exit.isFailure(decoded))
      assert.isTrue(Exit.isFailure(Schema.decodeUnknownExit(Channel.schema("Int32"))({ channel: numbers.cells.ring.buffer })))
      assert.isTrue(Exit.isSuccess(Schema.decodeUnknownExit(Channel.schema("Float64"))({ channel: numbers.cells.ring.buffer })))
    }).pipe(Effect.scoped))

  it.effect("a payload whose channel memory holds typed arrays of another kind, or other values, is a payload error", () =>
    Effect.gen(function*() {
      const copied = SharedArray.array("Float64", { memory: "copied" })
      const arrays = yield* Channel.make(copied)
      const records = yield* Channel.make(Rec)
      const decode = (element: Channel.Element, channel: Channel.Channel<any>) =>
        Schema.decodeUnknownExit(Channel.schema(element))({ channel: channel.cells.ring.buffer })
      // Float64 bytes read as Float32s, or as JSON text, and JSON text read as Float64s, were other values.
      const wrong = decode(SharedArray.array("Float32", { memory: "copied" }), arrays)
      assert.isTrue(Exit.isFailure(wrong))
      assert.include(String(wrong), "Float64 arrays, not Float32 arrays")
      assert.isTrue(Exit.isFailure(decode(Rec, arrays)))
      assert.isTrue(Exit.isFailure(decode(copied, records)))
      assert.isTrue(Exit.isFailure(decode("Float64", arrays)))
      // The same kind moved or copied is the same bytes.
      assert.isTrue(Exit.isSuccess(decode(SharedArray.array("Float64", { memory: "moved" }), arrays)))
      assert.isTrue(Exit.isSuccess(decode(copied, arrays)))
    }).pipe(Effect.scoped))

  it.effect("the default capacity keeps a channel of large slots within 64 MB: a channel of 800 KB arrays held 1,024 of them (≈ 820 MB, all touched as the ring went round)", () =>
    Effect.gen(function*() {
      const ringBytes = (channel: Channel.Channel<any>) => channel.cells.ring.buffer.byteLength
      const large = yield* Channel.make(Image, { slotBytes: 4 + 8 * 100_000 })
      assert.strictEqual(large.capacity, 64, "the largest power of two whose slots fit 64 MB")
      assert.isAtMost(ringBytes(large), 65 * 1024 * 1024)
      const huge = yield* Channel.make(Image, { slotBytes: 1 << 24 })
      assert.strictEqual(huge.capacity, 4)
      // Small slots keep 1024; an explicit capacity is kept as asked.
      assert.strictEqual((yield* Channel.make(Image, { slotBytes: 4 + 8 * 4096 })).capacity, 1024)
      assert.strictEqual((yield* Channel.make(Image, { capacity: 256, slotBytes: 4 + 8 * 100_000 })).capacity, 256)
      assert.strictEqual((yield* Channel.make("Float64")).capacity, 1024)
      // Past the largest slot the refusal says where such arrays go instead.
      const tooBig = yield* Effect.exit(Effect.scoped(Channel.make(Image, { capacity: 2, slotBytes: 4 + 8 * 3_000_000 })))
      const defect = Exit.isFailure(tooBig) ? tooBig.cause.reasons.find((r) => r._tag === "Die") : undefined
      assert.instanceOf(defect?._tag === "Die" ? defect.defect : undefined, RangeError)
      assert.include(String(defect?._tag === "Die" ? defect.defect : ""), "pass larger arrays as shared arrays in task payloads")
    }).pipe(Effect.scoped))

  it.live("a task handed a channel of another element fails with PayloadInvalid naming both elements, the handle rendered by its name", () =>
    Effect.gen(function*() {
      // Was: "Expected a channel of Float64Array (input: { out: { '~effect-parallel/Channel': …,
      // cells: EncodedCells { bytes: [Buffer …": neither what was given nor how to fix it, and the
      // ring's internals in the rendering.
      const floats = yield* Channel.make(SharedArray.array("Float32", { memory: "copied" }), { capacity: 4, slotBytes: 64 })
      const wrongKind = yield* Effect.flip(Task.run(ProduceImages, { out: floats as never, count: 1, length: 4 }))
      assert.instanceOf(reasonOf(wrongKind), TaskError.PayloadInvalid)
      assert.include(wrongKind.message, "Expected a channel of Float64Array, got a channel of Float32Array")
      assert.include(wrongKind.message, "name: 'Float32Array[4]'")
      assert.notInclude(wrongKind.message, "cells")
      // The same shape declared twice is another Schema: the message says to share one.
      const Twin = Schema.Struct({ id: Schema.Int, name: Schema.String }).annotate({ identifier: "Rec" })
      const twin = yield* Channel.make(Twin, { capacity: 4 })
      const wrongSchema = yield* Effect.flip(Task.run(ProduceRecords, { out: twin as never, from: 0, count: 1, batch: 1 }))
      assert.instanceOf(reasonOf(wrongSchema), TaskError.PayloadInvalid)
      assert.include(wrongSchema.message, "made with another Schema")
      assert.include(wrongSchema.message, "Channel.make")
    }).pipe(Effect.scoped, Effect.provide(pool(1))))

  it.live("a worker that dies mid-send does not wedge the channel: a taker abandons its claim after abandonAfter", () =>
    Effect.gen(function*() {
      const channel = yield* Channel.make("Float64", { capacity: 8, abandonAfter: "300 millis" })
      const died = yield* Effect.flip(Task.run(DieMidSend, { out: channel, count: 3 }))
      assert.instanceOf(reasonOf(died), TaskError.WorkerLost)
      const consumer = yield* Actor.spawn(Consumer, {})
      const producer = yield* Actor.spawn(Producer, {})
      const [taken] = yield* Effect.all([
        consumer.call("numbers", { from: channel }),
        Effect.andThen(producer.call("numbers", { out: channel, from: 0, count: 200, batch: 5 }), Channel.close(channel))
      ], { concurrency: 2 })
      assert.deepStrictEqual(taken, Array.from({ length: 200 }, (_, i) => i))
      assert.strictEqual(Channel.abandoned(channel), 3)
    }).pipe(Effect.scoped, Effect.provide(pool(2))))

  it.live("a worker that dies mid-take does not wedge the channel: a sender reclaims its cells after abandonAfter", () =>
    Effect.gen(function*() {
      const channel = yield* Channel.make("Float64", { capacity: 8, abandonAfter: "300 millis" })
      yield* Channel.sendAll(channel, [-8, -7, -6, -5, -4, -3, -2, -1]) // full
      const died = yield* Effect.flip(Task.run(DieMidTake, { from: channel, count: 3 }))
      assert.instanceOf(reasonOf(died), TaskError.WorkerLost)
      const consumer = yield* Actor.spawn(Consumer, {})
      const producer = yield* Actor.spawn(Producer, {})
      const [taken] = yield* Effect.all([
        consumer.call("numbers", { from: channel }),
        Effect.andThen(producer.call("numbers", { out: channel, from: 0, count: 100, batch: 4 }), Channel.close(channel))
      ], { concurrency: 2 })
      // The dead worker's three are lost; everything else arrives once, in order.
      assert.deepStrictEqual(taken, [-5, -4, -3, -2, -1, ...Array.from({ length: 100 }, (_, i) => i)])
      assert.strictEqual(Channel.abandoned(channel), 3)
    }).pipe(Effect.scoped, Effect.provide(pool(2))))

  it.live("a backend without shared memory refuses tasks that carry channels when the pool is built", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(pool(1)).pipe(Effect.provide(ProcessBackend.layer), Effect.scoped))
      const reason = poolReasonOf(error)
      assert.instanceOf(reason, PoolError.Unsupported)
      assert.include(reason.message, "channel", "a group with channels and no shared arrays is not told about shared arrays only")
    }))
})
