/**
 * Actors on the simulated backend, as properties of generated runs: generated actors (restart
 * policies, pins, constructors that fail, stops), generated calls (sequential and concurrent
 * methods, calls routed from tasks, interruptions), generated crash faults, generated seeds.
 *
 * - Invariant 3: an actor handles its sequential calls one at a time, in the order they were
 *   made; a restarted actor never runs two instances at once; a dead actor stays dead.
 * - Every call ends exactly once: its answer (a reply, `WorkerLost`, `Unavailable`), or its
 *   caller gave up on it — and what the caller sees is typed.
 * - After the scope closes — success, failure or interruption — every actor was stopped, every
 *   instance that was not killed with its worker ran its finalizers, and no worker is left.
 *
 * Each is checked on the trace (what the host decided, what each worker ran) and on a ledger the
 * actors themselves keep. Also: what a crash does to an actor, restarts on virtual time, replay,
 * and regressions for actor bugs the simulation found.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Actor, ActorError, Simulation, Task, TaskError } from "../../../src/index.ts"
import entry, { BuildRefused, Dotted, Journal, JournalTasks, ledger, Refused, Relay, Tally } from "../../fixtures/simulation-actors.ts"
import { actorReasonOf, errorTag, reasonOf } from "../../support/backends.ts"

/** Cases per property: claimed for at least 1,000 generated runs; raise it to search harder. */
const runs = Number(process.env.SIMULATION_RUNS ?? 1_000)
const propOptions = { timeout: 240_000, arbitrary: { runs } }

// ---------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------

const int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/** `kind`: 0–5 `append`, 6–7 `peek` (concurrent), 8–9 a `Relay` task that appends from its worker. */
const CallSpec = Schema.Struct({
  kind: int(0, 9),
  millis: int(0, 12),
  /** For `append`: 0 → the declared error, 1 → a defect, otherwise success. */
  fail: int(0, 9),
  /** Virtual ms the caller waits before making it: short, so calls pile up in the mailbox. */
  gap: int(0, 4),
  /** Interrupt the call's caller after this many ms. */
  interruptAt: Schema.optionalKey(int(0, 20))
})
type CallSpec = typeof CallSpec.Type

const ActorSpec = Schema.Struct({
  /** 0 → its constructor fails with the declared `BuildRefused`; 1 → so do its rebuilds after a crash. */
  refuse: int(0, 9),
  maxRestarts: int(0, 3),
  backoff: int(0, 20),
  pin: Schema.optionalKey(int(0, 2)),
  /** Stopped by its own scope as its calls end; otherwise when the program's scope closes, after the pool's. */
  scoped: Schema.Boolean,
  /** `Actor.stop` after this many ms. */
  stopAt: Schema.optionalKey(int(0, 40)),
  calls: Schema.Array(CallSpec).check(Schema.isMinLength(1), Schema.isMaxLength(10))
})
type ActorSpec = typeof ActorSpec.Type

const PoolSpec = Schema.Struct({
  /** Small, so actors share workers and a crash takes several down. */
  size: int(1, 2),
  /** Tiny, so a worker slow to stop an interrupted `Relay` is terminated, and its actors with it. */
  interruptGrace: Schema.optionalKey(int(1, 10))
})
type PoolSpec = typeof PoolSpec.Type

const cases = {
  seed: Schema.Int,
  pool: PoolSpec,
  actors: Schema.Array(ActorSpec).check(Schema.isMinLength(1), Schema.isMaxLength(3)),
  // Within the first workers and their replacements, the handlers they run and the time the
  // actors live. A hung init only waits out initTimeout: left out.
  faults: Simulation.faultPlan({
    workers: 3,
    tasks: 6,
    millis: 30,
    kinds: ["CrashOnTask", "CrashAt", "CrashOnExit", "Slow", "CorruptPayload", "CrashOnInit"]
  }),
  /** More crashes while the actors run, so that they often lose their workers; part of the plan. */
  hits: Simulation.faultPlan({ workers: 3, tasks: 4, millis: 30, maxFaults: 2, kinds: ["CrashOnTask", "CrashAt"] })
}

/** Sequence numbers: a direct call's says which actor and which call; a relayed one is offset. */
const seqOf = (key: number, index: number) => key * 100 + index
const relayed = 10_000

interface ScriptResult {
  readonly spawn: Exit.Exit<unknown, unknown>
  readonly calls: ReadonlyArray<Exit.Exit<unknown, unknown>>
}

const makeCall = (journal: Actor.Handle<typeof Journal>, call: CallSpec, seq: number) =>
  call.kind <= 5
    ? journal.call("append", {
      seq,
      millis: call.millis,
      fail: call.fail === 0 ? "error" : call.fail === 1 ? "defect" : "none"
    })
    : call.kind <= 7
    ? journal.call("peek", { millis: call.millis })
    : Task.run(Relay, { journal, seq: relayed + seq })

