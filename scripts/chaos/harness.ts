/**
 * The chaos soak: tasks and actor calls run on a real pool while a chaos fiber kills random
 * workers, replacement workers fail or hang while they start, handlers sleep, block their thread,
 * fail, throw, exhaust their heap or end their worker, callers are interrupted, and workers are
 * recycled. Everything chaotic is drawn from one seed, so a seed names a run (the OS's timing is
 * not replayed, the chaos is). Then it checks what the runtime promises, and reports a table.
 *
 * Contains `runChaos` (one run, its checks and figures), `formatReport` (the table), and the
 * backend table (`backends`): a row per backend the soak can run on, by name.
 *
 * Checks:
 * 1. settled once: every task of a submission the caller did not cancel settles exactly once;
 *    a cancelled one at most once; no attempt beyond `retries + 1` (the pool's events).
 * 2. runs: no task's handler ran more than `retries + 1` times, and every task whose caller got
 *    its answer ran (the run log: each handler appends its task's id before anything else).
 * 3. typed: every failure is a typed error its tasks allow (a declared `Refused` for `fail`,
 *    `Defect` for `defect`, `Timeout` for `sleep`/`spin`, `WorkerLost` for any task, as chaos
 *    kills any worker); interruption only for callers the chaos interrupts; no die, no wrong answer.
 * 4. deadline: no call (task unit or actor call) takes longer than `deadlineMillis`.
 * 5. actors: answers of one actor come from one instance at a time, counting up without a gap,
 *    and an instance once replaced never answers again; no answer comes from a worker the pool had
 *    already seen exit (the pool's events, as the answer settles).
 * 6. pool intact: it never broke (no `PoolClosed` while open).
 * 7. after the scope closes: no worker thread (`WorkerPool.liveThreads`), no child process
 *    (`/proc/self/task/<tid>/children`), no open handle beyond those before the pool
 *    (`process.getActiveResourcesInfo`), no live shared-memory byte (`SharedArray.arenaStats`).
 * 8. RSS flat: the process's RSS after a GC at the end of the work is within `rssToleranceMB` of
 *    its RSS after a GC once 10% of the work was done (the same number of workers then and now).
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { closeSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  Actor,
  ActorError,
  InlineBackend,
  ProcessBackend,
  SharedArray,
  Task,
  TaskError,
  ThreadBackend,
  WorkerBackend,
  WorkerPool
} from "../../src/index.ts"
import { ChaosSharedTasks, ChaosTasks, type InitPlan, type Kind, Refused, Tally, Total, Work } from "./tasks.ts"
import { Op } from "../../src/runtime/protocol/protocol.ts"

// ---------------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------------

/** The backends a soak can run on, by name; what it does on one follows its capabilities, never its name. */
export const backends: Readonly<Record<string, WorkerBackend.Backend>> = {
  threads: ThreadBackend.backend,
  processes: ProcessBackend.backend,
  inline: InlineBackend.backend
}

/** A backend name the table does not hold. */
export class UnknownBackend extends Error {
  override readonly name = "UnknownBackend"
  readonly backend: string
  constructor(backend: string) {
    super(`unknown backend "${backend}": one of ${Object.keys(backends).join(", ")}`)
    this.backend = backend
  }
}

// ---------------------------------------------------------------------------------------------
// Options and report
// ---------------------------------------------------------------------------------------------

export interface ChaosOptions {
  readonly seed: number
  readonly tasks: number
  readonly backend: string
  /** Workers. Default 2. */
  readonly size?: number | undefined
  /** Actors, each called by a fiber of its own until the tasks are done. Default 3. */
  readonly actors?: number | undefined
  /** A call that takes longer has hung. Default 20 s (24 s on processes): the longest task (1.5 s) behind a replacement that hangs (its init timeout) and a queue of 16 units. */
  readonly deadlineMillis?: number | undefined
  /** Default 64 MB: see `README`, "Chaos soak". */
  readonly rssToleranceMB?: number | undefined
  /** Progress lines, if wanted. */
  readonly log?: ((line: string) => void) | undefined
}

export interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

export interface ChaosReport {
  readonly seed: number
  readonly tasks: number
  readonly backend: string
  readonly seconds: number
  readonly figures: ReadonlyArray<readonly [string, string]>
  readonly checks: ReadonlyArray<Check>
  readonly ok: boolean
  /** The command that replays this run. */
  readonly replay: string
}

