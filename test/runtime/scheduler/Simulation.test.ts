/**
 * The scheduler's invariants, as properties of simulated runs: generated workloads on tiny pools
 * with tiny capacities, generated fault plans, generated seeds. Each property runs `runs` cases;
 * a failing case prints its seed and fault plan (`Simulation.verify`) and the shrunk input.
 *
 * Also: what each kind of fault does, virtual time, replay, and how a stuck run is reported.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { PoolError, Simulation, Task, TaskError, WorkerPool } from "../../../src/index.ts"
import entry, { Echo, ledger, Refused, SimTasks } from "../../fixtures/simulation.ts"
import { errorTag, poolReasonOf, reasonOf } from "../../support/backends.ts"

/** Cases per property: the invariants are claimed for at least 1,000 generated runs; raise it to search harder. */
const runs = Number(process.env.SIMULATION_RUNS ?? 1_000)
const propOptions = { timeout: 240_000, arbitrary: { runs } }

// ---------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------

const int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/** `fail`: 0 → the declared error, 1 → a defect, otherwise success. */
const Input = Schema.Struct({ n: int(0, 99), millis: int(0, 20), fail: int(0, 9) })
type Input = typeof Input.Type

const Job = Schema.Struct({
  kind: Schema.Literals(["run", "map", "unordered"]),
  inputs: Schema.Array(Input).check(Schema.isMinLength(1), Schema.isMaxLength(6)),
  chunkSize: int(1, 3),
  /** Per-task timeout in ms. */
  timeout: Schema.optionalKey(int(1, 30)),
  /** Interrupt the job's caller after this many ms. */
  interruptAt: Schema.optionalKey(int(0, 40))
})
type Job = typeof Job.Type

const PoolConfig = Schema.Struct({
  size: int(1, 3),
  pipelineDepth: int(1, 3),
  retries: int(0, 2),
  /** Tiny, so workers slower to stop than this are terminated (the backstop and cancel paths). */
  interruptGrace: Schema.optionalKey(int(1, 10)),
  /** Recycling (the Dispatcher's rule 11) under the same faults: tiny quotas, so it happens often. */
  maxTasksPerWorker: Schema.optionalKey(int(1, 4))
})
type PoolConfig = typeof PoolConfig.Type

const Jobs = Schema.Array(Job).check(Schema.isMinLength(1), Schema.isMaxLength(4))

const cases = {
  seed: Schema.Int,
  pool: PoolConfig,
  jobs: Jobs,
  faults: Simulation.faultPlan({ workers: 6, tasks: 6, millis: 40 })
}

const payload = (input: Input) => ({
  n: input.n,
  millis: input.millis,
  fail: input.fail === 0 ? "error" as const : input.fail === 1 ? "defect" as const : "none" as const
})

type Outcome = Exit.Exit<unknown, unknown>

/** Runs a job as its caller would; a `run` job answers one Exit per input. */
const runJob = (job: Job): Effect.Effect<Outcome, never, Task.Runner<"Echo">> => {
  const options = { chunkSize: job.chunkSize, ...(job.timeout !== undefined ? { timeout: Duration.millis(job.timeout) } : {}) }
  const inputs = job.inputs.map(payload)
  const body: Effect.Effect<unknown, unknown, Task.Runner<"Echo">> = job.kind === "run"
    ? Effect.all(inputs.map((input) => Effect.exit(Task.run(Echo, input, options))), { concurrency: "unbounded" })
    : job.kind === "map"
    ? Task.map(Echo, inputs, options)
    : Task.mapUnordered(Echo, inputs, options)
  return Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(body)
    if (job.interruptAt !== undefined) yield* Effect.forkChild(Effect.andThen(Effect.sleep(job.interruptAt), Fiber.interrupt(fiber)))
    return yield* Fiber.await(fiber)
  })
}

const poolLayer = (pool: PoolConfig) => Simulation.layer(SimTasks, { entry, ...pool })

const workload = (pool: PoolConfig, jobs: ReadonlyArray<Job>) =>
  Effect.all(jobs.map(runJob), { concurrency: "unbounded" }).pipe(Effect.provide(poolLayer(pool)))

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
const expectations = (pool: PoolConfig, faults: Simulation.FaultPlan) => ({
  // Crashed, or terminated for not stopping within a tiny interrupt grace: their tasks are lost.
  workersDie: faults.some((fault) => crashKinds.has(fault._tag)) || pool.interruptGrace !== undefined,
  corrupts: faults.some((fault) => fault._tag === "CorruptPayload"),
  // A first worker that never gets ready fails the pool's construction.
  startCanFail: faults.some((fault) =>
    "worker" in fault && fault.worker < pool.size &&
    (fault._tag === "CrashOnInit" || fault._tag === "HangOnInit" || fault._tag === "CrashAt")
  )
})

/** The error tags an input may legitimately end with. */
const allowedErrors = (input: Input, job: Job, expected: ReturnType<typeof expectations>): Set<string> => {
  const tags = new Set<string>()
  if (input.fail === 0) tags.add("Refused")
  if (input.fail === 1) tags.add("Defect")
  if (expected.workersDie) tags.add("WorkerLost")
  if (job.timeout !== undefined) tags.add("Timeout")
  if (expected.corrupts) tags.add("PayloadInvalid")
  return tags
}

/** A failed Exit is a typed error from `allowed`, or an interruption the job asked for. */
const assertTypedFailure = (
  exit: Exit.Failure<unknown, unknown>,
  allowed: Set<string>,
  interruptible: boolean,
  inputs: ReadonlyArray<Input>
) => {
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "None") {
    assert.isFalse(Cause.hasDies(exit.cause), `a defect escaped as a die: ${Cause.pretty(exit.cause)}`)
    assert.isTrue(interruptible && Cause.hasInterruptsOnly(exit.cause), `unexpected interruption: ${Cause.pretty(exit.cause)}`)
    return
  }
  const tag = errorTag(error.value)
  assert.isTrue(allowed.has(tag), `unexpected ${tag} (allowed: ${[...allowed].join(", ") || "none"})`)
  const refused = error.value
  if (refused instanceof Refused) {
    assert.isTrue(inputs.some((input) => input.fail === 0 && input.n === refused.n), "Refused carries its own input")
  }
}