/** One actor's life: spawned, called in bursts (some calls interrupted), maybe stopped early. */
const script = (spec: ActorSpec, key: number): Effect.Effect<ScriptResult, never, Task.Runner<"Journal" | "Relay"> | Scope.Scope> => {
  const body = Effect.gen(function*() {
    const refuse = spec.refuse === 0 ? "always" : spec.refuse === 1 ? "rebuilds" : "never"
    const spawn = yield* Effect.exit(Actor.spawn(Journal, { key, refuse }, {
      ...(spec.pin === undefined ? {} : { worker: spec.pin }),
      restart: { maxRestarts: spec.maxRestarts, backoff: Duration.millis(spec.backoff) }
    }))
    if (Exit.isFailure(spawn)) return { spawn, calls: [] }
    const journal = spawn.value
    if (spec.stopAt !== undefined) yield* Effect.forkChild(Effect.andThen(Effect.sleep(spec.stopAt), Actor.stop(journal)))
    const fibers: Array<Fiber.Fiber<unknown, unknown>> = []
    for (const [index, call] of spec.calls.entries()) {
      if (call.gap > 0) yield* Effect.sleep(call.gap)
      const fiber = yield* Effect.forkChild(makeCall(journal, call, seqOf(key, index)))
      if (call.interruptAt !== undefined) {
        yield* Effect.forkChild(Effect.andThen(Effect.sleep(call.interruptAt), Fiber.interrupt(fiber)))
      }
      fibers.push(fiber)
    }
    return { spawn, calls: yield* Effect.forEach(fibers, (fiber) => Fiber.await(fiber)) }
  })
  return spec.scoped ? Effect.scoped(body) : body
}

const poolLayer = (pool: PoolSpec) => Simulation.layer(JournalTasks, { entry, ...pool })

const workload = (pool: PoolSpec, actors: ReadonlyArray<ActorSpec>) =>
  Effect.forEach(actors, script, { concurrency: "unbounded" }).pipe(Effect.provide(poolLayer(pool)))

const latency = { min: 0, max: 3 }

const simulate = <A, E>(
  program: Effect.Effect<A, E, Simulation.World | Scope.Scope>,
  seed: number,
  faults: Simulation.FaultPlan
) =>
  Effect.suspend(() => {
    ledger.reset()
    return Simulation.run(program, { seed, faults, latency, work: { min: 0, max: 4 } })
  })

// ---------------------------------------------------------------------------------------------
// Oracles
// ---------------------------------------------------------------------------------------------

const crashKinds = new Set(["CrashOnInit", "HangOnInit", "CrashOnTask", "CrashAt", "CrashOnExit"])

/** What the plan makes possible, so that anything else is a bug. */
const expectations = (pool: PoolSpec, faults: Simulation.FaultPlan) => ({
  // Crashed, or terminated for not stopping an interrupted task within a tiny grace.
  workersDie: faults.some((fault) => crashKinds.has(fault._tag)) || pool.interruptGrace !== undefined,
  corrupts: faults.some((fault) => fault._tag === "CorruptPayload"),
  // A first worker that never gets ready fails the pool's construction.
  startCanFail: faults.some((fault) =>
    "worker" in fault && fault.worker < pool.size &&
    (fault._tag === "CrashOnInit" || fault._tag === "HangOnInit" || fault._tag === "CrashAt")
  )
})
type Expectations = ReturnType<typeof expectations>

const exitTag = (exit: Exit.Failure<unknown, unknown>): string | undefined => {
  const error = Cause.findErrorOption(exit.cause)
  return error._tag === "Some" ? errorTag(error.value) : undefined
}

/** What each caller saw: typed, and only what its call, its actor's spec and the faults allow. */
const assertOutcomes = (
  pool: PoolSpec,
  actors: ReadonlyArray<ActorSpec>,
  faults: Simulation.FaultPlan,
  exit: Exit.Exit<ReadonlyArray<ScriptResult>, unknown>
) => {
  const expected = expectations(pool, faults)
  if (Exit.isFailure(exit)) {
    const error = Cause.findErrorOption(exit.cause)
    assert.isTrue(
      expected.startCanFail && error._tag === "Some" && errorTag(error.value) === "WorkerInitFailed",
      `the program failed: ${Cause.pretty(exit.cause)}`
    )
    return
  }
  exit.value.forEach((result, key) => {
    const spec = actors[key]!
    if (Exit.isFailure(result.spawn)) {
      const error = Cause.findErrorOption(result.spawn.cause)
      assert.strictEqual(error._tag, "Some", `spawn ${key} ended untyped: ${Cause.pretty(result.spawn.cause)}`)
      const value = (error as { value: unknown }).value
      if (value instanceof BuildRefused) {
        // A constructor that refuses rebuilds refuses the spawn too when its first build was lost.
        assert.isTrue(
          spec.refuse === 0 || (spec.refuse === 1 && expected.workersDie),
          `spawn ${key}: BuildRefused from a constructor that does not refuse`
        )
        assert.strictEqual(value.key, key, `spawn ${key}: another actor's BuildRefused`)
      } else {
        assert.instanceOf(actorReasonOf(value), ActorError.InitFailed, `spawn ${key}`)
        assert.strictEqual((actorReasonOf(value) as ActorError.InitFailed).failure, "WorkerLost", `spawn ${key}`)
        assert.isTrue(expected.workersDie, `spawn ${key}: its worker was lost, yet no worker could die`)
      }
      return
    }
    assert.isTrue(spec.refuse !== 0, `spawn ${key}: a refusing constructor succeeded`)
    result.calls.forEach((outcome, index) => assertCall(spec, key, index, outcome, expected))
  })
}

