/**
 * Actors over threads, processes, inline and simulated: typed methods and errors, FIFO per actor, concurrent
 * methods, placement, handles passed to tasks and actors, actor pools, constructor failure, worker
 * death with and without a restart policy, and finalizers when scopes close.
 *
 * On the simulated backend each case runs as the program of one `Simulation.run` (fixed seed, no
 * faults): the same assertions, on virtual time. Its workers crash by fault plan, not from a
 * method, so the cases that kill a worker from an actor are covered by `SimulationActors.test.ts`.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  Actor,
  ActorError,
  ActorPool,
  InlineBackend,
  type PoolError,
  ProcessBackend,
  type Simulation,
  Task,
  TaskError,
  WorkerPool
} from "../../src/index.ts"
import { ActorTasks, BadStart, Bump, Counter, Forwarder, Halt, Nap, Refused, Tick } from "../fixtures/actors.ts"
import { actorReasonOf, reasonOf, rows } from "../support/backends.ts"

const entryUrl = new URL("../fixtures/actor-worker.ts", import.meta.url)

type Names = Task.Tasks<typeof ActorTasks>["name"] | Task.Actors<typeof ActorTasks>["name"]

afterEach(() => {
  assert.strictEqual(WorkerPool.liveThreads(), 0)
  assert.strictEqual(ProcessBackend.liveProcesses(), 0)
})

/** A directory for a `Counter`'s probe: one file per construction, one per finalizer run. */
const probeDir = () => mkdtempSync(join(tmpdir(), "ep-actor-probe-"))

/** Constructions and finalizer runs the probe saw. */
const marks = (dir: string): [built: number, finalized: number] => {
  const names = readdirSync(dir)
  return [names.filter((name) => name.startsWith("built-")).length, names.filter((name) => name.startsWith("finalized-")).length]
}