/** Invariants 1 and 2 over what each caller got. */
const assertOutcomes = (pool: PoolConfig, jobs: ReadonlyArray<Job>, faults: Simulation.FaultPlan, exit: Outcome) => {
  const expected = expectations(pool, faults)
  if (Exit.isFailure(exit)) {
    const error = Cause.findErrorOption(exit.cause)
    assert.isTrue(
      expected.startCanFail && error._tag === "Some" && errorTag(error.value) === "WorkerInitFailed",
      `the program failed: ${Cause.pretty(exit.cause)}`
    )
    return
  }
  const outcomes = exit.value as ReadonlyArray<Outcome>
  jobs.forEach((job, j) => {
    const outcome = outcomes[j]!
    if (job.kind === "run" && Exit.isSuccess(outcome)) {
      ;(outcome.value as ReadonlyArray<Outcome>).forEach((one, i) => {
        const input = job.inputs[i]!
        if (Exit.isSuccess(one)) {
          assert.isTrue(input.fail > 1, `run ${j}/${i} succeeded over a failing input`)
          assert.strictEqual(one.value, input.n, `run ${j}/${i} answered another task's result`)
        } else {
          assertTypedFailure(one, allowedErrors(input, job, expected), job.interruptAt !== undefined, [input])
        }
      })
      return
    }
    if (Exit.isSuccess(outcome)) {
      assert.isTrue(job.inputs.every((input) => input.fail > 1), `job ${j} succeeded over failing inputs`)
      const values = outcome.value as ReadonlyArray<number>
      const wanted = job.inputs.map((input) => input.n)
      if (job.kind === "map") assert.deepStrictEqual(values, wanted, `map ${j} lost input order`)
      else assert.deepStrictEqual([...values].sort(byNumber), [...wanted].sort(byNumber), `unordered map ${j}`)
      return
    }
    const allowed = new Set(job.inputs.flatMap((input) => [...allowedErrors(input, job, expected)]))
    assertTypedFailure(outcome, allowed, job.interruptAt !== undefined, job.inputs)
  })
}

/**
 * Invariant 1 as the pool saw it: each task answered and settled at most once, exactly once unless
 * cancelled; its handler run at most `retries + 1` times; sent again beyond that only when a dead
 * worker had never started it (the Dispatcher's rule 7).
 */
const assertSettledOnce = (trace: ReadonlyArray<Simulation.Event>, retries: number) => {
  const settled = new Map<string, number>()
  const sent = new Map<string, number>()
  const started = new Map<string, number>()
  const neverStarted = new Map<string, number>()
  const keyOfWire = new Map<number, string>()
  const cancelled = new Set<number>()
  const replied = new Set<string>()
  const bump = (counts: Map<string, number>, key: string) => counts.set(key, (counts.get(key) ?? 0) + 1)
  for (const event of trace) {
    if (event._tag === "Cancel") cancelled.add(event.submission)
    if (event._tag === "Reply") {
      // The worker's rule 2: every task it received is answered once.
      const key = `${event.pool}/${event.task}`
      assert.isFalse(replied.has(key), `task ${key} answered twice`)
      replied.add(key)
    }
    if (event._tag === "Settle") {
      const key = `${event.submission}#${event.index}`
      bump(settled, key)
      assert.isAtMost(event.attempts, retries + 1, `task ${key} was sent more often than its retries allow`)
    }
    if (event._tag === "Dispatch") {
      for (const task of event.tasks) {
        const key = `${task.submission}#${task.index}`
        keyOfWire.set(task.id, key)
        bump(sent, key)
      }
    }
    if (event._tag === "Start") bump(started, keyOfWire.get(event.task)!)
    if (event._tag === "Requeue" && event.why === "NotStarted") bump(neverStarted, `${event.submission}#${event.index}`)
  }
  for (const [key, count] of started) assert.isAtMost(count, retries + 1, `task ${key} ran ${count} times`)
  for (const [key, count] of sent) {
    assert.isAtMost(count, retries + 1 + (neverStarted.get(key) ?? 0), `task ${key} dispatched ${count} times`)
  }
  for (const event of trace) {
    if (event._tag !== "Submit") continue
    for (let index = 0; index < event.count; index++) {
      const count = settled.get(`${event.submission}#${index}`) ?? 0
      assert.isAtMost(count, 1, `task ${event.submission}#${index} settled ${count} times`)
      if (!cancelled.has(event.submission)) {
        assert.strictEqual(count, 1, `task ${event.submission}#${index} was never settled, nor cancelled`)
      }
    }
  }
}

/** Rule 11: no worker is sent more than its quota of tasks (this group has no actors to keep one). */
const assertQuota = (trace: ReadonlyArray<Simulation.Event>, quota: number | undefined) => {
  if (quota === undefined) return
  const sent = new Map<string, number>()
  for (const event of trace) {
    if (event._tag !== "Dispatch") continue
    const key = `${event.pool}/${event.worker}`
    const count = (sent.get(key) ?? 0) + event.tasks.length
    sent.set(key, count)
    assert.isAtMost(count, quota, `worker ${key} was sent more tasks than maxTasksPerWorker`)
  }
}