const assertCall = (spec: ActorSpec, key: number, index: number, outcome: Exit.Exit<unknown, unknown>, expected: Expectations) => {
  const call = spec.calls[index]!
  const name = `call ${key}/${index}`
  /** The failures any call may meet: its worker died, or its actor is gone. */
  const lost = (tag: string) =>
    (tag === "WorkerLost" && expected.workersDie) ||
    (tag === "Unavailable" && (expected.workersDie || spec.stopAt !== undefined))
  if (Exit.isSuccess(outcome)) {
    if (call.kind <= 5) {
      assert.isTrue(call.fail > 1, `${name} succeeded over a failing append`)
      assert.strictEqual(outcome.value, seqOf(key, index), `${name} answered another call's result`)
    } else if (call.kind <= 7) {
      const journal = outcome.value as ReadonlyArray<number>
      assert.isTrue(journal.every((seq) => seq >= relayed || Math.floor(seq / 100) === key), `${name} peeked at another actor`)
    } else {
      const inner = outcome.value as string
      assert.isTrue(inner === "ok" || lost(inner), `${name}: the relayed call ended ${inner}`)
    }
    return
  }
  const tag = exitTag(outcome)
  if (tag === undefined) {
    assert.isFalse(Cause.hasDies(outcome.cause), `${name}: a defect escaped as a die: ${Cause.pretty(outcome.cause)}`)
    assert.isTrue(call.interruptAt !== undefined, `${name} was interrupted, unasked`)
    return
  }
  const allowed = lost(tag) ||
    (tag === "Refused" && call.kind <= 5 && call.fail === 0) ||
    (tag === "Defect" && call.kind <= 5 && call.fail === 1) ||
    (tag === "PayloadInvalid" && call.kind >= 8 && expected.corrupts)
  assert.isTrue(allowed, `${name} (${call.kind <= 5 ? "append" : call.kind <= 7 ? "peek" : "relay"}) failed with ${tag}`)
  if (tag === "Unavailable" && !expected.workersDie) {
    const error = Cause.findErrorOption(outcome.cause) as { value: ActorError.ActorError }
    assert.strictEqual((error.value.reason as ActorError.Unavailable).state, "Stopped", `${name}: dead, yet no worker could die`)
  }
}

interface CallState {
  readonly actor: number
  readonly method: string
  /** Position among its actor's sequential calls, in the order they were made; -1 if concurrent. */
  readonly position: number
  answers: number
  cancelled: boolean
}

const concurrentMethods = new Set(["peek"])

/**
 * Invariant 3 and exactly-once on the trace: sequential calls start in the order they were made,
 * one at a time; at most one instance of an actor is alive (built, not yet finalized nor killed
 * with its worker); a dead or stopped actor is never built again; restarts stay within the policy;
 * no finalizer runs while a method of its instance does; every call gets one answer, or its caller
 * gave up on it first. Returns the instances killed with their workers.
 */