/** The report as a table: what happened, then each check. */
export const formatReport = (report: ChaosReport): string => {
  const rows: Array<readonly [string, string, string]> = [
    ...report.figures.map(([name, value]) => [name, value, ""] as const),
    ...report.checks.map((check) => [check.name, check.detail, check.ok ? "ok" : "FAILED"] as const)
  ]
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length), ["", "", ""][i]!.length))
  const line = (row: readonly [string, string, string]) =>
    `| ${row[0].padEnd(widths[0]!)} | ${row[1].padEnd(widths[1]!)} | ${row[2].padEnd(widths[2]!)} |`
  const rule = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`
  const title = `chaos soak: seed ${report.seed}, ${report.tasks} tasks, backend ${report.backend}, ${report.seconds.toFixed(1)} s`
  const verdict = report.ok
    ? "every check passed"
    : `FAILED: ${report.checks.filter((c) => !c.ok).map((c) => c.name).join(", ")}\nreplay: ${report.replay}`
  return [title, "", line(["", "", ""]), rule, ...rows.map(line), "", verdict].join("\n")
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

/** Pool settings of every soak; `maxTasksPerWorker` is drawn from the seed. */
const retries = 1
const taskTimeoutMillis = 1_000
/**
 * How long a worker may take to start. A child process loads Node and Effect anew (~0.3 s quiet,
 * over 2 s on a loaded 2-core machine, where every start then timed out and the pool broke):
 * processes get more, and the deadline grows by the same.
 */
const initTimeoutMillis = (caps: { readonly sharesMemory: boolean }) => caps.sharesMemory ? 2_000 : 6_000

interface Unit {
  readonly kind: "run" | "map" | "total"
  readonly tasks: ReadonlyArray<{ readonly id: number; readonly kind: Kind; readonly millis: number }>
  readonly chunkSize: number
  /** The chaos interrupts its caller this many ms after it starts. */
  readonly interruptAfter: number | undefined
}

export const runChaos = async (options: ChaosOptions): Promise<ChaosReport> => {
  const backend = backends[options.backend]
  if (backend === undefined) throw new UnknownBackend(options.backend)
  // The harness's own output streams open handles when first used: open them before counting.
  void process.stdout
  void process.stderr
  const handlesBefore = activeResources()
  const started = performance.now()
  const run = await Effect.runPromise(soak(options, backend))
  // Checked outside any fiber (the runtime's own scheduling would count), once Node has reported
  // the threads' exits.
  await new Promise((resolve) => setTimeout(resolve, 200))
  const threads = WorkerPool.liveThreads()
  const children = childProcesses()
  const handlesAfter = activeResources()
  const shared = Effect.runSync(SharedArray.arenaStats)
  const extraHandles = Object.entries(handlesAfter).filter(([type, count]) => count > (handlesBefore[type] ?? 0))
  const checks: ReadonlyArray<Check> = [
    ...run.checks,
    {
      name: "nothing left after close",
      ok: threads === 0 && children === 0 && extraHandles.length === 0 && shared.liveBytes === 0,
      detail: `${threads} threads, ${children} child processes, ` +
        `${extraHandles.length === 0 ? "no new handles" : `new handles: ${extraHandles.map(([t, n]) => `${t}×${n}`).join(", ")}`}, ` +
        `${shared.liveBytes} shared bytes live`
    },
    run.rss
  ]
  return {
    seed: options.seed,
    tasks: options.tasks,
    backend: options.backend,
    seconds: (performance.now() - started) / 1_000,
    figures: run.figures,
    checks,
    ok: checks.every((check) => check.ok),
    replay: `npm run chaos -- --seed ${options.seed} --tasks ${options.tasks} --backend ${options.backend}`
  }
}

const soak = (options: ChaosOptions, inner: WorkerBackend.Backend) =>
  Effect.gen(function*() {
    const log = options.log ?? (() => {})
    const random = mulberry32(options.seed)
    const caps = inner.capabilities
    const size = options.size ?? 2
    const deadlineMillis = options.deadlineMillis ?? 18_000 + initTimeoutMillis(caps)
    const rssToleranceMB = options.rssToleranceMB ?? 64
    const units = planUnits(options.tasks, random, caps)
    const maxTasksPerWorker = 150 + Math.floor(random() * 300)
    const initPlan: InitPlan = { seed: options.seed, first: size, fail: 0.08, hang: 0.04 }

    // The run log, and what the workers read from the environment (threads copy it as they start).
    const runsPath = join(tmpdir(), `ep-chaos-${process.pid}-${options.seed}.runs`)
    const runsFd = openSync(runsPath, "w")
    const env = { EP_CHAOS_RUNS: runsPath, EP_CHAOS_RUNS_FD: String(runsFd), EP_CHAOS_PID: String(process.pid), EP_CHAOS_INIT: JSON.stringify(initPlan) }
    const savedEnv = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]))
    Object.assign(process.env, env)

    const { backend, live } = withKillSwitch(inner)
    const group = caps.sharesMemory ? ChaosSharedTasks : ChaosTasks
    const entry = new URL(caps.sharesMemory ? "./worker-shared.ts" : "./worker.ts", import.meta.url)
    const pool = WorkerPool.layer(group, {
      entry,
      size,
      retries,
      maxTasksPerWorker,
      initTimeout: Duration.millis(initTimeoutMillis(caps)),
      interruptGrace: "300 millis",
      exitTimeout: "1 second",
      ...(caps.heapLimits ? { resourceLimits: { maxOldGenerationSizeMb: 64 }, recycleAboveHeapMb: 56 } : {})
    }).pipe(Layer.provide(Layer.succeed(WorkerBackend.WorkerBackend, backend))) as Layer.Layer<
      Task.Runner<"Work" | "Tally" | "Total">,
      unknown
    >

    const tally = new Tallies()
    let rssAt10 = 0
    let rssAtEnd = 0
    /** RSS after GC at every tenth of the work, for the figures. */
    const rssSeries: Array<number> = []
    /** The caller's own V8 heap after the same GCs. */
    const heapSeries: Array<number> = []
    yield* Effect.scoped(
      Effect.gen(function*() {
        yield* WorkerPool.observe(ChaosTasks, (event) => tally.onEvent(event))
        const done = { value: false }
        const chaos = yield* Effect.forkScoped(chaosFiber(random, live, caps, tally))
        const actors = yield* Effect.forkScoped(
          Effect.forEach(Array.from({ length: options.actors ?? 3 }, (_, key) => key), (key) =>
            actorLoop(key, mulberry32(options.seed * 31 + key), done, tally, deadlineMillis), { concurrency: "unbounded" })
        )
        let finished = 0
        yield* Effect.forEach(units, (unit) =>
          Effect.map(runUnit(unit, tally, deadlineMillis), () => {
            finished++
            if (finished % Math.ceil(units.length / 10) === 0) {
              const rss = rssAfterGc()
              if (rssAt10 === 0) rssAt10 = rss
              rssSeries.push(rss)
              heapSeries.push(process.memoryUsage().heapUsed / 1_048_576)
              log(`${finished}/${units.length} units, RSS ${rss.toFixed(0)} MB after GC`)
            }
          }), { concurrency: 16, discard: true })
        done.value = true
        yield* Fiber.interrupt(chaos)
        yield* Fiber.join(actors)
        rssAtEnd = rssAfterGc()
        tally.workersAtEnd = (yield* WorkerPool.stats(ChaosTasks)).workersStarted
      }).pipe(Effect.provide(pool))
    ).pipe(Effect.catchCause((cause) => Effect.sync(() => tally.poolFailure = Cause.pretty(cause))))

    closeSync(runsFd)
    const runs = readRuns(runsPath)
    rmSync(runsPath, { force: true })
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
    const rss: Check = {
      name: "RSS flat",
      ok: rssAt10 > 0 && rssAtEnd - rssAt10 <= rssToleranceMB,
      detail: `${rssAt10.toFixed(0)} MB at 10%, ${rssAtEnd.toFixed(0)} MB at the end (${signed(rssAtEnd - rssAt10)} MB; tolerance ${rssToleranceMB} MB)`
    }
    const figures = tally.figures(units, maxTasksPerWorker)
    figures.push(
      ["RSS after GC, each tenth", `${[...rssSeries, rssAtEnd].map((mb) => mb.toFixed(0)).join(", ")} MB`],
      ["caller's heap, each tenth", `${heapSeries.map((mb) => mb.toFixed(0)).join(", ")} MB`]
    )
    return { checks: tally.checks(runs, deadlineMillis), rss, figures }
  })

// ---------------------------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------------------------

/** Units of work (single runs, maps, shared-array sums) holding `tasks` tasks, drawn from the seed. */
const planUnits = (tasks: number, random: () => number, caps: WorkerBackend.Capabilities): Array<Unit> => {
  const units: Array<Unit> = []
  let id = 0
  /** In a map (`scale` < 1) failing kinds are rarer: a map fails whole at its first failure, cancelling the rest. */
  const nextTask = (scale: number) => {
    const r = random() * (1 / scale)
    // Killers only where a crash takes one worker; blocking past the timeout only where it can be stopped.
    const kind: Kind = r < 0.002 && caps.isolatesCrashes && caps.heapLimits
      ? "oom"
      : r < 0.005 && caps.isolatesCrashes
      ? "exit"
      : r < 0.035
      ? "fail"
      : r < 0.065
      ? "defect"
      : r < 0.085
      ? "spin"
      : r < 0.165
      ? "sleep"
      : "quick"
    const long = random() < 0.1 && caps.canTerminate
    const millis = kind === "spin" ? (long ? 1_500 : 1 + Math.floor(random() * 20)) : kind === "sleep" ? (long ? 1_500 : Math.floor(random() * 30)) : 0
    return { id: id++, kind, millis }
  }
  while (id < tasks) {
    const r = random()
    const interruptAfter = random() < 0.04 ? Math.floor(random() * 30) : undefined
    if (r < 0.03 && caps.sharesMemory) {
      units.push({ kind: "total", tasks: [], chunkSize: 1, interruptAfter })
    } else if (r < 0.6) {
      units.push({ kind: "run", tasks: [nextTask(1)], chunkSize: 1, interruptAfter })
    } else {
      const count = Math.min(tasks - id, 2 + Math.floor(random() * 39))
      units.push({ kind: "map", tasks: Array.from({ length: count }, () => nextTask(0.25)), chunkSize: 1 + Math.floor(random() * 8), interruptAfter })
    }
  }
  return units
}

type Runner = Task.Runner<"Work" | "Tally" | "Total">

/** Runs one unit as its caller would, and tallies what the caller got. */
const runUnit = (unit: Unit, tally: Tallies, deadlineMillis: number): Effect.Effect<void, never, Runner> => {
  const options = { chunkSize: unit.chunkSize, timeout: Duration.millis(taskTimeoutMillis) }
  const body: Effect.Effect<ReadonlyArray<number>, unknown, Runner> = unit.kind === "total"
    ? Effect.scoped(Effect.gen(function*() {
      const values = yield* SharedArray.put("Float64", Array.from({ length: 1_000 }, (_, i) => i))
      const sum = yield* Task.run(Total, { values })
      return sum === 499_500 ? [] : [-1]
    }))
    : unit.kind === "run"
    ? Effect.map(Task.run(Work, unit.tasks[0]!, options), (value) => [value])
    : Task.map(Work, unit.tasks, options)
  return Effect.gen(function*() {
    const started = performance.now()
    const fiber = yield* Effect.forkChild(body)
    if (unit.interruptAfter !== undefined) {
      yield* Effect.forkChild(Effect.andThen(Effect.sleep(unit.interruptAfter), Fiber.interrupt(fiber)))
    }
    const exit = yield* Effect.timeoutOption(Fiber.await(fiber), Duration.millis(deadlineMillis))
    tally.unit(unit, exit, performance.now() - started)
    if (Option.isNone(exit)) yield* Fiber.interrupt(fiber)
  })
}

/** Calls one actor until the tasks are done, checking each answer against the ones before. */
const actorLoop = (
  key: number,
  random: () => number,
  done: { value: boolean },
  tally: Tallies,
  deadlineMillis: number
): Effect.Effect<void, never, Runner> =>
  Effect.scoped(Effect.gen(function*() {
    let handle: Actor.Handle<typeof Tally> | undefined
    while (handle === undefined && !done.value) {
      const spawned = yield* Effect.exit(Actor.spawn(Tally, { key }, { restart: { maxRestarts: 1_000, backoff: "20 millis", maxBackoff: "500 millis" } }))
      if (Exit.isSuccess(spawned)) handle = spawned.value
      else tally.actorFailure(spawned.cause)
    }
    let instance = ""
    let count = 0
    const retired = new Set<string>()
    while (handle !== undefined && !done.value) {
      const started = performance.now()
      const answer = yield* Effect.timeoutOption(Effect.exit(handle.call("bump", { millis: Math.floor(random() * 4) })), Duration.millis(deadlineMillis))
      if (Option.isNone(answer)) {
        tally.hung.push(`actor ${key}: a call took longer than ${deadlineMillis} ms`)
        continue
      }
      tally.slowest = Math.max(tally.slowest, performance.now() - started)
      if (Exit.isFailure(answer.value)) {
        tally.actorFailure(answer.value.cause)
        continue
      }
      tally.actorCalls++
      const reply = answer.value.value
      if (reply.instance !== instance) {
        if (retired.has(reply.instance)) tally.actorViolations.push(`actor ${key}: ${reply.instance} answered after it was replaced`)
        if (reply.count !== 1) tally.actorViolations.push(`actor ${key}: a new instance ${reply.instance} started at ${reply.count}`)
        if (instance !== "") {
          retired.add(instance)
          tally.actorRestartsSeen++
        }
        instance = reply.instance
      } else if (reply.count !== count + 1) {
        tally.actorViolations.push(`actor ${key}: ${instance} answered ${reply.count} after ${count}`)
      }
      count = reply.count
    }
  }))

/** Now and then, terminates a random ready worker (a SIGKILL on the process backend). */
const chaosFiber = (
  random: () => number,
  live: Map<number, WorkerBackend.Connection>,
  caps: WorkerBackend.Capabilities,
  tally: Tallies
): Effect.Effect<never> =>
  Effect.forever(Effect.gen(function*() {
    yield* Effect.sleep(Duration.millis(200 + Math.floor(random() * 800)))
    // An in-thread worker cannot be killed without taking the caller with it: it is asked to stop.
    if (!caps.isolatesCrashes && random() < 0.7) return
    const ids = [...live.keys()]
    if (ids.length === 0) return
    const id = ids[Math.floor(random() * ids.length)]!
    tally.kills++
    live.get(id)!.terminate()
  }))

// ---------------------------------------------------------------------------------------------
// Tallies and checks
// ---------------------------------------------------------------------------------------------

class Tallies {
  readonly settled = new Map<string, number>()
  readonly submitted = new Map<number, number>()
  readonly cancelled = new Set<number>()
  readonly exited = new Set<number>()
  readonly exits = new Map<string, number>()
  readonly overAttempts: Array<string> = []
  readonly deadAnswers: Array<string> = []
  readonly untyped: Array<string> = []
  readonly unexpected: Array<string> = []
  readonly wrong: Array<string> = []
  readonly hung: Array<string> = []
  readonly actorViolations: Array<string> = []
  readonly failures = new Map<string, number>()
  /** Task ids whose caller got their value. */
  readonly answered: Array<number> = []
  initFailures = 0
  kills = 0
  interrupted = 0
  succeededUnits = 0
  actorCalls = 0
  actorRestartsSeen = 0
  actorCallFailures = 0
  slowest = 0
  closed = 0
  workersAtEnd = 0
  poolFailure: string | undefined

  onEvent(event: WorkerPool.PoolEvent): void {
    switch (event._tag) {
      case "Submitted":
        return void this.submitted.set(event.submission, event.count)
      case "Cancelled":
        return void this.cancelled.add(event.submission)
      case "Settled": {
        const key = `${event.submission}#${event.index}`
        this.settled.set(key, (this.settled.get(key) ?? 0) + 1)
        if (event.attempt > retries + 1) this.overAttempts.push(`${key} settled at attempt ${event.attempt}`)
        return
      }
      case "WorkerInitFailed":
        this.initFailures++
        return
      case "WorkerExited":
        this.exited.add(event.workerId)
        this.exits.set(event.exit, (this.exits.get(event.exit) ?? 0) + 1)
        return
      case "ActorAnswer":
        if (event.outcome === "Success" && this.exited.has(event.workerId)) {
          this.deadAnswers.push(`actor ${event.actorId} answered from worker ${event.workerId} after it exited`)
        }
        return
    }
  }

  unit(unit: Unit, exit: Option.Option<Exit.Exit<ReadonlyArray<number>, unknown>>, millis: number): void {
    this.slowest = Math.max(this.slowest, millis)
    const name = unit.kind === "total" ? "total" : `${unit.kind} of ${unit.tasks.map((t) => `${t.id}:${t.kind}`).join(",")}`
    if (Option.isNone(exit)) return void this.hung.push(`${name}: no answer within the deadline`)
    const result = exit.value
    if (Exit.isSuccess(result)) {
      this.succeededUnits++
      if (unit.kind === "total") {
        if (result.value.length > 0) this.wrong.push("total: a wrong sum")
        return
      }
      const wanted = unit.tasks.map((task) => task.id)
      if (result.value.join() !== wanted.join()) this.wrong.push(`${name}: answered ${result.value.join()}`)
      if (unit.tasks.some((task) => task.kind === "fail" || task.kind === "defect" || task.kind === "oom" || task.kind === "exit")) {
        this.wrong.push(`${name}: succeeded over a failing task`)
      }
      this.answered.push(...wanted)
      return
    }
    const error = Cause.findErrorOption(result.cause)
    if (Option.isNone(error)) {
      if (Cause.hasDies(result.cause)) return void this.untyped.push(`${name}: died: ${Cause.pretty(result.cause).slice(0, 300)}`)
      if (unit.interruptAfter !== undefined && Cause.hasInterruptsOnly(result.cause)) return void this.interrupted++
      return void this.unexpected.push(`${name}: interrupted, unasked`)
    }
    const tag = tagOf(error.value)
    this.failures.set(tag, (this.failures.get(tag) ?? 0) + 1)
    if (tag === "PoolClosed") this.closed++
    const allowed = new Set(["WorkerLost"])
    for (const task of unit.tasks) {
      if (task.kind === "fail") allowed.add("Refused")
      if (task.kind === "defect") allowed.add("Defect")
      if (task.kind === "sleep" || task.kind === "spin") allowed.add("Timeout")
    }
    if (!allowed.has(tag)) this.unexpected.push(`${name}: ${tag}`)
  }

  actorFailure(cause: Cause.Cause<unknown>): void {
    this.actorCallFailures++
    const error = Cause.findErrorOption(cause)
    if (Option.isNone(error)) return void this.untyped.push(`actor call: ${Cause.pretty(cause).slice(0, 300)}`)
    const tag = tagOf(error.value)
    this.failures.set(`actor ${tag}`, (this.failures.get(`actor ${tag}`) ?? 0) + 1)
    // A call in flight when its worker died is lost (at most once); none other is expected.
    if (tag !== "WorkerLost") this.unexpected.push(`actor call: ${tag}`)
  }

  checks(runs: Map<number, number>, deadlineMillis: number): Array<Check> {
    let missing = 0
    let twice = 0
    let tasks = 0
    for (const [submission, count] of this.submitted) {
      for (let index = 0; index < count; index++) {
        tasks++
        const settled = this.settled.get(`${submission}#${index}`) ?? 0
        if (settled > 1) twice++
        if (settled === 0 && !this.cancelled.has(submission)) missing++
      }
    }
    let overRun = 0
    let maxRuns = 0
    for (const count of runs.values()) {
      maxRuns = Math.max(maxRuns, count)
      if (count > retries + 1) overRun++
    }
    const neverRan = this.answered.filter((id) => (runs.get(id) ?? 0) === 0).length
    const typedProblems = [...this.untyped, ...this.unexpected, ...this.wrong]
    const sample = (list: ReadonlyArray<string>) => list.length === 0 ? "" : `; first: ${list[0]}`
    return [
      {
        name: "every task settled exactly once",
        ok: missing === 0 && twice === 0 && this.overAttempts.length === 0 && this.poolFailure === undefined,
        detail: this.poolFailure !== undefined
          ? `the pool failed: ${this.poolFailure.slice(0, 200)}`
          : `${tasks} submitted: ${missing} never settled, ${twice} settled twice, ${this.overAttempts.length} past ${retries + 1} attempts${sample(this.overAttempts)}`
      },
      {
        name: `runs within the retry bound (${retries + 1})`,
        ok: overRun === 0 && neverRan === 0,
        detail: `${runs.size} tasks ran, at most ${maxRuns} times; ${overRun} over the bound; ${neverRan} answered without a run`
      },
      {
        name: "every failure typed",
        ok: typedProblems.length === 0,
        detail: `${this.untyped.length} untyped, ${this.unexpected.length} unexpected, ${this.wrong.length} wrong answers${sample(typedProblems)}`
      },
      {
        name: `no hang past the deadline (${deadlineMillis / 1_000} s)`,
        ok: this.hung.length === 0,
        detail: `${this.hung.length} hung; slowest call ${(this.slowest / 1_000).toFixed(2)} s${sample(this.hung)}`
      },
      {
        name: "actors: one live instance, no stale state",
        ok: this.actorViolations.length === 0 && this.deadAnswers.length === 0,
        detail: `${this.actorCalls} answers, ${this.actorRestartsSeen} restarts seen; ${this.actorViolations.length} out of order, ` +
          `${this.deadAnswers.length} from dead workers${sample([...this.actorViolations, ...this.deadAnswers])}`
      },
      {
        name: "pool intact (never broke)",
        ok: this.closed === 0,
        detail: `${this.closed} calls failed with PoolClosed`
      }
    ]
  }

  figures(units: ReadonlyArray<Unit>, maxTasksPerWorker: number): Array<readonly [string, string]> {
    const kinds = new Map<string, number>()
    for (const unit of units) for (const task of unit.tasks) kinds.set(task.kind, (kinds.get(task.kind) ?? 0) + 1)
    const list = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ")
    return [
      ["tasks by kind", list(kinds)],
      ["calls", `${units.length} (runs, maps of 2-40, shared-array sums), 16 at a time; ${this.interrupted} interrupted by chaos`],
      ["outcomes", `${this.succeededUnits} succeeded; failed: ${list(this.failures) || "none"}`],
      ["workers", `${this.workersAtEnd} started (maxTasksPerWorker ${maxTasksPerWorker}); ${this.initFailures} failed or hung starting; exits: ${list(this.exits)}`],
      ["chaos kills", String(this.kills)],
      ["actor calls", `${this.actorCalls} answered, ${this.actorCallFailures} failed`]
    ]
  }
}

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