/** Invariant 5: every worker stopped; every one that stopped gracefully ran its exit hooks and released what its handlers held. */
const assertAllStopped = (report: Simulation.Report<unknown, unknown>) => {
  assert.isTrue(report.quiescent, "something was still running or scheduled after the program ended")
  const spawned = report.trace.filter((event) => event._tag === "Spawn" || event._tag === "Restart").length
  const exited = report.trace.filter((event) => event._tag === "Exit").length
  assert.strictEqual(exited, spawned, "the pool heard of every worker's exit")
  for (const pool of report.pools) {
    for (const worker of pool.workers) {
      assert.notStrictEqual(worker.fate, "running", `worker ${worker.id} outlived its pool`)
      if (worker.fate !== "exited") continue
      assert.isTrue(worker.finalized, `worker ${worker.id} exited without finishing its exit hooks`)
      assert.isTrue(ledger.exitHooks.has(worker.id), `worker ${worker.id}'s exit hook did not run`)
      assert.strictEqual(
        ledger.released.get(worker.id) ?? 0,
        ledger.acquired.get(worker.id) ?? 0,
        `worker ${worker.id}'s handlers left a resource unreleased`
      )
    }
  }
}

const byNumber = (a: number, b: number) => a - b

/** An Exit (and the Exits inside a `run` job's value) as text without fiber ids, which differ between runs. */
const render = (exit: Outcome): string => {
  if (Exit.isSuccess(exit)) {
    const value = exit.value
    return Array.isArray(value) ? `[${value.map((v) => Exit.isExit(v) ? render(v) : JSON.stringify(v)).join(", ")}]` : JSON.stringify(value)
  }
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "Some") return `fail ${JSON.stringify(error.value)}`
  return Cause.hasDies(exit.cause) ? "die" : "interrupt"
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