const assertActorTrace = (trace: ReadonlyArray<Simulation.Event>, maxRestarts: (actor: number) => number): number => {
  const calls = new Map<number, CallState>()
  const made = new Map<number, number>()
  const lastStarted = new Map<number, number>()
  /** Actor → its sequential calls running now, by call id → worker. */
  const running = new Map<number, Map<number, number>>()
  /** Actor → the worker of its live instance. */
  const live = new Map<number, number>()
  const builds = new Map<number, number>()
  const restarts = new Map<number, number>()
  const gone = new Map<number, string>()
  let killed = 0
  const kill = (worker: number) => {
    for (const [actor, on] of live) {
      if (on !== worker) continue
      live.delete(actor)
      killed++
    }
    for (const calls of running.values()) for (const [call, on] of calls) if (on === worker) calls.delete(call)
  }
  for (const event of trace) {
    switch (event._tag) {
      case "ActorCall": {
        const sequential = !concurrentMethods.has(event.method)
        const position = sequential ? made.get(event.actor) ?? 0 : -1
        if (sequential) made.set(event.actor, position + 1)
        calls.set(event.call, { actor: event.actor, method: event.method, position, answers: 0, cancelled: false })
        break
      }
      case "ActorStart": {
        const call = calls.get(event.call)
        assert.isDefined(call, `call ${event.call} ran, but nobody made it`)
        assert.strictEqual(call!.actor, event.actor, `call ${event.call} ran on another actor`)
        assert.strictEqual(live.get(event.actor), event.worker, `call ${event.call} ran where actor ${event.actor} has no live instance`)
        if (call!.position < 0) break
        const last = lastStarted.get(event.actor) ?? -1
        assert.isAbove(call!.position, last, `actor ${event.actor} started call ${event.call} out of the order calls were made`)
        lastStarted.set(event.actor, call!.position)
        const others = running.get(event.actor) ?? new Map<number, number>()
        assert.strictEqual(others.size, 0, `actor ${event.actor} started call ${event.call} while ${[...others.keys()]} still ran`)
        others.set(event.call, event.worker)
        running.set(event.actor, others)
        break
      }
      case "ActorFinish":
        running.get(event.actor)?.delete(event.call)
        break
      case "ActorBuild": {
        assert.isFalse(live.has(event.actor), `actor ${event.actor} built on worker ${event.worker} while an instance lives on ${live.get(event.actor)}`)
        assert.isFalse(gone.has(event.actor), `actor ${event.actor} built after it was ${gone.get(event.actor)}`)
        const count = (builds.get(event.actor) ?? 0) + 1
        builds.set(event.actor, count)
        assert.isAtMost(count, 1 + maxRestarts(event.actor), `actor ${event.actor} built more often than its restarts allow`)
        live.set(event.actor, event.worker)
        break
      }
      case "ActorPlace":
        assert.isFalse(gone.has(event.actor), `actor ${event.actor} placed after it was ${gone.get(event.actor)}`)
        break
      case "ActorFinalized":
        assert.strictEqual(live.get(event.actor), event.worker, `actor ${event.actor}: finalized an instance that was not alive`)
        assert.strictEqual(running.get(event.actor)?.size ?? 0, 0, `actor ${event.actor}'s finalizers ran while its method did`)
        live.delete(event.actor)
        break
      case "Crash":
      case "Terminate":
        kill(event.worker)
        break
      case "Exit":
        if (event.reason.startsWith("exited")) {
          for (const [actor, on] of live) {
            assert.notStrictEqual(on, event.worker, `worker ${event.worker} exited gracefully with actor ${actor} alive`)
          }
        }
        kill(event.worker)
        break
      case "ActorRestart": {
        assert.isFalse(live.has(event.actor), `actor ${event.actor} restarted while an instance lives`)
        const count = (restarts.get(event.actor) ?? 0) + 1
        restarts.set(event.actor, count)
        assert.isAtMost(count, maxRestarts(event.actor), `actor ${event.actor} restarted more often than its policy allows`)
        break
      }
      case "ActorDead":
        assert.isFalse(live.has(event.actor), `actor ${event.actor} declared dead while an instance lives`)
        gone.set(event.actor, "dead")
        break
      case "ActorStopped":
        gone.set(event.actor, "stopped")
        break
      case "ActorAnswer": {
        const call = calls.get(event.call)!
        assert.isFalse(call.cancelled, `call ${event.call} answered after its caller gave up on it`)
        assert.strictEqual(++call.answers, 1, `call ${event.call} answered twice`)
        break
      }
      case "ActorCancel": {
        const call = calls.get(event.call)!
        assert.isFalse(call.cancelled || call.answers > 0, `call ${event.call} given up after it ended`)
        call.cancelled = true
        break
      }
    }
  }
  for (const [id, call] of calls) {
    assert.isTrue(call.answers + (call.cancelled ? 1 : 0) === 1, `call ${id} (${call.method} to actor ${call.actor}) never ended`)
  }
  return killed
}

/** The user-level view of invariant 3: each journal's direct appends were handled in the order they were made, one at a time. */
const assertLedger = () => {
  assert.isAtMost(ledger.maxRunning, 1, "an actor ran two appends at once")
  const byKey = new Map<number, Array<number>>()
  for (let instance = 0; instance < ledger.instances; instance++) {
    const seqs = byKey.get(ledger.keyOf.get(instance)!) ?? []
    for (const seq of ledger.appended.get(instance) ?? []) if (seq < relayed) seqs.push(seq)
    byKey.set(ledger.keyOf.get(instance)!, seqs)
  }
  for (const [key, seqs] of byKey) {
    assert.deepStrictEqual(seqs, [...seqs].sort((a, b) => a - b), `journal ${key} appended out of order`)
  }
}