describe.each(rows)("actors on $name", (row) => {
  const pool: Layer.Layer<Task.Runner<Names>, PoolError.PoolError, Simulation.World> = WorkerPool.layer(ActorTasks, {
    entry: entryUrl,
    size: 2
  }).pipe(Layer.provide(row.backend))
  const within = row.within
  // Killing a worker from an actor's method (process.exit) takes a worker of its own: an in-thread
  // worker cannot be stopped, and simulated ones crash by fault plan (SimulationActors.test.ts).
  const threadsOnly = row.capabilities.isolatesCrashes ? it.live : it.live.skip

  it.live("state lives in the actor across calls; methods are typed", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 10 })
      assert.strictEqual(yield* counter.call("add", { n: 5 }), 15)
      assert.strictEqual(yield* counter.call("add", { n: -1 }), 14)
      assert.strictEqual(yield* counter.call("get", {}), 14)
      const other = yield* Actor.spawn(Counter, { start: 0 })
      assert.strictEqual(yield* other.call("get", {}), 0, "each actor has its own state")
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("tasks and methods without a payload are called without one; a payload Schema still decodes", () =>
    Effect.gen(function*() {
      const workerId = yield* Task.run(Tick)
      assert.isTrue(workerId === 0 || workerId === 1, String(workerId))
      assert.include([0, 1], yield* Task.run(Tick, undefined, { timeout: "5 seconds" }))
      const counter = yield* Actor.spawn(Counter, { start: 3 })
      assert.strictEqual(yield* counter.call("get"), 3, "an empty struct payload may be left out")
      assert.strictEqual(yield* counter.call("reset"), 3, "no payload declared")
      assert.strictEqual(yield* counter.call("get", {}), 0)
      // Left out where the Schema needs fields: the caller's side rejects it, naming the field.
      const error = yield* Effect.flip(counter.call("add", undefined as never))
      const reason = reasonOf(error)
      assert.instanceOf(reason, TaskError.PayloadInvalid)
      assert.deepStrictEqual((reason as TaskError.PayloadInvalid).path, ["n"])
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("a tell enters the mailbox when it runs: a call after it observes it, and N tells apply in order", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 0 })
      yield* Actor.tell(counter, "add", { n: 5 })
      assert.strictEqual(yield* counter.call("get"), 5, "the call after the tell observes it")
      // Later tells sleep less: any overlap or reordering would show in the log.
      for (let i = 0; i < 8; i++) yield* counter.tell("append", { value: `t${i}`, millis: 16 - i * 2 })
      assert.deepStrictEqual(yield* Actor.call(counter, "log"), Array.from({ length: 8 }, (_, i) => `t${i}`))
      // Tells and calls share one FIFO.
      yield* Actor.tell(counter, "add", { n: 2 })
      assert.strictEqual(yield* counter.call("add", { n: 0 }), 7)
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("a forked call enters the mailbox when the forked fiber takes its first step, not at the fork", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 0 })
      // `forkChild` schedules the child: the parent's tell, made before it yields, goes in first.
      const forked = yield* Effect.forkChild(counter.call("append", { value: "forked", millis: 0 }))
      yield* counter.tell("append", { value: "told", millis: 0 })
      yield* Fiber.join(forked)
      assert.deepStrictEqual(yield* counter.call("log"), ["told", "forked"])
      // Started immediately, the forked call is in the mailbox before the fork returns.
      const now = yield* Effect.forkChild(counter.call("append", { value: "forked-now", millis: 0 }), { startImmediately: true })
      yield* counter.tell("append", { value: "told-after", millis: 0 })
      yield* Fiber.join(now)
      assert.deepStrictEqual((yield* counter.call("log")).slice(2), ["forked-now", "told-after"])
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("a tell that fails later is logged with its typed error and seen as a pool event; one refused at once fails", () =>
    Effect.gen(function*() {
      const logged: Array<{ readonly message: string; readonly level: string; readonly cause: string }> = []
      const logger = Logger.make(({ cause, logLevel, message }) =>
        void logged.push({ message: String(message), level: logLevel, cause: Cause.pretty(cause) })
      )
      const answers: Array<string> = []
      yield* WorkerPool.observe(ActorTasks, (event) => {
        if (event._tag === "ActorAnswer") answers.push(event.outcome)
      })
      const counter = yield* Actor.spawn(Counter, { start: 4 })
      const told = Effect.gen(function*() {
        yield* Actor.tell(counter, "explode")
        yield* Actor.tell(counter, "refuse")
        // A Schema that only validates is checked in the worker: this one fails there, later.
        yield* Actor.tell(counter, "add", { n: "x" } as never)
      })
      yield* told.pipe(Effect.provide(Logger.layer([logger])))
      assert.strictEqual(yield* counter.call("get"), 4, "later calls run: the failures were the tells' alone")
      for (let i = 0; i < 50 && logged.length < 3; i++) yield* Effect.sleep("10 millis")
      assert.deepStrictEqual(logged.map((entry) => entry.level), ["Warn", "Warn", "Warn"], "logged through the teller's loggers")
      assert.include(logged[0]!.message, "Counter")
      assert.include(logged[0]!.message, "explode")
      assert.include(logged[0]!.cause, "counter at 4 blew up")
      assert.include(logged[1]!.cause, "Refused")
      assert.include(logged[2]!.cause, "PayloadInvalid")
      assert.deepStrictEqual(answers.slice(-4), ["Defect", "Failure", "PayloadInvalid", "Success"])
      // Refused at once, nothing entered the mailbox, and the tell's own Effect fails, typed: a
      // payload that cannot be sent, an actor already stopped.
      const unsendable = yield* Effect.flip(Actor.tell(counter, "add", { n: 1, extra: () => 1 } as never))
      assert.instanceOf(reasonOf(unsendable), TaskError.PayloadInvalid)
      yield* Actor.stop(counter)
      const stopped = yield* Effect.flip(Actor.tell(counter, "add", { n: 1 }))
      assert.instanceOf(actorReasonOf(stopped), ActorError.Unavailable)
      assert.strictEqual(logged.length, 3, "a tell refused at once is the caller's error, not a log line")
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("messages to one actor are handled one at a time, in the order they were sent", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 0 })
      // Later calls sleep less: any overlap or reordering would show in the log.
      const calls = Array.from({ length: 8 }, (_, i) => counter.call("append", { value: `m${i}`, millis: 40 - i * 5 }))
      yield* Effect.all(calls, { concurrency: "unbounded" })
      assert.deepStrictEqual(yield* counter.call("log", {}), Array.from({ length: 8 }, (_, i) => `m${i}`))
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  // A simulated handler takes virtual time, so it never finishes synchronously; and 20,000
  // simulated calls would cost real seconds.
  ;(row.realTime ? it.live : it.live.skip)("regression: a long run of quick calls queued behind a slow one is handled in order", () =>
    Effect.gen(function*() {
      // Each call that finished synchronously started the next from inside itself: 20,000 queued
      // calls nested 20,000 drains deep and overflowed the worker's stack.
      const counter = yield* Actor.spawn(Counter, { start: 0 })
      const slow = yield* Effect.forkChild(counter.call("sleep", { millis: 300 }))
      // Let the slow call reach the actor first: the quick ones then queue behind it.
      yield* Effect.sleep("50 millis")
      const totals = yield* Effect.all(Array.from({ length: 20_000 }, () => counter.call("add", { n: 1 })), {
        concurrency: "unbounded"
      })
      yield* Fiber.join(slow)
      assert.deepStrictEqual(totals, Array.from({ length: 20_000 }, (_, i) => i + 1))
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("a method declared concurrent runs alongside the others", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 0 })
      yield* Effect.all([
        counter.call("overlap", { tag: "a", millis: 150 }),
        counter.call("overlap", { tag: "b", millis: 150 })
      ], { concurrency: "unbounded" })
      const log = yield* counter.call("log", {})
      assert.deepStrictEqual(log.slice(0, 2).sort(), ["start:a", "start:b"], "both started before either ended")
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("a declared error arrives as its class; a thrown one as a Defect naming the method", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 3 })
      const refused = yield* Effect.flip(counter.call("refuse", {}))
      assert.instanceOf(refused, Refused)
      assert.strictEqual((refused as Refused).total, 3)
      const defect = yield* Effect.flip(counter.call("explode", {}))
      assert.instanceOf(reasonOf(defect), TaskError.Defect)
      assert.strictEqual((defect as TaskError.TaskError).taskName, "Counter.explode")
      assert.match(reasonOf(defect).message, /counter at 3 blew up/)
      // Named as ActorError names an actor, not as a task: the method of actor Counter#<id>.
      assert.match((defect as TaskError.TaskError).message, /^actor Counter#\d+, method explode on worker \d+: Defect: /)
      const invalid = yield* Effect.flip(counter.call("add", { n: "x" } as never))
      assert.match((invalid as TaskError.TaskError).message, /^actor Counter#\d+, method add( on worker \d+)?: PayloadInvalid at \["n"\]: /)
      assert.strictEqual(yield* counter.call("add", { n: 1 }), 4, "the actor survives its method's failures")
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("constructor failures are typed: declared, defect, bad init arguments", () =>
    Effect.gen(function*() {
      const declared = yield* Effect.flip(Actor.spawn(Counter, { start: -1 }))
      assert.instanceOf(declared, BadStart)
      const defect = yield* Effect.flip(Actor.spawn(Counter, { start: Number.NaN }))
      assert.instanceOf(actorReasonOf(defect), ActorError.InitFailed)
      assert.strictEqual((actorReasonOf(defect) as ActorError.InitFailed).failure, "Defect")
      assert.match(actorReasonOf(defect).message, /NaN start/)
      // The remote stack, once: it was the stack after its own first line ("Error: NaN start" twice).
      assert.strictEqual(actorReasonOf(defect).message.split("Error: NaN start").length, 2, actorReasonOf(defect).message)
      assert.match(actorReasonOf(defect).message, /^Error: NaN start\n\s+at /)
      // The message says where and on what, as a TaskError's does: it named only the actor.
      assert.match((defect as ActorError.ActorError).message, /^actor Counter#\d+ on worker \d+: InitFailed: Error: NaN start\n/)
      assert.isTrue((defect as ActorError.ActorError).message.endsWith(" (input: { start: NaN })"))
      const invalid = yield* Effect.flip(Actor.spawn(Counter, { start: "x" } as never))
      assert.instanceOf(actorReasonOf(invalid), ActorError.InitFailed)
      assert.strictEqual((actorReasonOf(invalid) as ActorError.InitFailed).failure, "PayloadInvalid")
      assert.match((invalid as ActorError.ActorError).message, /^actor Counter#-?\d+( on worker \d+)?: InitFailed: \["start"\]: .* \(input: \{ start: 'x' \}\)$/)
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("actors spread over workers by default and can be pinned", () =>
    Effect.gen(function*() {
      const spread = yield* Actor.spawnMany(Counter, 2, { start: 0 })
      const places = yield* Effect.forEach(spread, (a) => a.call("whereAmI", {}))
      assert.strictEqual(new Set(places).size, 2)
      const a = yield* Actor.spawn(Counter, { start: 0 }, { worker: 1 })
      const b = yield* Actor.spawn(Counter, { start: 0 }, { worker: 1 })
      assert.strictEqual(yield* a.call("whereAmI", {}), yield* b.call("whereAmI", {}))
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("a handle passed to a task or to another actor is called from the worker", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 100 }, { worker: 0 })
      assert.strictEqual(yield* Task.run(Bump, { counter, n: 1 }), 101)
      const totals = yield* Task.map(Bump, Array.from({ length: 10 }, () => ({ counter, n: 1 })))
      assert.deepStrictEqual([...totals].sort((x, y) => x - y), Array.from({ length: 10 }, (_, i) => 102 + i))
      const forwarder = yield* Actor.spawn(Forwarder, { target: counter }, { worker: 1 })
      assert.strictEqual(yield* forwarder.call("forward", { n: 1_000 }), 1_111)
      assert.strictEqual(yield* counter.call("get", {}), 1_111)
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("a handle used in another pool's worker is refused there, typed, never routed to that pool's actors", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 10 })
      // Was: a pool hosting no actors dropped the call, and the task waited for good.
      const tasksOnly = WorkerPool.layer(Task.group(Bump, Halt), { entry: entryUrl, size: 1 }).pipe(Layer.provide(row.backend))
      const dropped = yield* Effect.flip(Task.run(Bump, { counter, n: 1 }).pipe(Effect.provide(tasksOnly)))
      assert.instanceOf(reasonOf(dropped), TaskError.Defect)
      assert.include(reasonOf(dropped).message, "another pool")
      const notStopped = yield* Effect.flip(Task.run(Halt, { counter }).pipe(Effect.provide(tasksOnly)))
      assert.include(reasonOf(notStopped).message, "another pool")
      // Was: a pool hosting actors of its own called its actor of the same id instead.
      const withActors = WorkerPool.layer(Task.group(Bump, Halt, Counter), { entry: entryUrl, size: 1 }).pipe(Layer.provide(row.backend))
      yield* Effect.gen(function*() {
        const own = yield* Actor.spawn(Counter, { start: 1_000 })
        assert.strictEqual(own.id, counter.id, "the same id in each pool")
        const refused = yield* Effect.flip(Task.run(Bump, { counter, n: 1 }))
        assert.include(reasonOf(refused).message, "another pool")
        assert.include(reasonOf(yield* Effect.flip(Task.run(Halt, { counter }))).message, "another pool")
        assert.strictEqual(yield* own.call("get"), 1_000, "the other pool's actor was not called nor stopped")
      }).pipe(Effect.scoped, Effect.provide(withActors))
      assert.strictEqual(yield* counter.call("get"), 10)
      assert.strictEqual(yield* Task.run(Bump, { counter, n: 1 }), 11, "its own pool's workers still call it")
    }).pipe(Effect.scoped, Effect.provide(pool), within), 20_000)

  it.live("a task that gives up its call through a handle interrupts that call in the actor", () =>
    Effect.gen(function*() {
      // Was: the asking worker only stopped listening; the call ran on in the actor for its
      // full minute, holding the mailbox, and the next call waited behind it.
      const counter = yield* Actor.spawn(Counter, { start: 0 }, { worker: 0 })
      const timedOut = yield* Effect.flip(Task.run(Nap, { counter, millis: 60_000 }, { timeout: "100 millis" }))
      assert.instanceOf(reasonOf(timedOut), TaskError.Timeout)
      assert.deepStrictEqual(yield* counter.call("log"), [], "the nap was interrupted before it logged")
      const napping = yield* Effect.forkChild(Task.run(Nap, { counter, millis: 60_000 }))
      yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(napping)
      assert.strictEqual(yield* counter.call("add", { n: 1 }), 1, "the mailbox goes on")
      assert.deepStrictEqual(yield* counter.call("log"), [])
    }).pipe(Effect.scoped, Effect.provide(pool), within), 20_000)

  threadsOnly("a call made through a handle by a worker that dies is interrupted in the actor; a tell goes on", () =>
    Effect.gen(function*() {
      // Was: the pool forgot the dead worker's asks without cancelling them: the call ran on in
      // its actor for its full minute, holding the mailbox, with nobody left to answer.
      const counter = yield* Actor.spawn(Counter, { start: 0 }, { worker: 0 })
      const asker = yield* Actor.spawn(Forwarder, { target: counter }, { worker: 1 })
      // Placed now: after the first crash, position 2 could name the counter's worker.
      const teller = yield* Actor.spawn(Forwarder, { target: counter }, { worker: 2 })
      const lost = yield* Effect.flip(asker.call("abandon", { value: "asked", millis: 60_000, tell: false }))
      assert.instanceOf(reasonOf(lost), TaskError.WorkerLost)
      // Behind the abandoned call in the mailbox: answered once that call ended.
      assert.deepStrictEqual(yield* counter.call("log"), [], "the abandoned call was interrupted before it logged")
      yield* Effect.flip(teller.call("abandon", { value: "told", millis: 10, tell: true }))
      assert.deepStrictEqual(yield* counter.call("log"), ["told"], "a tell is fire and forget: it ran")
    }).pipe(
      Effect.scoped,
      Effect.provide(WorkerPool.layer(ActorTasks, { entry: entryUrl, size: 3 }).pipe(Layer.provide(row.backend))),
      within
    ), 20_000)

  it.live("an actor pool routes each call to the least busy actor", () =>
    Effect.gen(function*() {
      const fast = yield* Actor.spawn(Counter, { start: 0, delay: 5 }, { worker: 0 })
      const slow = yield* Actor.spawn(Counter, { start: 0, delay: 80 }, { worker: 1 })
      const actors = ActorPool.make([fast, slow])
      const out = yield* ActorPool.map(actors, "work", Array.from({ length: 24 }, (_, i) => ({ i })))
      assert.deepStrictEqual(out.map((o) => o.i), Array.from({ length: 24 }, (_, i) => i), "input order")
      const fastWorker = yield* fast.call("whereAmI", {})
      const onFast = out.filter((o) => o.workerId === fastWorker).length
      assert.isAbove(onFast, 24 - onFast, "the fast actor took more")
      assert.isAbove(24 - onFast, 0, "the slow one took some")
      const unordered = yield* ActorPool.mapUnordered(actors, "work", Array.from({ length: 6 }, (_, i) => ({ i })))
      assert.deepStrictEqual(unordered.map((o) => o.i).sort(), [0, 1, 2, 3, 4, 5])
      // A method with no payload declared is submitted without one, as on a handle.
      yield* ActorPool.submit(actors, "add", { n: 3 })
      assert.strictEqual(yield* ActorPool.submit(actors, "reset"), 3)
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("an actor pool sends a call its actor refused (not alive) to the next; it fails only when all are gone", () =>
    Effect.gen(function*() {
      const first = yield* Actor.spawn(Counter, { start: 0 }, { worker: 0 })
      const second = yield* Actor.spawn(Counter, { start: 100 }, { worker: 1 })
      const actors = ActorPool.make([first, second])
      yield* Actor.stop(first)
      // The least busy is the stopped first actor: the call it refused goes to the second.
      assert.strictEqual(yield* ActorPool.submit(actors, "add", { n: 1 }), 101)
      assert.deepStrictEqual(actors.unavailable, [true, false])
      assert.strictEqual(yield* ActorPool.submit(actors, "add", { n: 1 }), 102)
      // A call the stop caught while it ran reached its actor: it fails, and is not sent again.
      const running = yield* Effect.forkChild(ActorPool.submit(actors, "sleep", { millis: 60_000 }))
      yield* Effect.sleep("50 millis")
      yield* Actor.stop(second)
      const caught = yield* Effect.flip(Fiber.join(running))
      assert.instanceOf(actorReasonOf(caught), ActorError.Unavailable)
      const gone = yield* Effect.flip(ActorPool.submit(actors, "add", { n: 1 }))
      assert.instanceOf(actorReasonOf(gone), ActorError.Unavailable)
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("closing the scope stops the actor: its finalizers run and later calls fail typed", () =>
    Effect.gen(function*() {
      const probe = probeDir()
      const scope = yield* Scope.make()
      const counter = yield* Actor.spawn(Counter, { start: 0, probe }).pipe(Scope.provide(scope))
      const running = yield* Effect.forkChild(counter.call("sleep", { millis: 60_000 }))
      yield* Effect.sleep("20 millis")
      assert.deepStrictEqual(marks(probe), [1, 0])
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(marks(probe), [1, 1], "finalizer ran")
      const inFlight = yield* Effect.flip(Fiber.join(running))
      assert.instanceOf(actorReasonOf(inFlight), ActorError.Unavailable)
      const after = yield* Effect.flip(counter.call("get", {}))
      assert.instanceOf(actorReasonOf(after), ActorError.Unavailable)
      assert.strictEqual((actorReasonOf(after) as ActorError.Unavailable).state, "Stopped")
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("Actor.stop through a handle inside a worker stops the actor, as the caller's does", () =>
    Effect.gen(function*() {
      // Was: it died on threads and processes ("no pool to reach it from here") and worked inline.
      const probe = probeDir()
      const counter = yield* Actor.spawn(Counter, { start: 0, probe }, { worker: 0 })
      const running = yield* Effect.forkChild(counter.call("sleep", { millis: 60_000 }))
      yield* Effect.sleep("20 millis")
      yield* Task.run(Halt, { counter })
      assert.deepStrictEqual(marks(probe), [1, 1], "its finalizer ran before the stop returned")
      assert.instanceOf(actorReasonOf(yield* Effect.flip(Fiber.join(running))), ActorError.Unavailable)
      const after = yield* Effect.flip(counter.call("get", {}))
      assert.strictEqual((actorReasonOf(after) as ActorError.Unavailable).state, "Stopped")
      yield* Task.run(Halt, { counter }) // stopped already: nothing to do
    }).pipe(Effect.scoped, Effect.provide(pool), within), 20_000)

  it.live("interrupting a call interrupts it in the worker; the actor goes on", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 0 })
      const fiber = yield* Effect.forkChild(counter.call("sleep", { millis: 60_000 }))
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(yield* counter.call("add", { n: 2 }), 2)
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("interrupting a spawn while its constructor runs stops it at once; the pool goes on", () =>
    Effect.gen(function*() {
      // Was: the spawn waited inside acquireRelease's acquire, which is uninterruptible: the
      // interruption waited for the constructor (a model loading) to finish, however long.
      const probe = probeDir()
      const spawning = yield* Effect.forkChild(Actor.spawn(Counter, { start: 0, buildMillis: 60_000, probe }, { worker: 0 }))
      yield* Effect.sleep("300 millis")
      yield* Fiber.interrupt(spawning)
      assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(spawning)))
      assert.deepStrictEqual(marks(probe), [0, 0], "never built")
      const counter = yield* Actor.spawn(Counter, { start: 4 }, { worker: 0 })
      assert.strictEqual(yield* counter.call("get", {}), 4)
    }).pipe(Effect.scoped, Effect.provide(pool), within), 20_000)

  it.live("closing the pool runs every actor's finalizers", () =>
    Effect.gen(function*() {
      const probe = probeDir()
      yield* Effect.gen(function*() {
        yield* Actor.spawnMany(Counter, 3, { start: 0, probe })
        // The pool's scope closes first: the actors' scope is outside it.
      }).pipe(Effect.provide(pool))
      assert.deepStrictEqual(marks(probe), [3, 3])
    }).pipe(Effect.scoped, within))

  it.live("closing the pool while an actor's constructor runs fails its spawn with PoolClosed", () =>
    Effect.gen(function*() {
      // Was: the worker's shutdown interrupted the constructor and reported that interruption as
      // the constructor's own failure (an `InterruptError` defect); a rebuild's would have been
      // put into its restart backoff after the pool closed.
      const outer = yield* Scope.make()
      const spawning = yield* Effect.gen(function*() {
        const spawning = yield* Effect.forkIn(Actor.spawn(Counter, { start: 0, buildMillis: 60_000 }).pipe(Scope.provide(outer)), outer)
        yield* Effect.sleep("300 millis")
        return spawning
      }).pipe(Effect.provide(pool))
      const failed = yield* Effect.flip(Fiber.join(spawning))
      const reason = actorReasonOf(failed)
      assert.instanceOf(reason, ActorError.InitFailed)
      assert.strictEqual((reason as ActorError.InitFailed).failure, "PoolClosed", (reason as ActorError.InitFailed).message)
      yield* Scope.close(outer, Exit.void)
    }).pipe(Effect.scoped, within), 20_000)

  threadsOnly("a worker death fails the actor's calls in flight with WorkerLost, then the actor is dead", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { start: 0 })
      const lost = yield* Effect.flip(counter.call("crash", {}))
      assert.instanceOf(reasonOf(lost), TaskError.WorkerLost)
      const after = yield* Effect.flip(counter.call("get", {}))
      assert.instanceOf(actorReasonOf(after), ActorError.Unavailable)
      assert.strictEqual((actorReasonOf(after) as ActorError.Unavailable).state, "Dead")
    }).pipe(Effect.scoped, Effect.provide(pool), within))

  it.live("an interrupted call whose method ignores it has its worker terminated after interruptGrace", () =>
    Effect.gen(function*() {
      // Was: the cancel waited for the method's answer, however long it took: the caller's
      // interruption hung for the whole 60 s, where a task's worker is terminated after the grace.
      const counter = yield* Actor.spawn(Counter, { start: 0 }, { worker: 0 })
      const other = yield* Actor.spawn(Counter, { start: 5 }, { worker: 1 })
      const fiber = yield* Effect.forkChild(counter.call("stubborn", { millis: 60_000 }))
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(fiber)
      const after = yield* Effect.flip(counter.call("get", {}))
      assert.instanceOf(actorReasonOf(after), ActorError.Unavailable)
      assert.strictEqual((actorReasonOf(after) as ActorError.Unavailable).state, "Dead", "its worker was terminated")
      assert.strictEqual(yield* other.call("get", {}), 5, "an actor on another worker goes on")
    }).pipe(
      Effect.scoped,
      Effect.provide(
        WorkerPool.layer(ActorTasks, { entry: entryUrl, size: 2, interruptGrace: "200 millis" }).pipe(Layer.provide(row.backend))
      ),
      within
    ), 20_000)

  it.live("stopping an actor whose method ignores its interruption terminates its worker after interruptGrace + exitTimeout", () =>
    Effect.gen(function*() {
      // Was: the stop waited for the method, however long it ran: closing the actor's scope (and
      // so a program's end, or Ctrl-C) hung for the whole 60 s.
      const counter = yield* Actor.spawn(Counter, { start: 0 }, { worker: 0 })
      const other = yield* Actor.spawn(Counter, { start: 5 }, { worker: 1 })
      const fiber = yield* Effect.forkChild(counter.call("stubborn", { millis: 60_000 }))
      yield* Effect.sleep("50 millis")
      yield* Actor.stop(counter)
      const failed = yield* Effect.flip(Fiber.join(fiber))
      assert.instanceOf(actorReasonOf(failed), ActorError.Unavailable)
      assert.strictEqual((actorReasonOf(failed) as ActorError.Unavailable).state, "Stopped")
      assert.strictEqual(yield* other.call("get", {}), 5, "an actor on another worker goes on")
    }).pipe(
      Effect.scoped,
      Effect.provide(
        WorkerPool.layer(ActorTasks, { entry: entryUrl, size: 2, interruptGrace: "100 millis", exitTimeout: "100 millis" }).pipe(
          Layer.provide(row.backend)
        )
      ),
      within
    ), 20_000)

  threadsOnly("with a restart policy the actor is rebuilt from its init arguments, one instance at a time", () =>
    Effect.gen(function*() {
      const probe = probeDir()
      const counter = yield* Actor.spawn(Counter, { start: 7, probe }, {
        restart: { maxRestarts: 2, backoff: "20 millis" }
      })
      assert.strictEqual(yield* counter.call("add", { n: 1 }), 8)
      assert.instanceOf(reasonOf(yield* Effect.flip(counter.call("crash", {}))), TaskError.WorkerLost)
      // Made while it is being rebuilt: waits, then reaches the new instance (fresh state).
      assert.strictEqual(yield* counter.call("add", { n: 1 }), 8)
      assert.strictEqual(marks(probe)[0], 2, "built twice")
      assert.instanceOf(reasonOf(yield* Effect.flip(counter.call("crash", {}))), TaskError.WorkerLost)
      assert.strictEqual(yield* counter.call("get", {}), 7)
      assert.instanceOf(reasonOf(yield* Effect.flip(counter.call("crash", {}))), TaskError.WorkerLost)
      const dead = yield* Effect.flip(counter.call("get", {}))
      assert.instanceOf(actorReasonOf(dead), ActorError.Unavailable, "restarts used up")
      assert.strictEqual(marks(probe)[0], 3)
    }).pipe(Effect.scoped, Effect.provide(pool), within))
})

describe("spawn options", () => {
  const pool = WorkerPool.layer(ActorTasks, { entry: entryUrl, size: 1 }).pipe(Layer.provide(InlineBackend.layer))

  it.live("a restart policy or a spawnMany count that is not one dies with a RangeError naming the option; valid edges spawn", () =>
    Effect.gen(function*() {
      // Was: maxRestarts NaN never ran out (restarts >= NaN is false), 1.5 was floored, and a
      // backoff that was not a duration silently became the default.
      const cases: Array<[Actor.RestartPolicy, string]> = [
        [{ maxRestarts: Number.NaN }, "maxRestarts"],
        [{ maxRestarts: -1 }, "maxRestarts"],
        [{ maxRestarts: 1.5 }, "maxRestarts"],
        [{ maxRestarts: -Infinity }, "maxRestarts"],
        [{ maxRestarts: 1, backoff: -5 }, "backoff"],
        [{ maxRestarts: 1, backoff: Number.NaN }, "backoff"],
        [{ maxRestarts: 1, backoff: "soon" as never }, "backoff"],
        [{ maxRestarts: 1, maxBackoff: "-1 seconds" as never }, "maxBackoff"],
        [{ maxRestarts: 1, maxBackoff: Number.NaN }, "maxBackoff"]
      ]
      for (const [restart, option] of cases) {
        const exit = yield* Effect.exit(Actor.spawn(Counter, { start: 0 }, { restart }))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), JSON.stringify(restart))
        const defect = Cause.squash((exit as Exit.Failure<unknown, unknown>).cause)
        assert.instanceOf(defect, RangeError)
        assert.include((defect as RangeError).message, `restart.${option}`)
      }
      // Was: NaN and -1 spawned no actor, 1.5 one, and Infinity threw where the Effect was built.
      for (const count of [Number.NaN, -1, 1.5, Infinity]) {
        const exit = yield* Effect.exit(Effect.suspend(() => Actor.spawnMany(Counter, count, { start: 0 })))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), String(count))
        const defect = Cause.squash((exit as Exit.Failure<unknown, unknown>).cause)
        assert.instanceOf(defect, RangeError)
        assert.include((defect as RangeError).message, "count must be")
      }
      assert.deepStrictEqual(yield* Actor.spawnMany(Counter, 0, { start: 0 }), [])
      for (const restart of [{ maxRestarts: 0 }, { maxRestarts: Infinity, backoff: 0, maxBackoff: Infinity }]) {
        const counter = yield* Actor.spawn(Counter, { start: 1 }, { restart })
        assert.strictEqual(yield* counter.call("get", {}), 1)
      }
    }).pipe(Effect.scoped, Effect.provide(pool)), 20_000)

  it.live("an actor stopped through a handle made from its id before it was built fails its spawn, saying so", () =>
    Effect.gen(function*() {
      // Was: its spawn failed with the constructor's interruption (an `InterruptError` defect);
      // stopped while waiting for a worker, never (ActorHost.test.ts).
      const first = yield* Actor.spawn(Counter, { start: 0 })
      const spawning = yield* Effect.forkChild(Actor.spawn(Counter, { start: 0, buildMillis: 60_000 }))
      yield* Effect.sleep("50 millis")
      const ref = Actor.Ref(Counter)
      const forged = Schema.decodeSync(ref)({ ...Schema.encodeSync(ref)(first), id: first.id + 1 })
      yield* Actor.stop(forged)
      const failed = yield* Effect.flip(Fiber.join(spawning))
      assert.instanceOf(failed, ActorError.ActorError)
      assert.include((failed as ActorError.ActorError).message, "stopped before it was built")
      assert.strictEqual(yield* first.call("get"), 0, "the other actor goes on")
    }).pipe(Effect.scoped, Effect.provide(pool)), 20_000)

  it.live("a method the definition lacks dies naming it, an inherited name too", () =>
    Effect.gen(function*() {
      // Was: "constructor" and "toString" found Object.prototype's functions and died with
      // "Cannot read properties of undefined (reading 'ast')".
      const counter = yield* Actor.spawn(Counter, { start: 1 })
      for (const method of ["nope", "constructor", "toString"]) {
        for (const send of [counter.call, counter.tell]) {
          const exit = yield* Effect.exit(send(method as never))
          assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), method)
          assert.include(String(Cause.squash((exit as Exit.Failure<unknown, unknown>).cause)), `has no method "${method}"`)
        }
      }
      assert.strictEqual(yield* counter.call("get"), 1)
    }).pipe(Effect.scoped, Effect.provide(pool)))
})
