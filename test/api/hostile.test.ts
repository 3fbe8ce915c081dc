/**
 * Payloads `postMessage` cannot clone, as a hostile caller would write them, through the public
 * API on every backend: a valid payload plus one field that is a function, a symbol, a getter
 * returning a function, a proxy, a port that was not transferred, or a nesting 5,000 deep.
 *
 * Each must fail only its own call — `TaskError` with reason `PayloadInvalid` naming the field
 * (`ActorError` `InitFailed` for init arguments) — never a defect, never another caller's call,
 * and leave nothing behind: the pool answers a good call afterwards, holds nothing queued or in
 * flight, and closes. Through `Task.run` (also when it shares a message with an innocent run),
 * `Task.map`, `Task.stream`, an actor's `call` and `Actor.spawn`.
 *
 * And inputs whose errors cannot be rendered the ordinary way (a prototype that throws, typed
 * arrays where none is declared): the call fails typed, in this process and in a child process
 * that, like a server, survives uncaught exceptions — where a throw while rendering would leave
 * `Effect.runPromise` unsettled for ever.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { execFile } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { MessageChannel } from "node:worker_threads"
import { Actor, ActorError, type PoolError, ProcessBackend, type Simulation, Task, TaskError, WorkerPool } from "../../src/index.ts"
import { ActorTasks, Counter, Smuggle } from "../fixtures/actors.ts"
import { Add, ContractTasks, Shift, Sleep } from "../fixtures/tasks.ts"
import { actorReasonOf, reasonOf, rows } from "../support/backends.ts"
import { everyTrapThrows as makeEveryTrapThrows } from "../fixtures/hostile-values.ts"

const taskEntry = new URL("../fixtures/worker.ts", import.meta.url)
const actorEntry = new URL("../fixtures/actor-worker.ts", import.meta.url)

type TaskNames = Task.Tasks<typeof ContractTasks>["name"]
type ActorNames = Task.Tasks<typeof ActorTasks>["name"] | Task.Actors<typeof ActorTasks>["name"]

/** Ports made for the cases, closed after each test so none keeps the process alive. */
const ports: Array<{ close: () => void }> = []

const nested = (depth: number): unknown => {
  let value: unknown = {}
  for (let i = 0; i < depth; i++) value = { x: value }
  return value
}

interface Uncloneable {
  readonly name: string
  /** Adds the field `extra` to a valid payload. */
  readonly add: (payload: object) => void
  /**
   * Hostile only to workers in this process: a port can be transferred to a thread, so one that
   * was not is refused; a child process's serializer carries it as a plain empty object.
   */
  readonly inProcessOnly?: boolean
}

const field = (value: () => unknown) => (payload: object) => Object.assign(payload, { extra: value() })

/** The extra fields a hostile caller adds; each makes `postMessage` throw. */
const allUncloneables: ReadonlyArray<Uncloneable> = [
  { name: "a function", add: field(() => () => 1) },
  { name: "a symbol", add: field(() => Symbol("hostile")) },
  {
    name: "a getter returning a function",
    add: (payload) => Object.defineProperty(payload, "extra", { enumerable: true, get: () => () => 1 })
  },
  { name: "a proxy", add: field(() => new Proxy({ a: 1 }, {})) },
  {
    name: "a MessagePort not transferred",
    inProcessOnly: true,
    add: field(() => {
      const channel = new MessageChannel()
      ports.push(channel.port1, channel.port2)
      return channel.port1
    })
  },
  { name: "a nesting 5,000 deep", add: field(() => nested(5_000)) }
]

const hostile = <P extends object>(payload: P, kind: Uncloneable): P => {
  kind.add(payload)
  return payload
}

/** The call failed with `PayloadInvalid` naming the extra field. */
const assertNamesExtra = (error: unknown, kind: string) => {
  const reason = reasonOf(error)
  assert.instanceOf(reason, TaskError.PayloadInvalid, `a PayloadInvalid for ${kind}, got ${String(error)}`)
  assert.strictEqual((reason as TaskError.PayloadInvalid).path[0], "extra", kind)
  assert.include(reason.message, "cannot be sent to a worker", kind)
}

const everyTrapThrows = makeEveryTrapThrows()

/** Polls `check` until it holds (on the simulated backend, in virtual time). */
const until = <E, R>(what: string, check: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 500; attempt++) {
      if (yield* check) return
      yield* Effect.sleep("10 millis")
    }
    assert.fail(`never: ${what}`)
  })