/** After the scope closed: everything stopped, every instance not killed with its worker finalized. */
const assertAllStopped = (report: Simulation.Report<unknown, unknown>, killed: number) => {
  assert.isTrue(report.quiescent, "something was still running or scheduled after the program ended")
  const spawned = report.trace.filter((event) => event._tag === "Spawn" || event._tag === "Restart").length
  const exited = report.trace.filter((event) => event._tag === "Exit").length
  assert.strictEqual(exited, spawned, "the pool heard of every worker's exit")
  for (const pool of report.pools) {
    for (const worker of pool.workers) assert.notStrictEqual(worker.fate, "running", `worker ${worker.id} outlived its pool`)
  }
  const actors = new Set<number>()
  for (const event of report.trace) {
    if (event._tag === "ActorSpawn") actors.add(event.actor)
    if (event._tag === "ActorStopped") actors.delete(event.actor)
  }
  assert.strictEqual(actors.size, 0, `actors ${[...actors]} were never stopped`)
  const built = report.trace.filter((event) => event._tag === "ActorBuild").length
  const finalized = report.trace.filter((event) => event._tag === "ActorFinalized").length
  assert.strictEqual(finalized + killed, built, "an instance neither finalized nor killed with its worker")
  assert.strictEqual(ledger.instances - ledger.finalized.size <= killed, true, "an actor's own finalizer did not run")
}

/**
 * Each actor's restart bound. Actor ids are the host's, given in spawn order; the scripts start in
 * the order of their specs and spawn first thing, so actor `i` is spec `i`.
 */
const restartsOf = (actors: ReadonlyArray<ActorSpec>) => (actor: number) => actors[actor]?.maxRestarts ?? 0

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

describe("Simulation properties of actors", () => {
  it.effect.prop(
    "3. an actor handles its calls one at a time in the order they were made; a restarted actor never runs twice at once",
    cases,
    ({ seed, pool, actors, faults, hits }) =>
      Effect.map(simulate(workload(pool, actors), seed, [...faults, ...hits]), (report) =>
        Simulation.verify(report, ({ trace }) => {
          assertActorTrace(trace, restartsOf(actors))
          assertLedger()
        })),
    propOptions
  )

  it.effect.prop("every call to an actor ends exactly once, typed", cases, ({ seed, pool, actors, faults, hits }) => {
    const plan = [...faults, ...hits]
    return Effect.map(simulate(workload(pool, actors), seed, plan), (report) =>
      Simulation.verify(report, ({ exit, trace }) => {
        assertOutcomes(pool, actors, plan, exit as Exit.Exit<ReadonlyArray<ScriptResult>, unknown>)
        assertActorTrace(trace, restartsOf(actors))
      }))
  }, propOptions)

  it.effect.prop("5. after the scope closes every actor stopped, its finalizers ran, and no worker is left", {
    ...cases,
    ending: Schema.Literals(["success", "failure", "interruption"]),
    endAt: int(0, 60)
  }, ({ seed, pool, actors, faults, hits, ending, endAt }) => {
    const end = ending === "failure"
      ? Effect.andThen(Effect.sleep(endAt), Effect.fail("ended" as const))
      : ending === "interruption"
      ? Effect.andThen(Effect.sleep(endAt), Effect.interrupt)
      : Effect.never
    const program = Effect.raceFirst(Effect.forEach(actors, script, { concurrency: "unbounded" }), end).pipe(
      Effect.provide(poolLayer(pool))
    )
    return Effect.map(simulate(program, seed, [...faults, ...hits]), (report) =>
      Simulation.verify(report, (report) => assertAllStopped(report, assertActorTrace(report.trace, restartsOf(actors)))))
  }, propOptions)
})

// ---------------------------------------------------------------------------------------------
// Actors in the simulation
// ---------------------------------------------------------------------------------------------

const append = (seq: number, millis = 1) => ({ seq, millis, fail: "none" as const })

const failureOf = (exit: Exit.Exit<unknown, unknown>): unknown => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Cause.findErrorOption((exit as Exit.Failure<unknown, unknown>).cause)
  assert.strictEqual(error._tag, "Some")
  return (error as { value: unknown }).value
}

const actorEvents = (report: Simulation.Report<unknown, unknown>) =>
  report.trace.filter((event) => event._tag.startsWith("Actor")).map((event) => event._tag)

