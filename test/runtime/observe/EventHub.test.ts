/**
 * The event hub's per-task fast paths: a listener with `onSettled` / `onDispatched` takes those
 * as numbers and never as events, a plain listener beside it still gets the events, and a
 * listener that throws is removed from both paths.
 */
import { assert, describe, it } from "@effect/vitest"
import type { PoolEvent } from "../../../src/core/PoolEvent.ts"
import { EventHub } from "../../../src/runtime/observe/EventHub.ts"

const dispatchedTasks = () => [{ taskId: 7, submission: 1, index: 0, attempt: 1 }]

describe("EventHub", () => {
  it("fast listeners take settlements and dispatches as numbers, plain listeners as events", () => {
    const hub = new EventHub(() => 1_000)
    const fastEvents: Array<PoolEvent> = []
    const settled: Array<ReadonlyArray<unknown>> = []
    const dispatched: Array<ReadonlyArray<unknown>> = []
    hub.subscribe({
      onEvent: (event) => void fastEvents.push(event),
      onSettled: (...args) => void settled.push(args),
      onDispatched: (...args) => void dispatched.push(args)
    })
    let made = 0
    const tasks = () => {
      made++
      return dispatchedTasks()
    }
    hub.settled(1, 0, 7, 2, 1, "Success", 10, 11)
    hub.dispatched(2, 1, tasks)
    hub.emit({ _tag: "Cancelled", at: 5, submission: 1 })
    assert.deepStrictEqual(settled, [[1, 0, 7, 2, 1, "Success", 10, 11]])
    assert.deepStrictEqual(dispatched, [[2, 1]])
    assert.strictEqual(made, 0, "no listener wanted the Dispatched event: its tasks were not made")
    assert.deepStrictEqual(fastEvents.map((event) => event._tag), ["Cancelled"])

    const plainEvents: Array<PoolEvent> = []
    hub.subscribe({ onEvent: (event) => void plainEvents.push(event) })
    hub.settled(1, 1, 8, 2, 2, "Failure", undefined, undefined)
    hub.dispatched(3, 1, tasks)
    assert.strictEqual(settled.length, 2)
    assert.strictEqual(made, 1)
    assert.deepStrictEqual(plainEvents, [
      { _tag: "Settled", at: 1_000, submission: 1, index: 1, taskId: 8, workerId: 2, attempt: 2, outcome: "Failure", startedAt: undefined, endedAt: undefined },
      { _tag: "Dispatched", at: 1_000, workerId: 3, tasks: dispatchedTasks() }
    ])
    assert.deepStrictEqual(fastEvents.map((event) => event._tag), ["Cancelled"], "the fast listener got no Settled or Dispatched event")
  })

  it("a fast listener that throws is removed", () => {
    const hub = new EventHub(() => 0)
    let calls = 0
    hub.subscribe({
      onEvent: () => {},
      onSettled: () => {
        calls++
        throw new Error("observer bug")
      }
    })
    hub.settled(1, 0, 1, 0, 1, "Success", undefined, undefined)
    hub.settled(1, 1, 2, 0, 1, "Success", undefined, undefined)
    assert.strictEqual(calls, 1)
    assert.isFalse(hub.active)
  })
})
