/**
 * `WorkerRuntime` rule 4: the answer of a finished task with a timeout leaves its worker before the
 * next task starts, and every waiting answer leaves before a task with a timeout starts. Found by
 * the chaos soak: a task that had failed at once, coalesced ahead of a task that blocked its
 * thread, was reported `Timeout` — its answer waited behind the blocked thread until the pool's
 * backstop (timeout + interruptGrace) took it for a hung task and terminated the worker. Likewise
 * the answers waiting when a task with a timeout starts: if it blocks, its worker is terminated
 * and they were lost with it. On every backend whose workers can be terminated.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { Task, TaskError, WorkerPool } from "../../../src/index.ts"
import { Add, ContractTasks, Spin } from "../../fixtures/tasks.ts"
import { reasonOf, rows } from "../../support/backends.ts"

const entry = new URL("../../fixtures/worker.ts", import.meta.url)

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

/**
 * A sum coalesced into one message ahead of a timed task that blocks the thread: the sum must
 * answer 3 and the blocker `Timeout`. With one message per worker at a time, the runs made while
 * the first runs coalesce into the next message: the sum first, then the task that blocks.
 */
const sumAheadOfABlocker = (row: (typeof rows)[number], sumOptions: { readonly timeout?: "300 millis" }) =>
  Effect.gen(function*() {
    const [, sum, spin] = yield* Effect.all([
      Effect.result(Task.run(Spin, { millis: 50 })),
      Effect.result(Task.run(Add, { a: 1, b: 2 }, sumOptions)),
      Effect.result(Task.run(Spin, { millis: 1_000 }, { timeout: "300 millis" }))
    ], { concurrency: "unbounded" })
    assert.isTrue(Result.isSuccess(sum), `the sum failed: ${Result.isFailure(sum) ? String(sum.failure) : ""}`)
    if (Result.isSuccess(sum)) assert.strictEqual(sum.success, 3)
    assert.isTrue(Result.isFailure(spin))
    if (Result.isFailure(spin)) assert.instanceOf(reasonOf(spin.failure), TaskError.Timeout)
  }).pipe(
    Effect.provide(WorkerPool.layer(ContractTasks, { entry, size: 1, pipelineDepth: 1, interruptGrace: "100 millis" }).pipe(Layer.provide(row.backend))),
    row.within
  )

describe.each(rows.filter((row) => row.capabilities.canTerminate))("answers with a timeout on $name", (row) => {
  it.live("a finished task is not reported timed out while the next task of its message blocks the thread", () =>
    sumAheadOfABlocker(row, { timeout: "300 millis" }))

  // Another caller's sum, coalesced ahead of a timed task that blocks: the backstop terminates the
  // worker, and the sum's answer, still waiting to be sent, was reported `WorkerLost`.
  it.live("a finished task without a timeout is not lost when the next task of its message times out blocking the thread", () =>
    sumAheadOfABlocker(row, {}))
})
