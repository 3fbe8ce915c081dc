/**
 * Timed answers on the wire (protocol `ResultsTimed`): one `Float64Array` of start/end pairs a
 * message, in answer order; and when a message cannot be sent (an answer that cannot be cloned),
 * its answers go one by one, each with its own pair, and only the bad one becomes a defect.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Task, Worker } from "../../../src/index.ts"
import { type FromWorker, Op, Outcome, ResultTimed, SameName, type ToWorker } from "../../../src/runtime/protocol/protocol.ts"
import { WorkerRuntime } from "../../../src/runtime/worker/WorkerRuntime.ts"

const Loose = Task.make("Loose", { payload: { fn: Schema.Boolean }, success: Schema.Unknown })
const entry = Worker.serve(Task.group(Loose), { Loose: ({ fn }) => Effect.succeed(fn ? () => 1 : 7) })

const run = async (message: ToWorker) => {
  const sent: Array<FromWorker> = []
  // Sends as a port does: a message that cannot be cloned throws.
  const runtime = new WorkerRuntime(entry, 0, (message) => void sent.push(structuredClone(message)))
  await runtime.start()
  runtime.receive(message)
  runtime.flush()
  return sent.filter((message) => message[0] === Op.ResultsTimed)
}

describe("timed answers", () => {
  it("a message carries one Float64Array of start/end pairs, in answer order", async () => {
    const sent = await run([Op.RunTimed, 1, "Loose", { fn: false }, 0, 2, SameName, { fn: false }, 0])
    assert.strictEqual(sent.length, 1)
    const [message] = sent
    const times = message![ResultTimed.times] as Float64Array
    assert.instanceOf(times, Float64Array)
    assert.strictEqual(times.length, 4)
    assert.deepStrictEqual(message!.slice(ResultTimed.first), [1, Outcome.Success, 7, 2, Outcome.Success, 7])
    assert.isTrue(times[0]! <= times[1]! && times[1]! <= times[2]! && times[2]! <= times[3]!)
  })

  it("an answer that cannot be sent fails alone; the others keep their times", async () => {
    const sent = await run([Op.RunTimed, 1, "Loose", { fn: false }, 0, 2, SameName, { fn: true }, 0, 3, SameName, { fn: false }, 0])
    assert.strictEqual(sent.length, 3, "sent one by one")
    for (const [k, message] of sent.entries()) {
      assert.strictEqual(message[ResultTimed.first], k + 1)
      assert.strictEqual((message[ResultTimed.times] as Float64Array).length, 2)
    }
    assert.strictEqual(sent[0]![ResultTimed.first + 1], Outcome.Success)
    assert.strictEqual(sent[1]![ResultTimed.first + 1], Outcome.Defect)
    assert.include((sent[1]![ResultTimed.first + 2] as { message: string }).message, "cannot be sent to the pool")
    assert.strictEqual(sent[2]![ResultTimed.first + 2], 7)
  })
})