describe("Simulation properties", () => {
  it.effect.prop("1. every submitted task ends exactly once, typed; retries stay within their bound", cases, ({ seed, pool, jobs, faults }) =>
    Effect.map(simulate(workload(pool, jobs), seed, faults), (report) =>
      Simulation.verify(report, ({ exit, trace }) => {
        assertOutcomes(pool, jobs, faults, exit)
        assertSettledOnce(trace, pool.retries)
        assertQuota(trace, pool.maxTasksPerWorker)
      })), propOptions)

  it.effect.prop("2. map keeps input order and unordered map returns every result once", {
    seed: Schema.Int,
    pool: PoolConfig,
    inputs: Schema.Array(int(0, 1_000)).check(Schema.isMinLength(1), Schema.isMaxLength(24)),
    chunkSize: int(1, 5),
    faults: Simulation.faultPlan({ workers: 6, tasks: 24, millis: 40, kinds: ["Slow", "CrashOnTask", "CrashAt"] })
  }, ({ seed, pool, inputs, chunkSize, faults }) => {
    const payloads = inputs.map((n, i) => ({ n, millis: (n * 7 + i) % 13, fail: "none" as const }))
    const program = Effect.all([
      Effect.exit(Task.map(Echo, payloads, { chunkSize })),
      Effect.exit(Task.mapUnordered(Echo, payloads, { chunkSize }))
    ], { concurrency: "unbounded" }).pipe(Effect.provide(poolLayer({ ...pool, retries: 3 })))
    return Effect.map(simulate(program, seed, faults), (report) =>
      Simulation.verify(report, ({ exit }) => {
        if (Exit.isFailure(exit)) {
          assert.isTrue(expectations(pool, faults).startCanFail, `the program failed: ${Cause.pretty(exit.cause)}`)
          return
        }
        const [ordered, unordered] = exit.value
        // Up to 4 crashes, 3 retries each: a task is lost only if one task takes every crash.
        if (Exit.isSuccess(ordered)) assert.deepStrictEqual(ordered.value, inputs)
        else assertTypedFailure(ordered, new Set(["WorkerLost"]), false, [])
        if (Exit.isSuccess(unordered)) assert.deepStrictEqual([...unordered.value].sort(byNumber), [...inputs].sort(byNumber))
        else assertTypedFailure(unordered, new Set(["WorkerLost"]), false, [])
      }))
  }, propOptions)

  it.effect("4a. a crashed replacement of a retiring worker shares the pipeline the retiring one still holds", () =>
    // Found by property 4 (seed -13): worker 0 retires after its quota holding its last task; its
    // replacement (worker 1) dies at once, and worker 1's replacement took a full pipeline of its
    // own while worker 0 still held its task: two tasks in flight on a pool bounded at one.
    Effect.forEach([-13, 1, 2, 3, 4, 5, 6, 7], (seed) => {
      const pool = { size: 1, pipelineDepth: 1, retries: 0, maxTasksPerWorker: 3 }
      const inputs = Array.from({ length: 6 }, (_, n) => ({ n, millis: 20, fail: 9 }))
      const jobs: ReadonlyArray<Job> = [{ kind: "map", inputs, chunkSize: 1 }]
      return Effect.map(simulate(workload(pool, jobs), seed, [{ _tag: "CrashAt", worker: 1, millis: 2, pool: 0 }]), (report) =>
        Simulation.verify(report, ({ pools }) => {
          for (const summary of pools) assert.isAtMost(summary.maxTasksInFlight, 1, `seed ${seed}: more tasks in flight than the bound`)
        }))
    }, { discard: true }))

  it.effect.prop("4. in-flight work never exceeds the configured bound", cases, ({ seed, pool, jobs, faults }) =>
    Effect.map(simulate(workload(pool, jobs), seed, faults), (report) =>
      Simulation.verify(report, ({ trace, pools }) => {
        const chunkOf = new Map<number, number>()
        let largest = 1
        for (const event of trace) {
          if (event._tag === "Submit") chunkOf.set(event.submission, event.chunkSize)
          if (event._tag !== "Dispatch") continue
          // Rule 1: a message holds tasks of one chunk size, at most that many (single tasks coalesce up to 256).
          const chunk = chunkOf.get(event.tasks[0]!.submission)!
          const allowed = chunk === 1 ? 256 : chunk
          assert.isAtMost(event.tasks.length, allowed, "a message holds more tasks than its chunk size")
          for (const task of event.tasks) {
            assert.strictEqual(chunkOf.get(task.submission), chunk, "tasks of different chunk sizes share a message")
          }
          largest = Math.max(largest, allowed)
        }
        for (const summary of pools) {
          assert.isAtMost(summary.maxOutstandingMessages, summary.pipelineDepth, "a worker held more messages than pipelineDepth")
          assert.isAtMost(summary.maxTasksInFlight, summary.size * summary.pipelineDepth * largest, "more tasks in flight than the bound")
        }
      })), propOptions)

  it.effect.prop("5. after the scope closes — success, failure or interruption — every worker is stopped and every finalizer ran", {
    ...cases,
    ending: Schema.Literals(["success", "failure", "interruption"]),
    endAt: int(0, 60)
  }, ({ seed, pool, jobs, faults, ending, endAt }) => {
    let acquired = false
    let released = false
    const end = ending === "failure"
      ? Effect.andThen(Effect.sleep(endAt), Effect.fail("ended" as const))
      : ending === "interruption"
      ? Effect.andThen(Effect.sleep(endAt), Effect.interrupt)
      : Effect.never
    const program = Effect.gen(function*() {
      yield* Effect.acquireRelease(Effect.sync(() => void (acquired = true)), () => Effect.sync(() => void (released = true)))
      return yield* Effect.raceFirst(Effect.all(jobs.map(runJob), { concurrency: "unbounded" }), end)
    }).pipe(Effect.provide(poolLayer(pool)))
    return Effect.map(simulate(program, seed, faults), (report) =>
      Simulation.verify(report, (report) => {
        assert.strictEqual(released, acquired, "the program's own finalizer ran")
        assertAllStopped(report)
      }))
  }, propOptions)

  it.effect.prop("6. the same seed gives the same schedule and the same result", cases, ({ seed, pool, jobs, faults }) =>
    Effect.gen(function*() {
      const first = yield* simulate(workload(pool, jobs), seed, faults)
      const second = yield* simulate(workload(pool, jobs), seed, faults)
      Simulation.verify(first, () => {
        assert.deepStrictEqual(second.trace, first.trace)
        assert.strictEqual(render(second.exit), render(first.exit))
        assert.deepStrictEqual(second.pools, first.pools)
        assert.strictEqual(second.steps, first.steps)
      })
    }), propOptions)

  it.effect.prop("answers leave their worker within flushAfterMillis of their handler finishing", cases, ({ seed, pool, jobs, faults }) =>
    Effect.map(simulate(workload(pool, jobs), seed, faults), (report) =>
      Simulation.verify(report, ({ trace }) => {
        const slowness = (worker: number) =>
          faults.reduce((factor, fault) => fault._tag === "Slow" && fault.worker === worker ? Math.max(factor, fault.factor) : factor, 1)
        const finished = new Map<number, number>()
        for (const event of trace) {
          if (event._tag === "Finish") finished.set(event.task, event.at)
          if (event._tag !== "Reply" || !finished.has(event.task)) continue
          // The protocol: results go out once the oldest unsent one is 10 ms old; then the message's latency.
          const bound = 10 + latency.max * slowness(event.worker)
          assert.isAtMost(event.at - finished.get(event.task)!, bound, `task ${event.task}'s answer was held back`)
        }
      })), propOptions)

  it.effect.prop("rule 5: a worker that dies while the pool is open is replaced", cases, ({ seed, pool, jobs, faults }) => {
    const program = Effect.gen(function*() {
      yield* Effect.all(jobs.map(runJob), { concurrency: "unbounded" })
      // Longer than the init timeouts and respawn backoffs the plan can cause; then look at the pool.
      yield* Effect.sleep("30 seconds")
      // Only its Submit matters: the plan may corrupt it.
      return yield* Effect.exit(Task.run(Echo, { n: 1, millis: 0, fail: "none" }))
    }).pipe(Effect.provide(Simulation.layer(SimTasks, { entry, ...pool, initTimeout: "1 second" })))
    return Effect.map(simulate(program, seed, faults), (report) =>
      Simulation.verify(report, ({ exit, trace }) => {
        if (Exit.isFailure(exit)) {
          assert.isTrue(expectations(pool, faults).startCanFail, `the program failed: ${Cause.pretty(exit.cause)}`)
          return
        }
        const probe = trace.findLastIndex((event) => event._tag === "Submit")
        let alive = 0
        for (const event of trace.slice(0, probe)) {
          if (event._tag === "Spawn" || event._tag === "Restart") alive++
          if (event._tag === "Exit") alive--
        }
        assert.strictEqual(alive, pool.size, "the pool is not back to its size")
      }))
  }, propOptions)
})

// ---------------------------------------------------------------------------------------------
// The simulation itself
// ---------------------------------------------------------------------------------------------

const one = (n: number, millis = 1) => ({ n, millis, fail: "none" as const })

const failureOf = (exit: Outcome): unknown => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Cause.findErrorOption((exit as Exit.Failure<unknown, unknown>).cause)
  assert.strictEqual(error._tag, "Some")
  return (error as { value: unknown }).value
}

const tags = (report: Simulation.Report<unknown, unknown>) => report.trace.map((event) => event._tag)

