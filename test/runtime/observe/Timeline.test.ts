/**
 * The timeline's trace, from events fed by hand: complete slices on one track nest (Perfetto
 * drops ones that overlap without nesting), so submissions that run at the same time go on
 * tracks of their own, each flow starting on the track of its submission's slice. Actor method
 * runs are slices on their worker's track, and runs that overlap others there (actors on one
 * worker run concurrently) go on further tracks of that worker.
 */
import { assert, describe, it } from "@effect/vitest"
import type { OutcomeName, PoolEvent } from "../../../src/core/PoolEvent.ts"
import { type TraceEvent, Timeline, writeTrace } from "../../../src/runtime/observe/Timeline.ts"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const submitted = (at: number, submission: number, count: number): PoolEvent => ({
  _tag: "Submitted",
  at,
  submission,
  taskName: `T${submission}`,
  count,
  chunkSize: 1,
  payloads: []
})

const settled = (at: number, submission: number, index: number, workerId: number, outcome: OutcomeName = "Success"): PoolEvent => ({
  _tag: "Settled",
  at,
  submission,
  index,
  taskId: submission * 100 + index,
  workerId,
  attempt: 1,
  outcome,
  startedAt: at - 1,
  endedAt: at - 0.5
})

/** Complete slices on each track nest: none starts inside another and ends after it. */
const assertNested = (events: ReadonlyArray<TraceEvent>) => {
  const slices = events.filter((e) => e.ph === "X")
  for (const tid of new Set(slices.map((e) => e.tid))) {
    const own = slices.filter((e) => e.tid === tid).sort((a, b) => a.ts - b.ts || b.dur! - a.dur!)
    const open: Array<number> = []
    for (const slice of own) {
      while (open.length > 0 && open.at(-1)! <= slice.ts) open.pop()
      const end = slice.ts + slice.dur!
      assert.isTrue(open.length === 0 || end <= open.at(-1)!, `slice ${slice.name} at ${slice.ts} overlaps another on track ${tid}`)
      open.push(end)
    }
  }
}

describe("Timeline", () => {
  it("submissions running at the same time go on tracks of their own; each flow starts in its submission's slice", () => {
    const timeline = new Timeline(1_000)
    const events: Array<PoolEvent> = [
      { _tag: "WorkerStarting", at: 0, workerId: 0, replacement: false },
      { _tag: "WorkerReady", at: 0.5, workerId: 0 },
      submitted(1, 1, 2),
      submitted(2, 2, 2),
      submitted(3, 3, 1),
      settled(4, 1, 0, 0),
      settled(5, 2, 0, 0),
      settled(6, 1, 1, 0),
      settled(7, 3, 0, 0),
      settled(8, 2, 1, 0),
      // After the others: back on the first track.
      submitted(10, 4, 1),
      settled(12, 4, 0, 0)
    ]
    for (const event of events) timeline.onEvent(event)
    const trace = timeline.trace()
    assertNested(trace.traceEvents)
    const submissions = trace.traceEvents.filter((e) => e.ph === "X" && e.cat === "submission")
    assert.strictEqual(submissions.length, 4)
    const trackOf = (submission: number) => submissions.find((s) => s.args!.submission === submission)!.tid
    assert.strictEqual(trackOf(1), 0, "the first on the caller's track")
    assert.strictEqual(new Set([1, 2, 3].map(trackOf)).size, 3, "three at once, three tracks")
    assert.strictEqual(trackOf(4), 0)
    const names = new Map(trace.traceEvents.filter((e) => e.ph === "M" && e.name === "thread_name").map((e) => [e.tid, e.args!.name]))
    for (const slice of submissions) assert.isString(names.get(slice.tid), `track ${slice.tid} is named`)
    const starts = trace.traceEvents.filter((e) => e.ph === "s")
    assert.strictEqual(starts.length, 6)
    for (const start of starts) {
      assert.isTrue(
        submissions.some((s) => s.tid === start.tid && s.ts <= start.ts && start.ts <= s.ts + s.dur!),
        `flow ${start.id} starts in a submission slice on its track`
      )
    }
  })

  it("as many caller tracks as submissions ran at once, at most", () => {
    // Random runs (a fixed LCG seed): submit at `at`, one task settled `length` later.
    let seed = 20_260_101
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648
    const runs = Array.from({ length: 300 }, (_, i) => ({ submission: i + 1, at: 1 + Math.floor(random() * 1_000), length: 1 + Math.floor(random() * 50) }))
    const events: Array<PoolEvent> = []
    for (const run of runs) events.push(submitted(run.at, run.submission, 1), settled(run.at + run.length, run.submission, 0, -1, "Timeout"))
    events.sort((a, b) => a.at - b.at)
    const timeline = new Timeline(10_000)
    for (const event of events) timeline.onEvent(event)
    const trace = timeline.trace()
    assertNested(trace.traceEvents)
    let most = 0
    for (const run of runs) most = Math.max(most, runs.filter((r) => r.at <= run.at && run.at < r.at + r.length).length)
    const tracks = new Set(trace.traceEvents.filter((e) => e.cat === "submission").map((e) => e.tid))
    assert.strictEqual(tracks.size, most)
  })
})