describe("Simulated actors", () => {
  it.effect("the trace tells an actor's life: asked for, placed, built, called, stopped, finalized", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const journal = yield* Actor.spawn(Journal, { key: 0, refuse: "never" })
        yield* journal.call("append", append(7))
        yield* Actor.stop(journal)
      }).pipe(Effect.provide(Simulation.layer(JournalTasks, { entry, size: 1 })))
      const report = yield* simulate(program, 1, [])
      assert.isTrue(Exit.isSuccess(report.exit))
      assert.deepStrictEqual(actorEvents(report), [
        "ActorSpawn",
        "ActorPlace",
        "ActorBuild",
        "ActorSpawned",
        "ActorCall",
        "ActorStart",
        "ActorFinish",
        "ActorAnswer",
        "ActorStop",
        "ActorFinalized",
        "ActorStopped"
      ])
      const call = report.trace.find((event) => event._tag === "ActorCall")
      assert.deepStrictEqual(call && { method: call.method, from: call.from }, { method: "append", from: -1 })
      assert.match(Simulation.formatTrace(report.trace), /ActorAnswer +actor=0 call=\d+ outcome="Success" worker=0/)
    }))

  it.effect("a crash fails the actor's calls in flight with WorkerLost; with no restart left the actor is dead", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const journal = yield* Actor.spawn(Journal, { key: 0, refuse: "never" }, { worker: 0 })
        const lost = yield* Effect.exit(journal.call("append", append(1)))
        const after = yield* Effect.exit(journal.call("append", append(2)))
        return [lost, after] as const
      }).pipe(Effect.provide(Simulation.layer(JournalTasks, { entry, size: 2 })))
      // Worker 0's first handler is the first append: it runs, then the worker dies before answering.
      const report = yield* simulate(program, 1, [{ _tag: "CrashOnTask", worker: 0, task: 0 }])
      assert.isTrue(Exit.isSuccess(report.exit))
      const [lost, after] = (report.exit as Exit.Success<readonly [Exit.Exit<number, unknown>, Exit.Exit<number, unknown>]>).value
      assert.instanceOf(reasonOf(failureOf(lost)), TaskError.WorkerLost)
      const dead = failureOf(after)
      assert.instanceOf(actorReasonOf(dead), ActorError.Unavailable)
      assert.strictEqual((actorReasonOf(dead) as ActorError.Unavailable).state, "Dead")
      assert.deepStrictEqual(ledger.appended.get(0), [1], "the lost call was handled: at most once, not exactly once")
      assert.include(actorEvents(report), "ActorDead")
    }))

  it.effect("with a restart policy the actor is rebuilt after its backoff, on virtual time, from fresh state; calls made meanwhile wait", () =>
    Effect.gen(function*() {
      const started = performance.now()
      const program = Effect.gen(function*() {
        const journal = yield* Actor.spawn(Journal, { key: 0, refuse: "never" }, {
          worker: 0,
          restart: { maxRestarts: 1, backoff: "10 minutes", maxBackoff: "1 hour" }
        })
        yield* journal.call("append", append(1))
        const lost = yield* Effect.exit(journal.call("append", append(2)))
        // Made during the backoff: delivered to the new instance.
        const peeked = yield* journal.call("peek", { millis: 0 })
        return [lost, peeked] as const
      }).pipe(Effect.provide(Simulation.layer(JournalTasks, { entry, size: 2 })))
      const report = yield* simulate(program, 4, [{ _tag: "CrashOnTask", worker: 0, task: 1 }])
      assert.isTrue(Exit.isSuccess(report.exit), String(report.exit))
      const [lost, peeked] = (report.exit as Exit.Success<readonly [Exit.Exit<number, unknown>, ReadonlyArray<number>]>).value
      assert.instanceOf(reasonOf(failureOf(lost)), TaskError.WorkerLost)
      assert.deepStrictEqual(peeked, [], "fresh state")
      const restart = report.trace.find((event) => event._tag === "ActorRestart")
      assert.strictEqual(restart?._tag === "ActorRestart" && restart.after, 600_000)
      const builds = report.trace.filter((event) => event._tag === "ActorBuild")
      assert.strictEqual(builds.length, 2)
      assert.isAtLeast(builds[1]!.at - restart!.at, 600_000)
      assert.isAtLeast(report.time, 600_000)
      assert.isBelow(performance.now() - started, 1_000)
      assertActorTrace(report.trace, () => 1)
    }))

  it.effect("restart backoffs double up to maxBackoff", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const journal = yield* Actor.spawn(Journal, { key: 0, refuse: "never" }, {
          restart: { maxRestarts: 10, backoff: "1 second", maxBackoff: "4 seconds" }
        })
        // Each worker dies at its first handler: every call is lost, and the actor rebuilt.
        for (let i = 0; i < 6; i++) yield* Effect.exit(journal.call("append", append(i)))
      }).pipe(Effect.provide(Simulation.layer(JournalTasks, { entry, size: 2 })))
      const faults: Simulation.FaultPlan = Array.from({ length: 12 }, (_, worker) => ({ _tag: "CrashOnTask", worker, task: 0 }))
      const report = yield* simulate(program, 3, faults)
      assert.isTrue(Exit.isSuccess(report.exit), String(report.exit))
      const delays = report.trace.flatMap((event) => event._tag === "ActorRestart" ? [event.after] : [])
      assert.deepStrictEqual(delays.slice(0, 5), [1_000, 2_000, 4_000, 4_000, 4_000])
    }))

  it.effect("a worker lost while an actor is being built fails its spawn with ActorInitError, or, with a restart left, builds it elsewhere", () =>
    Effect.gen(function*() {
      const spawn = (maxRestarts: number) =>
        Effect.exit(Actor.spawn(Journal, { key: 0, refuse: "never" }, { worker: 0, restart: { maxRestarts, backoff: "1 millis" } })).pipe(
          Effect.provide(Simulation.layer(JournalTasks, { entry, size: 2 }))
        )
      // Slow enough that the crash at 40 ms strikes while the constructor runs.
      const options = { seed: 2, latency: { min: 1, max: 1 }, work: { min: 100, max: 100 } }
      const faults: Simulation.FaultPlan = [{ _tag: "CrashAt", worker: 0, millis: 40 }]
      const failed = yield* Simulation.run(spawn(0), { ...options, faults })
      const error = failureOf((failed.exit as Exit.Success<Exit.Exit<unknown, unknown>>).value)
      assert.instanceOf(actorReasonOf(error), ActorError.InitFailed)
      assert.strictEqual((actorReasonOf(error) as ActorError.InitFailed).failure, "WorkerLost")
      const rebuilt = yield* Simulation.run(spawn(1), { ...options, faults })
      assert.isTrue(Exit.isSuccess((rebuilt.exit as Exit.Success<Exit.Exit<unknown, unknown>>).value))
      assert.deepStrictEqual(
        rebuilt.trace.filter((event) => event._tag === "ActorBuild").map((event) => event._tag === "ActorBuild" && event.worker),
        [0, 1]
      )
    }))

  it.effect("regression: a spawn whose constructor failed is never rebuilt when its worker dies later", () =>
    Effect.gen(function*() {
      // The host kept the failed actor's record on its worker; that worker's death then "restarted"
      // an actor nobody held, rebuilding it again and again.
      const program = Effect.gen(function*() {
        const refused = yield* Effect.exit(Actor.spawn(Journal, { key: 0, refuse: "always" }, {
          worker: 0,
          restart: { maxRestarts: 2, backoff: "1 millis" }
        }))
        yield* Effect.sleep("1 second")
        return refused
      }).pipe(Effect.provide(Simulation.layer(JournalTasks, { entry, size: 2 })))
      const report = yield* simulate(program, 1, [{ _tag: "CrashAt", worker: 0, millis: 200 }])
      assert.isTrue(Exit.isSuccess(report.exit))
      assert.instanceOf(failureOf((report.exit as Exit.Success<Exit.Exit<unknown, unknown>>).value), BuildRefused)
      assert.isTrue(report.trace.some((event) => event._tag === "Crash" && event.worker === 0))
      const events = actorEvents(report)
      assert.strictEqual(events.filter((tag) => tag === "ActorPlace").length, 1, `placed again: ${events}`)
      assert.notInclude(events, "ActorRestart")
      assert.include(events, "ActorStopped", "forgotten once its spawn failed")
      assert.strictEqual(ledger.instances, 1, "built once")
    }))

  it.effect("regression: a call waiting out an actor's restart backoff ends when the pool closes", () =>
    Effect.gen(function*() {
      // The host left an actor in its backoff untouched when the pool closed: its restart timer
      // outlived the pool, then found no worker, and the call waiting for it was never answered.
      const program = Effect.gen(function*() {
        const journal = yield* Actor.spawn(Journal, { key: 0, refuse: "never" }, {
          worker: 0,
          restart: { maxRestarts: 1, backoff: "30 seconds" }
        })
        yield* Effect.exit(journal.call("append", append(1)))
        // Outlives the pool's scope, waiting for the rebuilt instance.
        return yield* Effect.forkDetach(journal.call("peek", { millis: 0 }), { startImmediately: true })
      }).pipe(
        Effect.provide(Simulation.layer(JournalTasks, { entry, size: 2 })),
        Effect.flatMap(Fiber.await)
      )
      const report = yield* simulate(program, 1, [{ _tag: "CrashOnTask", worker: 0, task: 0 }])
      assert.isTrue(Exit.isSuccess(report.exit), String(report.exit))
      const waited = (report.exit as Exit.Success<Exit.Exit<unknown, unknown>>).value
      assert.instanceOf(actorReasonOf(failureOf(waited)), ActorError.Unavailable)
      assert.isBelow(report.time, 30_000, "the pool's close waited out the backoff")
      assert.strictEqual(ledger.instances, 1, "rebuilt after the pool closed")
    }))

  it.effect("regression: a call waiting for an actor's rebuild ends when the pool breaks", () =>
    Effect.gen(function*() {
      // The only worker dies and no replacement can start: the pool is broken. Its queued tasks
      // failed with PoolClosed, but the actor's rebuild waited for a worker forever, and so did
      // the call made meanwhile.
      const faults: Simulation.FaultPlan = [
        { _tag: "CrashOnTask", worker: 0, task: 0 },
        ...[1, 2, 3, 4, 5].map((worker) => ({ _tag: "CrashOnInit" as const, worker }))
      ]
      const program = Effect.gen(function*() {
        const journal = yield* Actor.spawn(Journal, { key: 0, refuse: "never" }, {
          restart: { maxRestarts: 1, backoff: "1 millis" }
        })
        yield* Effect.exit(journal.call("append", append(1)))
        const waited = yield* Effect.exit(journal.call("peek", { millis: 0 }))
        // And a spawn on the broken pool fails rather than waits.
        const spawned = yield* Effect.exit(Actor.spawn(Journal, { key: 1, refuse: "never" }))
        return [waited, spawned] as const
      }).pipe(Effect.provide(Simulation.layer(JournalTasks, { entry, size: 1 })))
      const report = yield* simulate(program, 1, faults)
      assert.isTrue(Exit.isSuccess(report.exit), String(report.exit))
      const [waited, spawned] = (report.exit as Exit.Success<readonly [Exit.Exit<unknown, unknown>, Exit.Exit<unknown, unknown>]>).value
      assert.instanceOf(actorReasonOf(failureOf(waited)), ActorError.Unavailable)
      const refused = actorReasonOf(failureOf(spawned))
      assert.instanceOf(refused, ActorError.InitFailed)
      assert.strictEqual((refused as ActorError.InitFailed).failure, "PoolClosed")
      assert.include(refused.message, "no replacement worker could be started")
    }))

  it.effect("regression: a spawn pinned to a position that is not an integer fails instead of waiting forever", () =>
    Effect.gen(function*() {
      // `worker: 0.5` picked `ready[0.5]`, no worker: the actor waited to be placed forever.
      const program = Effect.gen(function*() {
        const fractional = yield* Effect.exit(Actor.spawn(Journal, { key: 0, refuse: "never" }, { worker: 0.5 }))
        const notANumber = yield* Effect.exit(Actor.spawn(Journal, { key: 1, refuse: "never" }, { worker: Number.NaN }))
        const negative = yield* Actor.spawn(Journal, { key: 2, refuse: "never" }, { worker: -1 })
        return [fractional, notANumber, yield* negative.call("append", append(1))] as const
      }).pipe(Effect.provide(Simulation.layer(JournalTasks, { entry, size: 2 })))
      const report = yield* simulate(program, 1, [])
      assert.isTrue(Exit.isSuccess(report.exit), String(report.exit))
      const [fractional, notANumber, appended] = (report.exit as Exit.Success<readonly [Exit.Exit<unknown, unknown>, Exit.Exit<unknown, unknown>, number]>).value
      for (const exit of [fractional, notANumber]) {
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), String(exit))
        assert.include(Cause.pretty((exit as Exit.Failure<unknown, unknown>).cause), "worker")
      }
      assert.strictEqual(appended, 1, "a negative position counts from the end")
    }))

  it.effect("regression: a task calls an actor whose name holds a dot", () =>
    Effect.gen(function*() {
      // Asks named the method by cutting the task name at its first dot: "ns.Tally.add" → "Tally.add".
      const program = Effect.gen(function*() {
        const tally = yield* Actor.spawn(Dotted, {})
        yield* Task.run(Tally, { tally, n: 2 })
        return yield* Task.run(Tally, { tally, n: 3 })
      }).pipe(Effect.provide(Simulation.layer(JournalTasks, { entry, size: 2 })))
      const report = yield* simulate(program, 1, [])
      assert.deepStrictEqual(report.exit, Exit.succeed(5))
    }))

  it.effect("the same seed and fault plan replay the same actor schedule", () =>
    Effect.gen(function*() {
      const actors: ReadonlyArray<ActorSpec> = [0, 1].map((key) => ({
        refuse: 5,
        maxRestarts: 1,
        backoff: 5,
        scoped: key === 0,
        calls: Array.from({ length: 6 }, (_, i) => ({ kind: (i * 3 + key) % 10, millis: i, fail: 5, gap: i % 2 }))
      }))
      const faults: Simulation.FaultPlan = [{ _tag: "CrashAt", worker: 1, millis: 12 }]
      const traces = new Set<string>()
      for (let seed = 0; seed < 8; seed++) {
        const first = yield* simulate(workload({ size: 2 }, actors), seed, faults)
        const again = yield* simulate(workload({ size: 2 }, actors), seed, faults)
        assert.deepStrictEqual(again.trace, first.trace)
        traces.add(Simulation.formatTrace(first.trace))
      }
      assert.isAbove(traces.size, 4, "different seeds, different schedules")
    }))
})