/** Nothing left queued, waiting or in flight. */
const assertIdle = Effect.gen(function*() {
  const stats = yield* WorkerPool.stats(ContractTasks)
  assert.deepStrictEqual({ queued: stats.queued, waiting: stats.waiting, inFlight: stats.inFlight }, {
    queued: 0,
    waiting: 0,
    inFlight: 0
  })
})

afterEach(() => {
  for (const port of ports.splice(0)) port.close()
  assert.strictEqual(WorkerPool.liveThreads(), 0)
  assert.strictEqual(ProcessBackend.liveProcesses(), 0)
})

describe.each(rows)("hostile payloads on $name", (row) => {
  // Workers that share this process's memory are the ones a port can reach.
  const uncloneables = allUncloneables.filter((kind) => kind.inProcessOnly !== true || row.capabilities.sharesMemory)
  const taskPool = (options: Partial<WorkerPool.Options> = {}): Layer.Layer<
    Task.Runner<TaskNames>,
    PoolError.PoolError,
    Simulation.World
  > => WorkerPool.layer(ContractTasks, { entry: taskEntry, size: 2, ...options }).pipe(Layer.provide(row.backend))
  const actorPool: Layer.Layer<Task.Runner<ActorNames>, PoolError.PoolError, Simulation.World> = WorkerPool.layer(
    ActorTasks,
    { entry: actorEntry, size: 2 }
  ).pipe(Layer.provide(row.backend))
  const within = row.within
  // Rebuilding an actor takes a worker death, which takes a worker of its own.
  const crashes = row.capabilities.isolatesCrashes ? it.live : it.live.skip

  it.live("a cycle is no hostility: a clone carries it, so the call goes through", () =>
    Effect.gen(function*() {
      // Init arguments that may carry shared arrays are walked for them first (Arena.hold): that
      // walk used to recurse for ever on a cycle.
      const cyclic = () => {
        const payload: Record<string, unknown> = {}
        payload.self = payload
        return payload
      }
      const counter = yield* Actor.spawn(Counter, { start: 2, extra: cyclic() } as { start: number })
      assert.strictEqual(yield* counter.call("add", { n: 1, extra: cyclic() } as { n: number }), 3)
    }).pipe(Effect.scoped, Effect.provide(actorPool), within))

  it.live("an input whose error cannot be rendered the ordinary way fails typed, and the pool closes", () =>
    Effect.gen(function*() {
      const failures = yield* Effect.gen(function*() {
        const failures = [
          yield* Effect.flip(Task.run(Add, Object.setPrototypeOf({ a: "x", b: 1 }, everyTrapThrows))),
          yield* Effect.flip(Task.run(Shift, Object.setPrototypeOf({ at: 5 }, everyTrapThrows))),
          yield* Effect.flip(Task.run(Add, { a: Object.setPrototypeOf(new Float64Array(4), everyTrapThrows), b: 1 } as never)),
          yield* Effect.flip(Task.map(Add, [{ a: 1, b: 1 }, Object.setPrototypeOf({ a: "x", b: 1 }, everyTrapThrows)]))
        ]
        const plain = yield* Effect.flip(Task.run(Add, { a: new Float64Array(100_000) as never, b: 1 }))
        assert.instanceOf(reasonOf(plain), TaskError.PayloadInvalid)
        assert.deepStrictEqual((reasonOf(plain) as TaskError.PayloadInvalid).path, ["a"])
        assert.isAtMost((plain as TaskError.TaskError).input.length, TaskError.maxInputRendering)
        assert.strictEqual(yield* Task.run(Add, { a: 1, b: 2 }), 3)
        return failures
      }).pipe(Effect.provide(taskPool()))
      for (const failure of failures) {
        assert.instanceOf(reasonOf(failure), TaskError.PayloadInvalid)
        assert.include((failure as TaskError.TaskError).input, "could not be rendered")
      }
    }).pipe(within))

  it.live("a handler's actor call with a value that cannot be sent fails only that call, typed, in the handler", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 3 })
      // The handler sees the failure as PayloadInvalid and can handle it; its task succeeds.
      assert.strictEqual(yield* Task.run(Smuggle, { counter }), "PayloadInvalid")
      assert.strictEqual(yield* counter.call("get", {}), 3, "the smuggled call never ran")
      assert.strictEqual(yield* Task.run(Smuggle, { counter }), "PayloadInvalid", "and the worker goes on")
    }).pipe(Effect.scoped, Effect.provide(actorPool), within))

  describe.each(uncloneables)("a payload with $name", (kind) => {
    it.live("fails only its own run, also when it shared a message with an innocent run (rule 9)", () =>
      Effect.gen(function*() {
        const seen: Array<WorkerPool.PoolEvent> = []
        // Subscribed from here on: `events` subscribes when it runs.
        const events = yield* WorkerPool.events(ContractTasks)
        yield* Effect.forkScoped(Stream.runForEach(events, (event) => Effect.sync(() => void seen.push(event))))
        // One worker, one message at a time: while a blocker holds it, the two runs queue up and
        // are sent together once it is free — runs of a task the pool has measured as cheap (an
        // unmeasured task goes one a message, and a worker's first runs are slow: rule 12).
        yield* Task.map(Add, Array.from({ length: 256 }, (_, a) => ({ a, b: 0 })))
        const marker = join(mkdtempSync(join(tmpdir(), "ep-hostile-")), "blocker")
        const blocker = yield* Effect.forkChild(Task.run(Sleep, { millis: 600_000, marker }))
        yield* until("the blocker is in the worker", Effect.map(WorkerPool.stats(ContractTasks), (s) => s.inFlight === 1))
        const bad = yield* Effect.forkChild(Task.run(Add, hostile({ a: 1, b: 2 }, kind)))
        const good = yield* Effect.forkChild(Task.run(Add, { a: 2, b: 3 }))
        yield* until("both runs are queued", Effect.map(WorkerPool.stats(ContractTasks), (s) => s.queued === 2))
        yield* Fiber.interrupt(blocker)
        assertNamesExtra(yield* Effect.flip(Fiber.join(bad)), kind.name)
        assert.strictEqual(yield* Fiber.join(good), 5)
        // They did share a message, and it went back to the queue whole. (Events reach `seen`
        // through the stream's fiber, which may run after the callers resumed.)
        const unsendable = () => seen.filter((event) => event._tag === "Requeued" && event.why === "Unsendable")
        yield* until("the coalesced message is taken back", Effect.sync(() => unsendable().length >= 2))
        assert.deepStrictEqual(unsendable().map((event) => event._tag === "Requeued" && event.index), [0, 0])
        assert.strictEqual(new Set(unsendable().map((event) => event._tag === "Requeued" && event.submission)).size, 2)
        yield* assertIdle
        assert.strictEqual(yield* Task.run(Add, { a: 4, b: 4 }), 8)
      }).pipe(Effect.scoped, Effect.provide(taskPool({ size: 1, pipelineDepth: 1 })), within))
  })

  // The cases below take every kind at once, on one pool: starting a pool per kind costs more
  // than the calls themselves.

  it.live("many such runs at once neither hang a two-worker pool nor stop its close", () =>
    Effect.gen(function*() {
      const bad = uncloneables.flatMap((kind) => Array.from({ length: 6 }, (_, i) => ({ kind, i })))
      const runs = yield* Effect.gen(function*() {
        const runs = yield* Effect.all([
          ...bad.map(({ i, kind }) => Effect.exit(Task.run(Add, hostile({ a: i, b: 0 }, kind)))),
          ...Array.from({ length: 4 }, (_, i) => Effect.exit(Task.run(Add, { a: i, b: 10 })))
        ], { concurrency: "unbounded" })
        yield* assertIdle
        assert.strictEqual(yield* Task.run(Add, { a: 1, b: 1 }), 2)
        return runs
      }).pipe(Effect.provide(taskPool()))
      // The pool's scope closed above: reaching here means its close completed.
      bad.forEach(({ kind }, at) => {
        const exit = runs[at]!
        assert.isTrue(Exit.isFailure(exit), kind.name)
        if (Exit.isFailure(exit)) assertNamesExtra(Cause.squash(exit.cause), kind.name)
      })
      assert.deepStrictEqual(runs.slice(bad.length), [10, 11, 12, 13].map((n) => Exit.succeed(n)))
    }).pipe(within))

  it.live("fails a map and a stream with PayloadInvalid, in any chunk, and the pool goes on", () =>
    Effect.gen(function*() {
      for (const kind of uncloneables) {
        const inputs = () => [
          ...Array.from({ length: 10 }, (_, i) => ({ a: i, b: 0 })),
          hostile({ a: 0, b: 0 }, kind),
          ...Array.from({ length: 10 }, (_, i) => ({ a: i, b: 1 }))
        ]
        for (const chunkSize of [1, 4, 21]) {
          assertNamesExtra(yield* Effect.flip(Task.map(Add, inputs(), { chunkSize })), kind.name)
          assertNamesExtra(yield* Effect.flip(Task.mapUnordered(Add, inputs(), { chunkSize })), kind.name)
          assertNamesExtra(
            yield* Effect.flip(Stream.fromIterable(inputs()).pipe(Task.stream(Add, { chunkSize }), Stream.runCollect)),
            kind.name
          )
        }
        yield* assertIdle
        assert.deepStrictEqual(yield* Task.map(Add, [{ a: 1, b: 1 }, { a: 2, b: 2 }]), [2, 4])
      }
    }).pipe(Effect.provide(taskPool()), within))

  it.live("fails only that actor call; the actor never saw it and goes on", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 10 })
      let total = 10
      for (const kind of uncloneables) {
        const [bad, good] = yield* Effect.all([
          Effect.flip(counter.call("add", hostile({ n: 100 }, kind))),
          counter.call("add", { n: 1 })
        ], { concurrency: "unbounded" })
        assertNamesExtra(bad, kind.name)
        total += 1
        assert.strictEqual(good, total, kind.name)
        assert.strictEqual(yield* counter.call("get", {}), total, `the bad call never ran (${kind.name})`)
      }
    }).pipe(Effect.scoped, Effect.provide(actorPool), within))

  it.live("in init arguments fails that spawn with InitFailed, PayloadInvalid; other actors spawn", () =>
    Effect.gen(function*() {
      for (const kind of uncloneables) {
        const error = yield* Effect.flip(Actor.spawn(Counter, hostile({ start: 1 }, kind)))
        const reason = actorReasonOf(error)
        assert.instanceOf(reason, ActorError.InitFailed, `an InitFailed for ${kind.name}, got ${String(error)}`)
        assert.strictEqual((reason as ActorError.InitFailed).failure, "PayloadInvalid", kind.name)
        assert.match(reason.message, /^\["extra".*cannot be sent to a worker/, kind.name)
        // Was 19,000 characters for the nesting: the message spelled out a path thousands of steps deep.
        assert.isAtMost(error.message.length, 1_000, kind.name)
        const counter = yield* Actor.spawn(Counter, { start: 1 })
        assert.strictEqual(yield* counter.call("add", { n: 1 }), 2, kind.name)
      }
    }).pipe(Effect.scoped, Effect.provide(actorPool), within))

  crashes("fails only its call when it waited for the actor's rebuild", () =>
    Effect.gen(function*() {
      // Calls made while an actor is rebuilt wait in its mailbox and are sent from the pool's
      // message handler once it runs again: an unsendable one must not throw out of there.
      const counter = yield* Actor.spawn(Counter, { start: 5 }, {
        restart: { maxRestarts: uncloneables.length, backoff: "100 millis" }
      })
      for (const kind of uncloneables) {
        assert.instanceOf(reasonOf(yield* Effect.flip(counter.call("crash", {}))), TaskError.WorkerLost)
        const [bad, good] = yield* Effect.all([
          Effect.flip(counter.call("add", hostile({ n: 100 }, kind))),
          counter.call("add", { n: 1 })
        ], { concurrency: "unbounded" })
        assertNamesExtra(bad, kind.name)
        assert.strictEqual(good, 6, `rebuilt from its init arguments, the bad call never ran (${kind.name})`)
      }
    }).pipe(Effect.scoped, Effect.provide(actorPool), within))
})

