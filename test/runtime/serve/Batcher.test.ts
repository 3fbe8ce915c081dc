/**
 * The batcher's rule 7 on its own, with a hand-driven clock: how it measures a batch's time and
 * fits it into a time per batch and per item, and when it refuses by expected wait.
 */
import { assert, describe, it } from "@effect/vitest"
import { Batcher, type Pending } from "../../../src/runtime/serve/Batcher.ts"

const make = (options: { readonly replicas: number; readonly maxExpectedWaitMillis?: number }) => {
  let now = 0
  const dispatched: Array<{ replica: number; batch: ReadonlyArray<Pending> }> = []
  const batcher = new Batcher({
    maxBatchSize: 32,
    maxWaitMillis: 5,
    maxQueued: 10_000,
    maxBatchesPerReplica: 1,
    maxExpectedWaitMillis: options.maxExpectedWaitMillis,
    replicas: options.replicas,
    dispatch: (replica, batch) => dispatched.push({ replica, batch }),
    now: () => now
  })
  for (let r = 0; r < options.replicas; r++) batcher.setReady(r, true)
  const offer = (rows = 1) => batcher.offer(rows, new Float32Array(rows), () => {})
  return { batcher, dispatched, offer, advance: (millis: number) => void (now += millis) }
}

describe("Batcher rule 7", () => {
  it("fits a time per batch and per item: batches of 1 (4.3 ms) and 32 (13.6 ms) are 4 ms + 0.3 ms per item", () => {
    const { advance, batcher, offer } = make({ replicas: 2 })
    assert.strictEqual(batcher.expectedWaitMillis(), 0, "nothing measured yet")
    offer() // replica 0 idle: a batch of 1 at once
    advance(4.3)
    batcher.batchDone(0)
    offer(32) // a batch of 32
    advance(13.6)
    batcher.batchDone(0)
    assert.deepStrictEqual(batcher.stats().inFlight, [0, 0])
    // Both replicas busy with a batch of 1, then 64 items queued: 2 + 2 batches, 66 items, 2 replicas.
    offer()
    offer()
    for (let i = 0; i < 64; i++) offer()
    assert.deepStrictEqual(batcher.stats().inFlight, [1, 1])
    assert.strictEqual(batcher.stats().queued, 64)
    assert.closeTo(batcher.expectedWaitMillis(), (4 * 4 + 66 * 0.3) / 2, 1e-6)
  })

  it("a batch's time starts when its replica could start it: a batch that waited behind another is not charged for it", () => {
    const { advance, batcher, offer } = make({ replicas: 1 })
    // maxBatchesPerReplica 1: the second request waits in the queue, then goes at batchDone.
    offer()
    offer()
    advance(10)
    batcher.batchDone(0) // the first: 10 ms; the second dispatched now
    advance(10)
    batcher.batchDone(0) // the second: 10 ms, not 20
    offer()
    offer()
    // One batch of 1 in flight, one item queued: 2 items at 10 ms each.
    assert.closeTo(batcher.expectedWaitMillis(), 20, 1e-6)
  })

  it("refuses once the expected wait passes the bound, and takes requests again as the work ahead shrinks", () => {
    const { advance, batcher, offer } = make({ replicas: 1, maxExpectedWaitMillis: 25 })
    offer()
    advance(10)
    batcher.batchDone(0)
    offer() // in flight: 10 ms ahead of the next
    assert.isDefined(offer(), "10 ms in flight + 10 ms queued: the next sees 20 ms")
    assert.strictEqual(batcher.refusal(), undefined, "20 ms ahead")
    assert.isDefined(offer())
    assert.strictEqual(batcher.refusal(), "expected_wait", "30 ms ahead")
    assert.isUndefined(offer())
    advance(10)
    batcher.batchDone(0) // the queued two leave as one batch: 20 ms ahead
    assert.strictEqual(batcher.refusal(), undefined)
  })
})

describe("Batcher rule 3", () => {
  it("the queue bound bounds memory: requests cancelled behind a replica that never finishes are not kept", () => {
    const { batcher, offer } = make({ replicas: 1 })
    offer() // in flight, never done: nothing is sent any more
    // The requests the batcher still references, taken or not.
    const held = () => (batcher as unknown as { queue: ReadonlyArray<Pending> }).queue.length
    for (let i = 0; i < 100_000; i++) {
      const pending = offer()! // waits (the replica is busy), then its deadline passes
      assert.isTrue(batcher.cancel(pending))
    }
    assert.strictEqual(batcher.stats().queued, 0)
    assert.isAtMost(held(), 2_048, "cancelled requests (and their inputs) are let go")
    // Order and accounting survive: queued requests still leave in arrival order.
    const a = offer(2)!
    const b = offer(3)!
    assert.strictEqual(batcher.stats().queued, 2)
    assert.deepStrictEqual([a.state, b.state], ["queued", "queued"])
  })
})