describe("Timeline of actors", () => {
  it("a timed answer is a slice on its worker's track; runs that overlap go on further tracks of that worker", () => {
    const timeline = new Timeline(1_000)
    const call = (at: number, callId: number, method: string): PoolEvent => ({
      _tag: "ActorCall",
      at,
      actorId: 1,
      actor: "Counter",
      callId,
      method,
      from: -1
    })
    const answer = (at: number, callId: number, startedAt?: number, endedAt?: number): PoolEvent => ({
      _tag: "ActorAnswer",
      at,
      actorId: 1,
      callId,
      outcome: "Success",
      workerId: startedAt === undefined ? -1 : 0,
      startedAt,
      endedAt
    })
    const events: Array<PoolEvent> = [
      { _tag: "WorkerStarting", at: 0, workerId: 0, replacement: false },
      { _tag: "WorkerReady", at: 0.5, workerId: 0 },
      { _tag: "ActorSpawn", at: 0.6, actorId: 1, name: "Counter" },
      call(1, 1, "add"),
      answer(5.5, 1, 2, 5),
      // Concurrent with the first (a concurrent method): overlaps it without nesting.
      call(3, 2, "overlap"),
      answer(7, 2, 4, 6.5),
      submitted(6, 1, 1),
      settled(8, 1, 0, 0),
      // Never ran (the actor was stopped): an instant; one answered untimed stays on its worker's track.
      call(9, 3, "get"),
      answer(9, 3),
      call(10, 4, "get"),
      { _tag: "ActorAnswer", at: 11, actorId: 1, callId: 4, outcome: "Success", workerId: 0 }
    ]
    for (const event of events) timeline.onEvent(event)
    const trace = timeline.trace()
    assertNested(trace.traceEvents)
    const runs = trace.traceEvents.filter((e) => e.ph === "X" && e.cat === "actor")
    assert.deepStrictEqual(runs.map((e) => [e.name, e.ts, e.dur]), [["Counter.add", 2_000, 3_000], ["Counter.overlap", 4_000, 2_500]])
    assert.deepStrictEqual(runs[0]!.args, { actorId: 1, callId: 1, method: "add", outcome: "Success", queueWaitMs: 1, from: -1 })
    assert.strictEqual(runs[0]!.tid, 1, "on worker 0's track")
    assert.notStrictEqual(runs[1]!.tid, 1, "the overlapping run on another track")
    const names = new Map(trace.traceEvents.filter((e) => e.ph === "M" && e.name === "thread_name").map((e) => [e.tid, e.args!.name]))
    assert.match(String(names.get(runs[1]!.tid)), /^worker 0 #2$/)
    // The task ran after the first call ended, on the worker's own track; its flow ends there.
    const task = trace.traceEvents.find((e) => e.ph === "X" && e.cat === "task")!
    assert.strictEqual(task.tid, 1)
    assert.strictEqual(trace.traceEvents.find((e) => e.ph === "f")!.tid, task.tid)
    const sort = new Map(trace.traceEvents.filter((e) => e.name === "thread_sort_index").map((e) => [e.tid, e.args!.sort_index as number]))
    assert.isAbove(sort.get(runs[1]!.tid)!, sort.get(1)!, "listed after the worker's own track")
    const instant = (callId: number) => trace.traceEvents.find((e) => e.ph === "i" && e.name === "ActorAnswer" && e.args!.callId === callId)
    assert.strictEqual(instant(3)!.tid, 0)
    assert.strictEqual(instant(4)!.tid, 1)
  })
})

describe("Timeline with a full ring", () => {
  it("a kept run that started before the first kept event keeps its start and length", () => {
    // The ring keeps the last two events: two settlements, the first of a run that started before
    // it settled (as every run does) — its start is before every kept event's time.
    const timeline = new Timeline(2)
    timeline.onEvent(submitted(0, 1, 2))
    timeline.onEvent({ ...settled(100, 1, 0, 0), startedAt: 60, endedAt: 99 } as PoolEvent)
    timeline.onEvent({ ...settled(200, 1, 1, 0), startedAt: 150, endedAt: 199 } as PoolEvent)
    const trace = timeline.trace()
    assert.strictEqual(trace.otherData.droppedEvents, 1)
    const runs = trace.traceEvents.filter((e) => e.ph === "X" && e.cat === "task")
    assert.deepStrictEqual(runs.map((e) => [e.ts, e.dur]), [[0, 39_000], [90_000, 49_000]])
    assert.strictEqual(trace.otherData.origin, 60)
  })
})

describe("Timeline counters", () => {
  it("a re-queued task moves from in flight to queued at the requeue, not at the next event", () => {
    const timeline = new Timeline(100)
    timeline.onEvent(submitted(0, 1, 1))
    timeline.onEvent({ _tag: "Dispatched", at: 1, workerId: 0, tasks: [{ taskId: 100, submission: 1, index: 0, attempt: 1 }] })
    timeline.onEvent({ _tag: "Requeued", at: 5, taskId: 100, submission: 1, index: 0, why: "Retry" })
    const counters = timeline.trace().traceEvents.filter((e) => e.ph === "C").map((e) => [e.ts, e.args])
    assert.deepStrictEqual(counters.at(-1), [5000, { queued: 1, inFlight: 0 }])
  })

  it("tasks of a message that could not be sent were never in flight: their requeue leaves the counters be", () => {
    // An unsendable message has no `Dispatched` (nothing reached a worker); its tasks go back.
    const timeline = new Timeline(100)
    timeline.onEvent(submitted(0, 1, 2))
    timeline.onEvent({ _tag: "Requeued", at: 1, taskId: 100, submission: 1, index: 0, why: "Unsendable" })
    timeline.onEvent({ _tag: "Requeued", at: 1, taskId: 101, submission: 1, index: 1, why: "Unsendable" })
    timeline.onEvent({ _tag: "Dispatched", at: 2, workerId: 0, tasks: [{ taskId: 100, submission: 1, index: 0, attempt: 1 }] })
    timeline.onEvent({ _tag: "Dispatched", at: 2, workerId: 0, tasks: [{ taskId: 101, submission: 1, index: 1, attempt: 1 }] })
    const counters = timeline.trace().traceEvents.filter((e) => e.ph === "C").map((e) => [e.ts, e.args])
    assert.deepStrictEqual(counters, [
      [0, { queued: 2, inFlight: 0 }],
      [1000, { queued: 2, inFlight: 0 }],
      [1000, { queued: 2, inFlight: 0 }],
      [2000, { queued: 1, inFlight: 1 }],
      [2000, { queued: 0, inFlight: 2 }]
    ])
  })
})

describe("writeTrace", () => {
  it("writes, in parts, the text JSON.stringify makes of the whole trace", () => {
    const dir = mkdtempSync(join(tmpdir(), "timeline-"))
    try {
      for (const submissions of [0, 1, 3_000]) {
        const timeline = new Timeline(100_000)
        for (let s = 1; s <= submissions; s++) {
          timeline.onEvent(submitted(s * 10, s, 1))
          timeline.onEvent(settled(s * 10 + 5, s, 0, s % 3))
        }
        const trace = timeline.trace()
        const path = join(dir, `trace-${submissions}.json`)
        writeTrace(path, trace)
        assert.strictEqual(readFileSync(path, "utf8"), JSON.stringify(trace), `${trace.traceEvents.length} events`)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