describe("inputs whose errors cannot be rendered, in a process that survives uncaught exceptions", () => {
  it.live("the calls fail typed, runPromise settles, the pool closes and the process exits 0", () =>
    Effect.gen(function*() {
      const program = new URL("../fixtures/render-hostile.ts", import.meta.url).pathname
      // The deadline only stops a child that hangs (what a throw while rendering did); it is no
      // measure of anything.
      const child = yield* Effect.promise(() =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          execFile(process.execPath, [program], { timeout: 45_000 }, (error, stdout, stderr) =>
            resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr }))
        })
      )
      const lines = child.stdout.trim().split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line))
      assert.deepStrictEqual(lines.filter((line) => "uncaught" in line), [], "no uncaught exception")
      assert.strictEqual(child.code, 0, `the child exited 0 (stderr: ${child.stderr})`)
      const report = lines.find((line) => "failures" in line)
      assert.isDefined(report, `runPromise settled and the child printed its result (stdout: ${child.stdout})`)
      assert.strictEqual(report.liveThreads, 0, "the pool closed: no worker thread left")
      assert.deepStrictEqual(report.failures.map((failure: { call: string }) => failure.call), [
        "a prototype that throws",
        "a prototype that throws, encoded by the caller",
        "a typed array where a number is declared",
        "a typed array whose prototype throws",
        "a map with one such input"
      ])
      for (const failure of report.failures) {
        assert.deepStrictEqual([failure.error, failure.reason], ["TaskError", "PayloadInvalid"], failure.call)
        assert.isAtMost(failure.input.length, TaskError.maxInputRendering)
      }
    }))
})
