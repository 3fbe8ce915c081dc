/**
 * Traces into workers, over every backend row: a call made in a span carries its trace context
 * with the task, the handler runs in a span whose parent is the caller's, and the worker's spans
 * (the handler's and those its code makes) come back into the caller's tracer — one trace id from
 * caller to worker and back, for a run, a map and a retried task. A call outside any span, or under
 * Effect's default tracer (which exports nothing), sends no trace context at all.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Tracer from "effect/Tracer"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Actor, Task, WorkerPool } from "../../src/index.ts"
import { type Backend, realTimers } from "../../src/runtime/backends/Backend.ts"
import { firstRun, type FromWorker, Op, Outcome, Run, RunTraced, runStride, SameName, SameTrace, type ToWorker } from "../../src/runtime/protocol/protocol.ts"
import { ActorTasks, Bump, Counter } from "../fixtures/actors.ts"
import { Annotated, Check, ExitOnce, InSpan, Nap, Nested, Plain, Spin, Throw, TracedTasks } from "../fixtures/traced-tasks.ts"
import { dispatcherOn, rows } from "../support/backends.ts"
import { memoryTracer } from "../support/tracer.ts"

const entry = new URL("../fixtures/traced-worker.ts", import.meta.url)

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
})

/** How many tasks a worker span stands for (WorkerRuntime rule 8): 1 unless it is shared. */
const tasksIn = (span: Tracer.NativeSpan): number => (span.attributes.get("effect_parallel.tasks") as number | undefined) ?? 1

const ended = (span: Tracer.NativeSpan) => {
  assert.strictEqual(span.status._tag, "Ended")
  return span.status._tag === "Ended" ? { start: span.status.startTime, end: span.status.endTime } : { start: 0n, end: 0n }
}