/**
 * The backend, with a handle on every worker that said it is ready, so the chaos can terminate
 * one. Not one still starting: a start that fails counts toward the pool's limit of failed
 * replacements in a row (the Dispatcher's rule 5), which the init plan tests on its own; killing
 * starts as well broke the pool whenever starts were slow (child processes on a loaded machine).
 */
const withKillSwitch = (inner: WorkerBackend.Backend) => {
  const live = new Map<number, WorkerBackend.Connection>()
  const backend: WorkerBackend.Backend = {
    ...inner,
    make: (spec) =>
      Effect.map(inner.make(spec), (spawner) => ({
        spawn: (workerId, events) => {
          let gone = false
          const connection: WorkerBackend.Connection = spawner.spawn(workerId, {
            onMessage: (message) => {
              if (!gone && message[0] === Op.Ready) live.set(workerId, connection)
              events.onMessage(message)
            },
            onExit: (exit) => {
              gone = true
              live.delete(workerId)
              events.onExit(exit)
            }
          })
          return connection
        }
      }))
  }
  return { backend, live }
}

const tagOf = (error: unknown): string => {
  if (error instanceof TaskError.TaskError || error instanceof ActorError.ActorError) return error.reason._tag
  if (error instanceof Refused) return "Refused"
  return (error as { _tag?: string })._tag ?? `untagged ${String(error)}`
}

/** Runs per task id, from the run log (4-byte ids). */
const readRuns = (path: string): Map<number, number> => {
  const bytes = readFileSync(path)
  const ids = new Int32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 4))
  const runs = new Map<number, number>()
  for (const id of ids) runs.set(id, (runs.get(id) ?? 0) + 1)
  return runs
}

const rssAfterGc = (): number => {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  gc?.()
  return process.memoryUsage.rss() / 1_048_576
}

const activeResources = (): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1
  return counts
}

/** Child processes of this process (Linux); 0 where `/proc` is missing. */
const childProcesses = (): number => {
  try {
    let count = 0
    for (const tid of readdirSync("/proc/self/task")) {
      const text = readFileSync(`/proc/self/task/${tid}/children`, "utf8").trim()
      if (text !== "") count += text.split(/\s+/).length
    }
    return count
  } catch {
    return 0
  }
}

const signed = (n: number): string => `${n >= 0 ? "+" : ""}${n.toFixed(0)}`

/** A seeded generator of numbers in [0, 1). */
export const mulberry32 = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}
