/**
 * The thread backend under the dispatcher: a worker's messages come through its reply port in
 * order and before its exit, and the caller waits for the reply of a lone request (rule 6).
 */
import { assert, describe, it } from "@effect/vitest"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ThreadBackend } from "../../../src/index.ts"
import { Outcome } from "../../../src/runtime/protocol/protocol.ts"
import type { Dispatcher } from "../../../src/runtime/scheduler/Dispatcher.ts"
import { dispatcherOn } from "../../support/backends.ts"

const contractEntry = new URL("../../fixtures/worker.ts", import.meta.url).href

const pool = async (entry: string, replyWaitMillis: number, size = 1) => {
  const dispatcher = dispatcherOn(ThreadBackend.backend, entry, { size, replyWaitMillis })
  await dispatcher.start()
  return dispatcher
}

/** Submits `payloads` of `taskName` as one submission; resolves with every outcome and value. */
const submit = (dispatcher: Dispatcher, taskName: string, payloads: ReadonlyArray<unknown>) =>
  new Promise<Array<[Outcome, unknown]>>((resolve) => {
    const outcomes: Array<[Outcome, unknown]> = []
    let settled = 0
    dispatcher.submit({
      taskName,
      payloads,
      chunkSize: 1,
      coalesce: true,
      timeoutMillis: 0,
      settle: (index, outcome, value) => {
        outcomes[index] = [outcome, value]
        if (++settled === payloads.length) resolve(outcomes)
      }
    })
  })

describe("ThreadBackend", () => {
  it("waits for the reply of a lone request, and never while more than one is in flight", async () => {
    // A generous wait, so that a loaded machine still answers within it.
    const dispatcher = await pool(contractEntry, 50, 2)
    try {
      for (let i = 0; i < 100; i++) {
        const [[outcome, value]] = await submit(dispatcher, "Add", [{ a: i, b: 1 }]) as [[Outcome, unknown]]
        assert.deepStrictEqual([outcome, value], [Outcome.Success, i + 1])
      }
      const lone = dispatcher.stats()
      assert.isAtLeast(lone.replyWaitsAnswered, 90)
      assert.isAtMost(lone.replyWaitsAnswered, lone.replyWaits)
      const outcomes = await submit(dispatcher, "Add", Array.from({ length: 20 }, (_, i) => ({ a: i, b: 0 })))
      assert.deepStrictEqual(outcomes.map(([, value]) => value), Array.from({ length: 20 }, (_, i) => i))
      assert.strictEqual(dispatcher.stats().replyWaits, lone.replyWaits)
    } finally {
      await dispatcher.close()
    }
  })

  it("after a wait goes unanswered, skips waiting for the next 1, 2, 4, 8 … lone requests", async () => {
    const dispatcher = await pool(contractEntry, 0.05)
    try {
      const marker = join(tmpdir(), `ep-never-interrupted-${process.pid}`)
      // Each reply takes 5 ms, far past the 50 µs wait: requests 1, 3, 6, 11 and 20 wait.
      for (let i = 0; i < 20; i++) await submit(dispatcher, "Sleep", [{ millis: 5, marker }])
      assert.deepStrictEqual(
        { waits: dispatcher.stats().replyWaits, answered: dispatcher.stats().replyWaitsAnswered },
        { waits: 5, answered: 0 }
      )
    } finally {
      await dispatcher.close()
    }
  })

  it("delivers what a worker sent before it exited, before its exit", async () => {
    const entry = new URL("../../fixtures/reply-then-exit.ts", import.meta.url).href
    // No waiting: the answer must come through the port's own delivery or the drain at exit.
    const dispatcher = await pool(entry, 0)
    try {
      for (let i = 0; i < 4; i++) {
        const answered = submit(dispatcher, "ReplyThenExit", [{ value: i }])
        // Keep this thread busy while the worker answers and ends, so that the answer and the
        // exit are both waiting when it next looks: the answer must still come first.
        const until = Date.now() + 200
        while (Date.now() < until) {
          // busy
        }
        const [[outcome, value]] = await answered as [[Outcome, unknown]]
        assert.deepStrictEqual([outcome, value], [Outcome.Success, i])
        // The worker is gone and replaced; wait for the replacement before the next task.
        while (dispatcher.stats().readyWorkers < 1 || dispatcher.stats().workersStarted < i + 2) {
          await new Promise((resolve) => setTimeout(resolve, 5))
        }
      }
    } finally {
      await dispatcher.close()
    }
  })
})