describe("Simulation", () => {
  it.effect("time is virtual: half an hour of handler time takes no real time", () =>
    Effect.gen(function*() {
      const started = performance.now()
      const report = yield* simulate(
        Task.map(Echo, [one(1, 1_800_000), one(2, 1_800_000)]).pipe(Effect.provide(poolLayer({ size: 2, pipelineDepth: 2, retries: 0 }))),
        1,
        []
      )
      assert.deepStrictEqual(report.exit, Exit.succeed([1, 2]))
      assert.isAtLeast(report.time, 1_800_000)
      assert.isBelow(performance.now() - started, 1_000)
    }))

  it.effect("CrashOnInit: a first worker that dies before its ready handshake fails the pool's construction", () =>
    Effect.gen(function*() {
      const report = yield* simulate(Task.run(Echo, one(1)).pipe(Effect.provide(poolLayer({ size: 1, pipelineDepth: 1, retries: 0 }))), 1, [
        { _tag: "CrashOnInit", worker: 0 }
      ])
      assert.instanceOf(poolReasonOf(failureOf(report.exit)), PoolError.WorkerInitFailed)
      assert.deepStrictEqual(tags(report).filter((tag) => tag === "Crash" || tag === "Ready"), ["Crash"])
      assert.strictEqual(report.pools[0]!.workers[0]!.fate, "crashed")
    }))

  it.effect("HangOnInit: a worker that never gets ready is cut off by initTimeout and terminated", () =>
    Effect.gen(function*() {
      const report = yield* simulate(
        Task.run(Echo, one(1)).pipe(Effect.provide(Simulation.layer(SimTasks, { entry, size: 1, initTimeout: "2 seconds" }))),
        1,
        [{ _tag: "HangOnInit", worker: 0 }]
      )
      const error = failureOf(report.exit)
      assert.instanceOf(poolReasonOf(error), PoolError.WorkerInitFailed)
      assert.strictEqual((poolReasonOf(error) as PoolError.WorkerInitFailed).failure, "Timeout")
      const terminated = report.trace.find((event) => event._tag === "Terminate")
      assert.strictEqual(terminated?.at, 2_000)
      assert.strictEqual(report.pools[0]!.workers[0]!.fate, "terminated")
    }))

  it.effect("CrashOnTask: the worker dies after running the handler; without retries the task is lost, with one it is re-sent", () =>
    Effect.gen(function*() {
      const faults: Simulation.FaultPlan = [{ _tag: "CrashOnTask", worker: 0, task: 1 }]
      const inputs = [one(1), one(2), one(3)]
      const lost = yield* simulate(Task.map(Echo, inputs, { chunkSize: 1 }).pipe(Effect.provide(poolLayer({ size: 1, pipelineDepth: 1, retries: 0 }))), 3, faults)
      const error = failureOf(lost.exit)
      assert.instanceOf(reasonOf(error), TaskError.WorkerLost)
      assert.strictEqual((error as TaskError.TaskError).attempts, 1)
      assert.include(reasonOf(error).message, "CrashOnTask")
      assert.strictEqual(lost.trace.filter((event) => event._tag === "Start" && event.worker === 0).length, 2, "it ran its second handler, then died")
      const retried = yield* simulate(Task.map(Echo, inputs, { chunkSize: 1 }).pipe(Effect.provide(poolLayer({ size: 1, pipelineDepth: 1, retries: 1 }))), 3, faults)
      assert.deepStrictEqual(retried.exit, Exit.succeed([1, 2, 3]))
      assert.isTrue(retried.trace.some((event) => event._tag === "Settle" && event.index === 1 && event.attempts === 2 && event.worker === 1))
    }))

  it.effect("CrashAt: the worker dies at its time, whatever it is doing, and is replaced", () =>
    Effect.gen(function*() {
      const report = yield* simulate(
        Effect.all([Effect.exit(Task.run(Echo, one(1, 500))), Effect.andThen(Effect.sleep("1 second"), Task.run(Echo, one(2)))]).pipe(
          Effect.provide(poolLayer({ size: 1, pipelineDepth: 1, retries: 0 }))
        ),
        1,
        [{ _tag: "CrashAt", worker: 0, millis: 100 }]
      )
      assert.isTrue(Exit.isSuccess(report.exit))
      const [first, second] = (report.exit as Exit.Success<[Outcome, number]>).value
      assert.instanceOf(reasonOf(failureOf(first)), TaskError.WorkerLost)
      assert.strictEqual(second, 2)
      assert.strictEqual(report.trace.find((event) => event._tag === "Crash")?.at, 100)
      assert.isTrue(report.trace.some((event) => event._tag === "Restart" && event.worker === 1))
    }))

  it.effect("CrashOnExit: a worker that dies in its exit hooks still lets the pool close", () =>
    Effect.gen(function*() {
      const report = yield* simulate(Task.run(Echo, one(1)).pipe(Effect.provide(poolLayer({ size: 2, pipelineDepth: 1, retries: 0 }))), 1, [
        { _tag: "CrashOnExit", worker: 0 }
      ])
      assert.deepStrictEqual(report.exit, Exit.succeed(1))
      assert.deepStrictEqual(report.pools[0]!.workers.map(({ fate, finalized }) => ({ fate, finalized })), [
        { fate: "crashed", finalized: false },
        { fate: "exited", finalized: true }
      ])
      assert.isTrue(report.quiescent)
    }))

  it.effect("Slow: a slow worker's messages and tasks take longer", () =>
    Effect.gen(function*() {
      const program = Task.map(Echo, Array.from({ length: 8 }, (_, i) => one(i, 5)), { chunkSize: 1 }).pipe(
        Effect.provide(poolLayer({ size: 1, pipelineDepth: 1, retries: 0 }))
      )
      const normal = yield* simulate(program, 9, [])
      const slow = yield* simulate(program, 9, [{ _tag: "Slow", worker: 0, factor: 10 }])
      assert.deepStrictEqual(slow.exit, normal.exit)
      assert.isAbove(slow.time, normal.time * 3)
    }))

  it.effect("CorruptPayload: the task's payload fails to decode in the worker", () =>
    Effect.gen(function*() {
      const report = yield* simulate(
        Task.map(Echo, [one(1), one(2)], { chunkSize: 1 }).pipe(Effect.provide(poolLayer({ size: 1, pipelineDepth: 2, retries: 0 }))),
        1,
        [{ _tag: "CorruptPayload", task: 1 }]
      )
      const error = failureOf(report.exit)
      assert.instanceOf(reasonOf(error), TaskError.PayloadInvalid)
      assert.strictEqual((error as TaskError.TaskError).workerId, 0)
      assert.isTrue(report.trace.some((event) => event._tag === "Corrupt" && event.task === 1))
    }))

  it.effect("faults name their pool: a plan for pool 1 leaves pool 0 alone", () =>
    Effect.gen(function*() {
      const Other = Simulation.layer(SimTasks, { entry, size: 1 })
      const program = Effect.gen(function*() {
        const first = yield* Effect.exit(Task.run(Echo, one(1)))
        const second = yield* Effect.exit(Task.run(Echo, one(2)).pipe(Effect.provide(Other)))
        return [first, second]
      }).pipe(Effect.provide(poolLayer({ size: 1, pipelineDepth: 1, retries: 0 })))
      const report = yield* simulate(program, 1, [{ _tag: "CorruptPayload", task: 0, pool: 1 }])
      const [first, second] = (report.exit as unknown as Exit.Success<ReadonlyArray<Outcome>>).value
      assert.deepStrictEqual(first, Exit.succeed(1))
      assert.instanceOf(reasonOf(failureOf(second!)), TaskError.PayloadInvalid)
      assert.deepStrictEqual(report.pools.map((pool) => pool.pool), [0, 1])
    }))

  it.effect("seeds change the schedule; a seed replays it", () =>
    Effect.gen(function*() {
      const program = Task.map(Echo, Array.from({ length: 6 }, (_, i) => one(i, i)), { chunkSize: 1 }).pipe(
        Effect.provide(poolLayer({ size: 3, pipelineDepth: 2, retries: 0 }))
      )
      const traces = new Set<string>()
      for (let seed = 0; seed < 10; seed++) {
        const first = yield* simulate(program, seed, [])
        const again = yield* simulate(program, seed, [])
        assert.deepStrictEqual(again.trace, first.trace)
        traces.add(Simulation.formatTrace(first.trace))
      }
      assert.isAbove(traces.size, 5, "different seeds, different schedules")
    }))

  it.effect("a program that can never finish is reported as a deadlock, not a hang", () =>
    Effect.gen(function*() {
      const report = yield* simulate(Effect.andThen(Task.run(Echo, one(1)), Effect.never).pipe(Effect.provide(poolLayer({ size: 1, pipelineDepth: 1, retries: 0 }))), 1, [])
      const error = failureOf(report.exit)
      assert.instanceOf(error, Simulation.SimulationError)
      assert.strictEqual((error as Simulation.SimulationError).reason, "Deadlock")
      assert.throws(() => Simulation.verify(report), /replay with Simulation.run\(program, \{ seed: 1, faults: \[\], latency: \{"min":0,"max":3\}, work: \{"min":0,"max":4\} \}\)/)
    }))

  it.effect("a run that never rests stops at its step limit", () =>
    Effect.gen(function*() {
      const report = yield* Simulation.run(Effect.forever(Effect.yieldNow), { seed: 1, maxSteps: 500 })
      assert.strictEqual((failureOf(report.exit) as Simulation.SimulationError).reason, "StepLimit")
      assert.strictEqual(report.steps, 500)
    }))

  it.effect("run options that are no limit or range die with a RangeError naming the option", () =>
    Effect.gen(function*() {
      // Was: maxSteps NaN never stopped a run that never rests (steps >= NaN is false): it spun
      // for good; maxTime NaN was read as 0, and a NaN or negative latency put events at NaN or
      // in the past.
      const cases: Array<[Partial<Simulation.RunOptions>, string]> = [
        [{ maxSteps: Number.NaN }, "maxSteps"],
        [{ maxSteps: 0 }, "maxSteps"],
        [{ maxSteps: 2.5 }, "maxSteps"],
        [{ maxTime: Number.NaN }, "maxTime"],
        [{ maxTime: -1 }, "maxTime"],
        [{ maxTime: "soon" as never }, "maxTime"],
        [{ latency: { min: Number.NaN, max: 2 } }, "latency"],
        [{ latency: { min: -1, max: 2 } }, "latency"],
        [{ work: { min: 0, max: Infinity } }, "work"],
        [{ work: { min: 3, max: 1 } }, "work"]
      ]
      for (const [options, name] of cases) {
        const exit = yield* Effect.exit(Simulation.run(Effect.forever(Effect.yieldNow), { seed: 1, maxSteps: 500, ...options }))
        assert.isTrue(Exit.hasDies(exit), JSON.stringify(options))
        const defect = Cause.squash((exit as Exit.Failure<unknown, unknown>).cause)
        assert.instanceOf(defect, RangeError)
        assert.include((defect as RangeError).message, name)
      }
      const report = yield* Simulation.run(Effect.forever(Effect.yieldNow), { seed: 1, maxSteps: 50, maxTime: Infinity, latency: { min: 1, max: 1 } })
      assert.strictEqual((failureOf(report.exit) as Simulation.SimulationError).reason, "StepLimit")
    }), 10_000)

  it.effect("a seed or fault plan that is not one dies with a RangeError naming it", () =>
    Effect.gen(function*() {
      // Was: a NaN `Slow` factor or `CrashAt` time put the world's clock at NaN and the run spun
      // for good (no step, so no step limit); a misspelt fault, or a NaN seed (read as seed 0),
      // was silently a run without that fault.
      const cases: Array<[Partial<Simulation.RunOptions>, string]> = [
        [{ seed: Number.NaN }, "seed"],
        [{ seed: Infinity }, "seed"],
        [{ faults: [{ _tag: "Slow", worker: 0, factor: Number.NaN }] }, "faults"],
        [{ faults: [{ _tag: "CrashAt", worker: 0, millis: Number.NaN }] }, "faults"],
        [{ faults: [{ _tag: "CrashAt", worker: 0, millis: -5 }] }, "faults"],
        [{ faults: [{ _tag: "CrashOnTaks", worker: 0, task: 0 }] as never }, "faults"],
        [{ faults: [{ _tag: "CrashOnTask", worker: "1", task: 0 }] as never }, "faults"],
        // Was: a misspelt key was dropped, so the fault struck pool 0 / every worker instead.
        [{ faults: [{ _tag: "CrashOnTask", worker: 0, task: 0, pol: 1 }] as never }, "faults"],
        [{ faults: [{ _tag: "CorruptPayload", worker: 1, task: 0 }] as never }, "faults"]
      ]
      for (const [options, name] of cases) {
        const program = Task.run(Echo, one(1, 5)).pipe(Effect.provide(poolLayer({ size: 1, pipelineDepth: 1, retries: 0 })))
        const exit = yield* Effect.exit(Simulation.run(program, { seed: 1, maxSteps: 10_000, ...options }))
        assert.isTrue(Exit.hasDies(exit), JSON.stringify(options))
        const defect = Cause.squash((exit as Exit.Failure<unknown, unknown>).cause)
        assert.instanceOf(defect, RangeError)
        assert.include((defect as RangeError).message, `Simulation.run: ${name}`)
      }
      // Was: "seed must be a finite number, got 1" for the string "1", and a TypeError for no options.
      for (const [options, message] of [
        [{ seed: "1" }, 'Simulation.run: seed must be a finite number, got "1"'],
        [{ seed: 1, maxTime: "soon" }, 'Simulation.run: maxTime must be a duration >= 0, got "soon"'],
        [undefined, "Simulation.run: options must be an object with a seed, got undefined"]
      ] as const) {
        const exit = yield* Effect.exit(Simulation.run(Effect.void, options as never))
        const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.instanceOf(defect, RangeError)
        assert.strictEqual((defect as RangeError).message, message)
      }
      // An optional field set to undefined is absent, as TypeScript without exactOptionalPropertyTypes allows.
      const program = Task.run(Echo, one(1, 5)).pipe(Effect.provide(poolLayer({ size: 1, pipelineDepth: 1, retries: 0 })))
      const report = yield* Simulation.run(program, { seed: 1, faults: [{ _tag: "Slow", worker: 0, factor: 2, pool: undefined }] })
      assert.isTrue(Exit.isSuccess(report.exit), String(report.exit))
    }), 10_000)

  it.effect("verify and check report the seed, the fault plan and the end of the trace", () =>
    Effect.gen(function*() {
      const faults: Simulation.FaultPlan = [{ _tag: "Slow", worker: 0, factor: 2 }]
      const report = yield* simulate(Task.run(Echo, one(4)).pipe(Effect.provide(poolLayer({ size: 1, pipelineDepth: 1, retries: 0 }))), 77, faults)
      let message = ""
      try {
        Simulation.verify(report, () => assert.fail("the property does not hold"))
      } catch (error) {
        message = (error as Error).message
      }
      assert.include(
        message,
        "replay with Simulation.run(program, { seed: 77, faults: [{\"_tag\":\"Slow\",\"worker\":0,\"factor\":2}], latency: {\"min\":0,\"max\":3}, work: {\"min\":0,\"max\":4} })"
      )
      assert.include(message, "the property does not hold")
      assert.match(message, /Settle +submission=0 index=0 outcome="Success"/)
      const failed = yield* Effect.flip(Simulation.check(report, () => assert.fail("the property does not hold")))
      assert.instanceOf(failed, Simulation.PropertyFailed)
      assert.deepStrictEqual({ seed: failed.seed, faults: failed.faults }, { seed: 77, faults })
      // Was: only `seed` and `faults`, which replay a run with other ranges as another schedule.
      assert.deepStrictEqual(
        { latency: failed.latency, work: failed.work, maxSteps: failed.maxSteps, maxTime: failed.maxTime },
        { latency, work: { min: 0, max: 4 }, maxSteps: 1_000_000, maxTime: 3_600_000 }
      )
      assert.strictEqual(yield* Simulation.check(report), report)
    }))

  it.effect("a simulated pool refuses size \"cores\", however it is built: a run would differ between machines", () =>
    Effect.gen(function*() {
      // Was: `WorkerPool.layer(group, { size: "cores" })` on `Simulation.backend` (the README's
      // way to move a pool onto the simulation) took this machine's core count, so a failing seed
      // from CI did not replay on a laptop; only `Simulation.layer` refused it.
      const layers = [
        Simulation.layer(SimTasks, { entry, size: "cores" as never }),
        WorkerPool.layer(SimTasks, { entry, size: "cores" }).pipe(Layer.provide(Simulation.backend))
      ]
      for (const layer of layers) {
        const report = yield* Simulation.run(Task.run(Echo, one(1)).pipe(Effect.provide(layer)), { seed: 1 })
        const reason = poolReasonOf(failureOf(report.exit))
        assert.instanceOf(reason, PoolError.InvalidOptions)
        assert.deepStrictEqual((reason as PoolError.InvalidOptions).path, ["size"])
        assert.include(reason.message, "fixed size")
      }
    }))

  it.effect("the replay line carries the run's latency, work and limits when they are not the defaults", () =>
    Effect.gen(function*() {
      // Was: it gave only the seed and the plan, so a run with its own latency or work replayed
      // as another schedule, and one stopped at its step limit ran on.
      const program = Task.map(Echo, Array.from({ length: 6 }, (_, i) => one(i, i)), { chunkSize: 1 }).pipe(
        Effect.provide(poolLayer({ size: 3, pipelineDepth: 2, retries: 0 }))
      )
      const options = { seed: 3, latency: { min: 1, max: 9 }, work: { min: 0, max: 7 }, maxSteps: 40, maxTime: "1 minute" } as const
      const report = yield* Simulation.run(program, options)
      const line = Simulation.replay(report)
      assert.strictEqual(
        line,
        "Simulation failed; replay with Simulation.run(program, { seed: 3, faults: [], latency: {\"min\":1,\"max\":9}, work: {\"min\":0,\"max\":7}, maxSteps: 40, maxTime: 60000 })"
      )
      const again = yield* Simulation.run(program, { seed: 3, faults: [], latency: { min: 1, max: 9 }, work: { min: 0, max: 7 }, maxSteps: 40, maxTime: 60000 })
      assert.deepStrictEqual(again.trace, report.trace)
      const plain = yield* Simulation.run(program, { seed: 3 })
      assert.strictEqual(Simulation.replay(plain), "Simulation failed; replay with Simulation.run(program, { seed: 3, faults: [] })")
    }))

  it.effect("formatTrace keeps the last events asked for, none for 0", () =>
    Effect.gen(function*() {
      // Was: `last: 0` sliced from -0, the start, and printed the whole trace.
      const report = yield* simulate(Task.run(Echo, one(1)).pipe(Effect.provide(poolLayer({ size: 1, pipelineDepth: 1, retries: 0 }))), 1, [])
      const total = report.trace.length
      assert.strictEqual(Simulation.formatTrace(report.trace, 0), `last 0 of ${total} events:`)
      assert.strictEqual(Simulation.formatTrace(report.trace, 2).split("\n").length, 3)
      assert.strictEqual(Simulation.formatTrace(report.trace).split("\n").length, total + 1)
    }))

  it.effect("verify and check refuse assertions that return a Promise or an Effect, which they cannot wait for", () =>
    Effect.gen(function*() {
      // Was: both passed whatever the assertions would have found (a `(report) => void` parameter
      // accepts an async function or one returning an Effect), and a rejection went unhandled.
      const report = yield* Simulation.run(Effect.succeed(1), { seed: 5 })
      const rejected = Promise.reject(new Error("the property does not hold"))
      rejected.catch(() => {})
      for (const assertions of [() => rejected, () => Effect.fail("the property does not hold")]) {
        assert.throws(() => Simulation.verify(report, assertions), /must be synchronous/)
        const failed = yield* Effect.flip(Simulation.check(report, assertions))
        assert.instanceOf(failed, Simulation.PropertyFailed)
        assert.include(failed.message, "must be synchronous")
      }
    }))

  it.effect("verify and check fail when the assertions return false, as a property returning false does", () =>
    Effect.gen(function*() {
      // Was: a predicate fits the `(report) => void` parameter, and its `false` passed.
      const report = yield* Simulation.run(Effect.fail("boom"), { seed: 5 })
      const predicate = (r: typeof report) => Exit.isSuccess(r.exit)
      assert.throws(() => Simulation.verify(report, predicate), /assertions returned false/)
      const failed = yield* Effect.flip(Simulation.check(report, predicate))
      assert.instanceOf(failed, Simulation.PropertyFailed)
      assert.strictEqual(yield* Simulation.check(report, () => true), report)
    }))

  it.effect("faultPlan stays within its bounds", () =>
    Effect.gen(function*() {
      const plans = yield* Arbitrary.sampleEffect(
        Simulation.faultPlan({ workers: 3, tasks: 5, millis: 10, slowness: 4, maxFaults: 2, kinds: ["CrashOnTask", "Slow", "CrashAt"] }),
        { count: 300, seed: 1 }
      )
      const kinds = new Set<string>()
      for (const plan of plans) {
        assert.isAtMost(plan.length, 2)
        for (const fault of plan) {
          kinds.add(fault._tag)
          if ("worker" in fault) assert.isTrue(fault.worker >= 0 && fault.worker < 3)
          if (fault._tag === "CrashOnTask") assert.isTrue(fault.task >= 0 && fault.task < 5)
          if (fault._tag === "CrashAt") assert.isTrue(fault.millis >= 0 && fault.millis <= 10)
          if (fault._tag === "Slow") assert.isTrue(fault.factor >= 1 && fault.factor <= 4)
        }
      }
      assert.deepStrictEqual([...kinds].sort(), ["CrashAt", "CrashOnTask", "Slow"])
    }))

  it.effect("faultPlan bounds that are none throw a RangeError naming the bound; no kinds means no faults", () =>
    Effect.gen(function*() {
      // Was: an unknown kind threw "Cannot read properties of undefined (reading 'ast')", a
      // negative `millis` "Unable to derive an arbitrary for integer constraints", a NaN bound a
      // RangeError naming no bound, and `kinds: []` "a union with no members".
      const cases: Array<[Simulation.FaultPlanBounds, string]> = [
        [{ kinds: ["Crash" as never] }, "kinds"],
        [{ workers: Number.NaN }, "workers"],
        [{ workers: 0 }, "workers"],
        [{ tasks: 2.5 }, "tasks"],
        [{ millis: -3 }, "millis"],
        [{ slowness: Infinity }, "slowness"],
        [{ maxFaults: -1 }, "maxFaults"],
        [{ pools: 0 }, "pools"]
      ]
      for (const [bounds, name] of cases) {
        assert.throws(() => Simulation.faultPlan(bounds), RangeError, `Simulation.faultPlan: ${name}`, JSON.stringify(bounds))
      }
      const plans = yield* Arbitrary.sampleEffect(Simulation.faultPlan({ kinds: [] }), { count: 20, seed: 1 })
      assert.deepStrictEqual(plans, Array.from({ length: 20 }, () => []))
    }))
})
