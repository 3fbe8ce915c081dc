/**
 * Moves over a channel that copies (a child process's IPC, where the sender's moved buffers are
 * detached by hand): a typed array that arrived over IPC is a view over its message's buffer,
 * shared with the message's other aligned arrays, so moving one of them on must not detach the
 * others (found by a fresh-clone CI run: a chunked map on processes refused the payloads still
 * queued behind a task whose answer moved its payload back).
 */
import { assert, describe, it } from "@effect/vitest"
import { deserialize, serialize } from "node:v8"
import { SharedArray, Task } from "../../../src/index.ts"
import { codecOf } from "../../../src/runtime/protocol/codec.ts"
import { detachMoved } from "../../../src/runtime/protocol/protocol.ts"

const Moved = SharedArray.array("Float64", { memory: "moved" })
const Double = Task.make("Double", { payload: { values: Moved }, success: Moved })

/**
 * Arrays as IPC's deserializer (Node's `DefaultDeserializer`, which `serialization: "advanced"`
 * uses) delivers them: tries paddings until two of them are views over one buffer.
 */
const deliveredSharing = (): ReadonlyArray<Float64Array> => {
  for (let pad = 0; pad < 64; pad++) {
    const sent = Array.from({ length: 8 }, (_, i) => ({ values: Float64Array.from({ length: 4 }, (_, j) => 10 * i + j) }))
    const arrays = (deserialize(serialize(["x".repeat(pad), sent]))[1] as Array<{ values: Float64Array }>).map((t) => t.values)
    const byBuffer = new Map<ArrayBufferLike, Array<Float64Array>>()
    for (const array of arrays) byBuffer.set(array.buffer, [...(byBuffer.get(array.buffer) ?? []), array])
    const shared = [...byBuffer.values()].find((group) => group.length >= 2)
    if (shared !== undefined) return shared
  }
  throw new Error("the deserializer gave no two arrays one buffer: this test no longer reproduces IPC")
}

describe("detachMoved", () => {
  it("moving one array delivered over IPC leaves the other arrays of its message intact", () => {
    const [first, second] = deliveredSharing()
    const expected = [...second!]
    const transfers = codecOf(Double).successTransfers!(first)
    assert.isUndefined(transfers.issue)
    detachMoved(transfers.list)
    assert.deepStrictEqual([...second!], expected)
    assert.isFalse((second!.buffer as ArrayBuffer).detached)
  })

  it("an array that owns its whole buffer still ends detached, as across threads", () => {
    const values = Float64Array.from([1, 2, 3])
    const whole = new Float64Array(8)
    const transfers = codecOf(Double).payloadTransfers!({ values })
    detachMoved(transfers.list)
    assert.strictEqual(values.byteLength, 0)
    // A view over part of a buffer of the sender's own is copied and left attached.
    const part = whole.subarray(2, 4)
    detachMoved(codecOf(Double).payloadTransfers!({ values: part }).list)
    assert.strictEqual(part.length, 2)
    assert.strictEqual(whole.byteLength, 64)
  })
})