describe.each(rows)("traces on $name", (row) => {
  const pool = (options: Partial<WorkerPool.Options> = {}) =>
    WorkerPool.layer(TracedTasks, { entry, size: 2, ...options }).pipe(Layer.provide(row.backend))

  it.live("a run: the handler's span is a child of the caller's, its own spans under it, one trace id", () => {
    const memory = memoryTracer()
    return Effect.gen(function*() {
      assert.strictEqual(yield* Task.run(Nested, { n: 21 }).pipe(Effect.withSpan("caller")), 42)
      const [caller] = memory.named("caller")
      const [handler] = memory.named("Nested")
      const [inner] = memory.named("inner")
      assert.isDefined(caller)
      assert.isDefined(handler, "the handler's span came back")
      assert.isDefined(inner, "a span the handler made came back")
      assert.strictEqual(handler!.traceId, caller!.traceId)
      assert.strictEqual(inner!.traceId, caller!.traceId)
      assert.strictEqual(memory.parentId(handler!), caller!.spanId)
      assert.strictEqual(memory.parentId(inner!), handler!.spanId)
      assert.strictEqual(handler!.kind, "server")
      assert.strictEqual(inner!.attributes.get("n"), 21)
      assert.isTrue(typeof handler!.attributes.get("effect_parallel.worker_id") === "number")
      assert.strictEqual(handler!.status._tag, "Ended")
      // The worker's times: the handler ran within the caller's span.
      if (handler!.status._tag === "Ended" && caller!.status._tag === "Ended" && row.realTime) {
        assert.isTrue(handler!.status.startTime >= caller!.status.startTime - 1_000_000n)
        assert.isTrue(handler!.status.endTime <= caller!.status.endTime + 1_000_000n)
      }
    }).pipe(Effect.provide(pool()), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })

  it.live("a handler answering without a fiber (an Exit) still has its span, timed by the worker", () => {
    const memory = memoryTracer()
    return Effect.gen(function*() {
      const results = yield* Task.map(Plain, [{ n: 1 }, { n: 2 }, { n: 3 }]).pipe(Effect.withSpan("caller"))
      assert.deepStrictEqual(results, [2, 3, 4])
      const [caller] = memory.named("caller")
      const handlers = memory.named("Plain")
      // Short runs of one caller's task may share a span (WorkerRuntime rule 8): every task is counted once.
      assert.strictEqual(handlers.reduce((sum, span) => sum + tasksIn(span), 0), 3)
      for (const handler of handlers) {
        assert.strictEqual(handler.traceId, caller!.traceId)
        assert.strictEqual(memory.parentId(handler), caller!.spanId)
        assert.isTrue(handler.status._tag === "Ended" && handler.status.endTime >= handler.status.startTime)
        assert.isTrue(typeof handler.attributes.get("effect_parallel.task_id") === "number")
      }
    }).pipe(Effect.provide(pool()), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })

  it.live("short fiber-less tasks in a row share a span; a failed or slow one has its own", () => {
    const memory = memoryTracer()
    return Effect.gen(function*() {
      const inputs = Array.from({ length: 300 }, (_, n) => ({ n }))
      yield* Task.map(Plain, inputs).pipe(Effect.withSpan("caller"))
      const [caller] = memory.named("caller")
      const shared = memory.named("Plain")
      assert.isBelow(shared.length, 300, "300 tiny tasks on one worker did not make 300 spans")
      assert.strictEqual(shared.reduce((sum, span) => sum + tasksIn(span), 0), 300)
      // One worker: its spans follow each other in time, never overlapping.
      const times = shared.map(ended).sort((a, b) => (a.start < b.start ? -1 : 1))
      for (let i = 1; i < times.length; i++) assert.isTrue(times[i]!.start >= times[i - 1]!.end)
      for (const span of shared) assert.strictEqual(memory.parentId(span), caller!.spanId)

      const failed = yield* Task.map(Check, [{ n: 1 }, { n: 2 }, { n: -1 }]).pipe(Effect.withSpan("checking"), Effect.flip)
      assert.strictEqual(failed._tag, "Negative")
      const checks = memory.named("Check")
      const failing = checks.filter((span) => span.status._tag === "Ended" && span.status.exit._tag === "Failure")
      assert.strictEqual(failing.length, 1, "the failed task's span is its own, and failed")
      const failure = failing[0]!.status._tag === "Ended" && failing[0]!.status.exit._tag === "Failure"
        ? Cause.pretty(failing[0]!.status.exit.cause)
        : ""
      // A tagged error has no message: its name and fields say what it was.
      assert.include(failure, 'Negative {"n":-1}')
      assert.strictEqual(tasksIn(failing[0]!), 1)

      // The simulation's clock does not see a busy thread.
      if (!row.realTime) return
      yield* Task.map(Spin, [{ millis: 0 }, { millis: 2 }, { millis: 0 }]).pipe(Effect.withSpan("spinning"))
      const spins = memory.named("Spin")
      const slow = spins.filter((span) => ended(span).end - ended(span).start >= 2_000_000n)
      // At least the 2 ms task; a 0 ms one descheduled on a busy machine may be slow too, and then
      // it has a span of its own as well.
      assert.isAtLeast(slow.length, 1)
      for (const span of slow) assert.strictEqual(tasksIn(span), 1, "a task of 2 ms or more keeps a span of its own")
    }).pipe(Effect.provide(pool({ size: 1 })), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })

  it.live("a handler that throws before returning an Effect still has its span, failed with the error", () => {
    const memory = memoryTracer()
    return Effect.gen(function*() {
      const error = yield* Task.run(Throw, { message: "thrown in the body" }).pipe(Effect.withSpan("caller"), Effect.flip)
      assert.strictEqual(error._tag, "TaskError")
      assert.strictEqual(error._tag === "TaskError" ? error.reason._tag : "", "Defect")
      const [caller] = memory.named("caller")
      const spans = memory.named("Throw")
      assert.strictEqual(spans.length, 1, "the handler's span came back")
      const span = spans[0]!
      assert.strictEqual(span.traceId, caller!.traceId)
      assert.strictEqual(memory.parentId(span), caller!.spanId)
      assert.isTrue(span.status._tag === "Ended" && span.status.exit._tag === "Failure", "failed")
      if (span.status._tag === "Ended" && span.status.exit._tag === "Failure") {
        assert.include(Cause.pretty(span.status.exit.cause), "thrown in the body")
      }
    }).pipe(Effect.provide(pool()), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })

  it.live("a traced task with a timeout that works in its handler's body: its span covers that work", () => {
    const memory = memoryTracer()
    return Effect.gen(function*() {
      // The simulation's clock does not see a busy thread.
      if (!row.realTime) return
      assert.strictEqual(yield* Task.run(Spin, { millis: 20 }, { timeout: "1 minute" }).pipe(Effect.withSpan("caller")), 20)
      const [caller] = memory.named("caller")
      const [span] = memory.named("Spin")
      assert.strictEqual(memory.parentId(span!), caller!.spanId)
      const { end, start } = ended(span!)
      assert.isAtLeast(Number(end - start) / 1e6, 20, "the span starts before the handler's body ran")
    }).pipe(Effect.provide(pool()), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })

  it.live("a traced task whose body ran past its timeout: its span failed, timed out", () => {
    const memory = memoryTracer()
    return Effect.gen(function*() {
      // The simulation's clock does not see a busy thread.
      if (!row.realTime) return
      const error = yield* Task.run(Spin, { millis: 30 }, { timeout: "5 millis" }).pipe(Effect.withSpan("caller"), Effect.flip)
      assert.strictEqual(error._tag === "TaskError" ? error.reason._tag : error._tag, "Timeout")
      const [span] = memory.named("Spin")
      assert.isTrue(span!.status._tag === "Ended" && span!.status.exit._tag === "Failure", "failed")
      if (span!.status._tag === "Ended" && span!.status.exit._tag === "Failure") {
        assert.include(Cause.pretty(span!.status.exit.cause), "timed out")
      }
    }).pipe(Effect.provide(pool()), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })

  it.live("a traced task its timeout interrupted: its span failed, timed out", () => {
    const memory = memoryTracer()
    return Effect.gen(function*() {
      const error = yield* Task.run(Nap, { millis: 60_000 }, { timeout: "20 millis" }).pipe(Effect.withSpan("caller"), Effect.flip)
      assert.strictEqual(error._tag === "TaskError" ? error.reason._tag : error._tag, "Timeout")
      const [span] = memory.named("Nap")
      assert.isDefined(span, "the handler's span came back")
      assert.isTrue(span!.status._tag === "Ended" && span!.status.exit._tag === "Failure", "failed")
      if (span!.status._tag === "Ended" && span!.status.exit._tag === "Failure") {
        assert.include(Cause.pretty(span!.status.exit.cause), "timed out")
      }
    }).pipe(Effect.provide(pool()), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })

  it.live("a map: every task's span is a child of the map's caller span", () => {
    const memory = memoryTracer()
    return Effect.gen(function*() {
      const inputs = Array.from({ length: 10 }, (_, n) => ({ n }))
      const results = yield* Task.map(Nested, inputs, { chunkSize: 3 }).pipe(Effect.withSpan("batch"))
      assert.deepStrictEqual(results, inputs.map(({ n }) => n * 2))
      const [batch] = memory.named("batch")
      const handlers = memory.named("Nested")
      assert.strictEqual(handlers.length, 10)
      for (const handler of handlers) {
        assert.strictEqual(handler.traceId, batch!.traceId)
        assert.strictEqual(memory.parentId(handler), batch!.spanId)
      }
      assert.strictEqual(memory.named("inner").length, 10)
    }).pipe(Effect.provide(pool()), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })

  it.live("concurrent runs from two spans and none, coalesced into shared messages: each handler under its own caller", () => {
    const memory = memoryTracer()
    return Effect.gen(function*() {
      // One worker: the runs queue behind each other and go out together, their contexts mixed
      // in one message (the second run of each pair sent as `SameTrace`).
      const pair = (first: number) =>
        Effect.all([Task.run(Plain, { n: first }), Task.run(Plain, { n: first + 1 })], { concurrency: "unbounded" })
      const [a, b, none] = yield* Effect.all([
        pair(1).pipe(Effect.withSpan("a")),
        pair(3).pipe(Effect.withSpan("b")),
        pair(5)
      ], { concurrency: "unbounded" })
      assert.deepStrictEqual([a, b, none], [[2, 3], [4, 5], [6, 7]])
      const handlers = memory.named("Plain")
      assert.strictEqual(handlers.reduce((sum, span) => sum + tasksIn(span), 0), 4, "the untraced pair made no span")
      for (const name of ["a", "b"]) {
        const [caller] = memory.named(name)
        const under = handlers.filter((handler) => memory.parentId(handler) === caller!.spanId)
        assert.strictEqual(under.reduce((sum, span) => sum + tasksIn(span), 0), 2, `both runs of ${name} have their span under ${name}`)
        for (const handler of under) assert.strictEqual(handler.traceId, caller!.traceId)
      }
    }).pipe(Effect.provide(pool({ size: 1 })), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })

  it.live("a span attribute String cannot render does not fail a traced task", () => {
    const memory = memoryTracer()
    return Effect.gen(function*() {
      // Untraced it succeeds; traced, its spans are recorded for the caller, which renders them.
      assert.strictEqual(yield* Task.run(Annotated, {}), 1)
      assert.strictEqual(yield* Task.run(Annotated, {}).pipe(Effect.withSpan("caller")), 1)
      const [annotated] = memory.named("annotated")
      assert.isDefined(annotated, "the span came back")
      assert.isString(annotated!.attributes.get("nullPrototype"))
      assert.isString(annotated!.attributes.get("throwing"))
    }).pipe(Effect.provide(pool()), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })

  it.live("outside any span, no worker span reaches the caller's tracer", () => {
    const memory = memoryTracer()
    return Effect.gen(function*() {
      yield* Task.map(Nested, [{ n: 1 }, { n: 2 }])
      yield* Task.run(Nested, { n: 3 })
      assert.deepStrictEqual(memory.spans.map((span) => span.name), [])
    }).pipe(Effect.provide(pool()), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })

  it.live("under Effect's default tracer (none installed), a call in a span sends no trace context", () =>
    Effect.gen(function*() {
      // The worker's spans would reach no exporter: the handler runs in no span at all.
      assert.isFalse(yield* Task.run(InSpan, {}).pipe(Effect.withSpan("caller")))
      const memory = memoryTracer()
      assert.isTrue(yield* Task.run(InSpan, {}).pipe(Effect.withSpan("caller"), Effect.provideService(Tracer.Tracer, memory.tracer)))
      assert.lengthOf(memory.named("InSpan"), 1)
    }).pipe(Effect.provide(pool()), row.within))

  const crashes = row.capabilities.isolatesCrashes ? it.live : it.live.skip
  crashes("a retried task: the retry's span is in the caller's trace", () => {
    const memory = memoryTracer()
    const marker = join(mkdtempSync(join(tmpdir(), "ep-trace-")), "ran")
    return Effect.gen(function*() {
      assert.strictEqual(yield* Task.run(ExitOnce, { marker }).pipe(Effect.withSpan("caller")), 1)
      const [caller] = memory.named("caller")
      const handlers = memory.named("ExitOnce")
      // The first attempt's spans died with its worker; the retry's came back.
      assert.strictEqual(handlers.length, 1)
      assert.strictEqual(handlers[0]!.traceId, caller!.traceId)
      assert.strictEqual(memory.parentId(handlers[0]!), caller!.spanId)
    }).pipe(Effect.provide(pool({ retries: 1 })), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })
})

describe.each(rows)("actor traces on $name", (row) => {
  const pool = WorkerPool.layer(ActorTasks, { entry: new URL("../fixtures/actor-worker.ts", import.meta.url), size: 2 }).pipe(
    Layer.provide(row.backend)
  )

  it.live("an actor call, and a task calling an actor, keep the chain", () => {
    const memory = memoryTracer()
    return Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 10 })
      assert.strictEqual(yield* counter.call("add", { n: 1 }).pipe(Effect.withSpan("caller")), 11)
      const [caller] = memory.named("caller")
      const [method] = memory.named("Counter.add")
      assert.isDefined(method, "the method's span came back")
      assert.strictEqual(method!.traceId, caller!.traceId)
      assert.strictEqual(memory.parentId(method!), caller!.spanId)
      // caller → Bump's handler (a worker) → Counter.add (an actor, maybe on another worker), one trace.
      yield* Task.run(Bump, { counter, n: 5 }).pipe(Effect.withSpan("bumping"))
      const [bumping] = memory.named("bumping")
      const [bump] = memory.named("Bump")
      const adds = memory.named("Counter.add")
      assert.strictEqual(adds.length, 2)
      const asked = adds[1]!
      assert.strictEqual(bump!.traceId, bumping!.traceId)
      assert.strictEqual(asked.traceId, bumping!.traceId)
      assert.strictEqual(memory.parentId(bump!), bumping!.spanId)
      assert.strictEqual(memory.parentId(asked), bump!.spanId, "the actor's span hangs under the handler that called it")
      // Where the method ran and which call it was, as for a call from the caller (the asking worker knows neither).
      assert.strictEqual(asked.attributes.get("effect_parallel.worker_id"), yield* counter.call("whereAmI"))
      assert.isAtLeast(asked.attributes.get("effect_parallel.task_id") as number, 0)
      assert.notStrictEqual(asked.attributes.get("effect_parallel.task_id"), method!.attributes.get("effect_parallel.task_id"))
      yield* Actor.stop(counter)
    }).pipe(Effect.scoped, Effect.provide(pool), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })
  it.live("a traced method that works in its body and answers an Exit: its span covers that work", () => {
    const memory = memoryTracer()
    return Effect.gen(function*() {
      // The simulation's clock does not see a busy thread.
      if (!row.realTime) return
      const counter = yield* Actor.spawn(Counter, { start: 0 })
      assert.strictEqual(yield* counter.call("spin", { millis: 20 }).pipe(Effect.withSpan("caller")), 20)
      const [caller] = memory.named("caller")
      const [span] = memory.named("Counter.spin")
      assert.isDefined(span, "the method's span came back")
      assert.strictEqual(span!.traceId, caller!.traceId)
      assert.strictEqual(memory.parentId(span!), caller!.spanId)
      const { end, start } = ended(span!)
      assert.isAtLeast(Number(end - start) / 1e6, 20, "the span starts before the method's body ran")
      yield* Actor.stop(counter)
    }).pipe(Effect.scoped, Effect.provide(pool), Effect.provideService(Tracer.Tracer, memory.tracer), row.within)
  })
})

describe("trace context on the wire", () => {
  /** A backend whose workers answer every task at once and keep every `Run*` message. */
  const recording = () => {
    const sent: Array<ReadonlyArray<unknown>> = []
    const backend: Backend = {
      name: "recording",
      capabilities: { sharesMemory: true, canTerminate: true, isolatesCrashes: false, heapLimits: false, pinsCpus: false, lowersPriority: false },
      timers: realTimers,
      defaultSize: () => 1,
      make: () =>
        Effect.succeed({
          spawn: (_id, events) => {
            queueMicrotask(() => events.onMessage([Op.Ready]))
            return {
              send: (message: ToWorker) => {
                if (message[0] === Op.Shutdown) {
                  return queueMicrotask(() => events.onExit({ kind: "Exited", message: "exited with code 0" }))
                }
                sent.push(message)
                const results: Array<unknown> = [Op.Results]
                for (let at = firstRun(message[0]); at < message.length; at += runStride(message[0])) results.push(message[at + Run.id], Outcome.Success, 0)
                queueMicrotask(() => events.onMessage(results as unknown as FromWorker))
              },
              terminate: () => queueMicrotask(() => events.onExit({ kind: "Terminated", message: "was terminated" }))
            }
          }
        })
    }
    return { sent, backend }
  }

  it("untraced calls send Run with four fields a task; once a traced call came, tasks carry their context, once a message", async () => {
    const { backend, sent } = recording()
    const dispatcher = dispatcherOn(backend, "file:///recording.ts", { size: 1 })
    await dispatcher.start()
    const submit = (trace?: { readonly wire: string; readonly receive: () => void }) =>
      new Promise<void>((resolve) => {
        let settled = 0
        dispatcher.submit({ taskName: "T", payloads: [1, 2], chunkSize: 2, coalesce: false, timeoutMillis: 0, trace, settle: () => {
          if (++settled === 2) resolve()
        } })
      })
    await submit()
    // The second task has its predecessor's name: `SameName`, not the string again.
    assert.deepStrictEqual(sent[0], [Op.Run, 0, "T", 1, 0, 1, SameName, 2, 0])
    await submit({ wire: "t/s/1", receive: () => {} })
    // One context for the whole message, in its header (`RunOneTrace`), not a field a task.
    assert.deepStrictEqual(sent[1], [Op.RunOneTrace, "t/s/1", 2, "T", 1, 0, 3, SameName, 2, 0])
    await submit()
    assert.deepStrictEqual(sent[2], [Op.RunOneTrace, undefined, 4, "T", 1, 0, 5, SameName, 2, 0])
    await dispatcher.close()
  })

  it("single runs of several contexts coalesced into one message carry a context a task", async () => {
    const { backend, sent } = recording()
    const dispatcher = dispatcherOn(backend, "file:///recording.ts", { size: 1 })
    const answered: Array<Promise<void>> = []
    const submit = (payload: number, wire: string | undefined) =>
      answered.push(
        new Promise<void>((resolve) => {
          const trace = wire === undefined ? undefined : { wire, receive: () => {} }
          dispatcher.submit({ taskName: "T", payloads: [payload], chunkSize: 1, coalesce: true, timeoutMillis: 0, trace, settle: () => resolve() })
        })
      )
    // Submitted before the worker is ready: they wait in the queue and go in one message.
    const started = dispatcher.start()
    submit(1, "a/x/1")
    submit(2, "a/x/1")
    submit(3, "b/y/1")
    submit(4, undefined)
    submit(5, undefined)
    await started
    await Promise.all(answered)
    assert.deepStrictEqual(sent, [[
      Op.RunTraced,
      0, "T", 1, 0, "a/x/1",
      1, SameName, 2, 0, SameTrace,
      2, SameName, 3, 0, "b/y/1",
      3, SameName, 4, 0, undefined,
      4, SameName, 5, 0, SameTrace
    ]])
    assert.strictEqual(RunTraced.stride, 5)
    await dispatcher.close()
  })
})
