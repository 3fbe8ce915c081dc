/**
 * Deterministic simulation of pools, for property tests of programs and of the scheduler itself.
 *
 * Contains `layer` (a pool like `WorkerPool.layer`, whose workers are simulated), `run` (runs a
 * program on virtual time under a seed and a fault plan, and returns its result and trace), the
 * fault model (`Fault`, `FaultPlan`, and `faultPlan` to generate plans), and `verify`/`check`
 * and `formatTrace` for reporting a failing run so that it can be replayed.
 *
 * ```ts
 * const SimPool = Simulation.layer(ImageTasks, { entry: imageWorker, size: 3, retries: 1 })
 *
 * it.effect.prop("every image is convolved once", { seed: Schema.Int, faults: Simulation.faultPlan() }, ({ seed, faults }) =>
 *   Simulation.run(program.pipe(Effect.provide(SimPool)), { seed, faults }).pipe(
 *     Effect.map((report) => Simulation.verify(report, ({ exit }) => assert.isTrue(Exit.isSuccess(exit))))
 *   ))
 * ```
 *
 * The same task and actor definitions and worker entry run, with the real `WorkerRuntime`,
 * dispatcher and actor host; workers are processes of one simulated world in the caller's thread. Every choice that threads
 * leave to chance — message latencies, how worker steps interleave, how long each task takes — is
 * drawn from the seed, and time is virtual: timeouts, retries and backoff take no real time. The
 * same seed and fault plan replay the same schedule, step for step.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { FaultPlan } from "../core/Fault.ts"
import type { PoolError } from "../core/PoolError.ts"
import type { Any, Group, Runner } from "../core/Task.ts"
import type { WorkerEntry } from "../core/Worker.ts"
import { WorkerBackend } from "../runtime/backends/Backend.ts"
import type { Event, PoolSummary, Range, WorldState } from "../runtime/backends/SimulatedBackend.ts"
import { simulatedBackend, simulatedCapabilities } from "../runtime/backends/SimulatedBackend.ts"
import { type DriveOutcome, World as SimulatedWorld } from "../runtime/backends/SimulatedWorld.ts"
import { durationMillis } from "../runtime/internal/duration.ts"
import * as WorkerPool from "./WorkerPool.ts"

export * from "../core/Fault.ts"
export type { Event, OutcomeName, PoolSummary, Range, WireTask, WorkerFate, WorkerSummary } from "../runtime/backends/SimulatedBackend.ts"

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

/**
 * The simulated world a `layer` puts its pool into. Only `run` provides it, so a program that
 * uses a simulated pool outside a simulation does not compile.
 */
export class World extends Context.Service<World, WorldState>()("effect-parallel/Simulation/World") {}

/** The program did not finish: nothing could wake it, or it ran past a limit. */
export class SimulationError extends Schema.TaggedError<SimulationError>()("SimulationError", {
  reason: Schema.Literals(["Deadlock", "StepLimit", "TimeLimit"]),
  message: Schema.String
}) {}

export interface RunOptions {
  /** Every choice of the run is drawn from it. A finite number; use an integer (seeds that differ only in a fraction may give one run). */
  readonly seed: number
  readonly faults?: FaultPlan | undefined
  /**
   * Virtual ms a message takes between the pool and a worker (and a worker takes to start). Default
   * 0–2. Whole bounds draw whole ms; fractional ones any value between them.
   */
  readonly latency?: Range | undefined
  /** Virtual ms each task spends in its worker before its handler runs. Default 0–2 (drawn as `latency`). */
  readonly work?: Range | undefined
  /** Steps before the run is stopped (`StepLimit`). Default 1,000,000. */
  readonly maxSteps?: number | undefined
  /** Virtual time before the run is stopped (`TimeLimit`). Default 1 hour. */
  readonly maxTime?: Duration.Input | undefined
}

export interface Report<A, E> {
  readonly seed: number
  readonly faults: FaultPlan
  /** The run's ranges and limits (virtual ms), so that `replay` can give every option that shaped it. */
  readonly latency: Range
  readonly work: Range
  readonly maxSteps: number
  readonly maxTime: number
  /** How the program ended; a `SimulationError` if it did not. */
  readonly exit: Exit.Exit<A, E | SimulationError>
  /** Everything the pools and their workers did, in order. */
  readonly trace: ReadonlyArray<Event>
  readonly pools: ReadonlyArray<PoolSummary>
  /** When the run stopped, nothing was left to run and no timer was pending. */
  readonly quiescent: boolean
  /** Virtual ms when the run stopped. */
  readonly time: number
  readonly steps: number
}

/**
 * Runs `program` in a simulated world and reports how it ended, what happened, and what was left.
 *
 * **Details**: the program gets its own scope (closed before the run ends) and the world's Clock,
 * Random and Scheduler; other services come from the caller. After the program ends the world
 * runs on until nothing is left to do, so the report shows whether everything stopped.
 *
 * **Gotchas**: a run is reproducible only if the program and its handlers take time from
 * Effect's `Clock` and randomness from Effect's `Random` — not `Date.now`, `Math.random`, real
 * timers or real I/O, which the world neither controls nor waits for (a program waiting on them
 * is reported as a `Deadlock`). Span and trace ids come from the tracer (Effect's draws them
 * from `Math.random`): spans replay but for their ids. Fiber ids (an interruption's cause holds
 * one) count every fiber of the thread: two runs of a seed differ in them. Runs may overlap;
 * each stays reproducible if they share no state. Interrupting a run abandons its world, as
 * terminating its threads would: the program's own finalizers do not run.
 * Options that are no seed, limit, range or fault plan (`seed: NaN`, `maxSteps: NaN`, a negative
 * latency, `min` above `max`, a misspelt fault, key or a NaN in one) die with a `RangeError` naming the
 * option. A fault naming a worker or pool that the run never starts does nothing.
 */
export const run = <A, E, R>(
  program: Effect.Effect<A, E, R>,
  options: RunOptions
): Effect.Effect<Report<A, E>, never, Exclude<R, World | Scope.Scope>> =>
  Effect.flatMap(Effect.context<Exclude<R, World | Scope.Scope>>(), (outer) => {
    const limits = limitsOf(options)
    if (limits instanceof RangeError) return Effect.die(limits)
    const { faults } = limits
    return Effect.callback<Report<A, E>>((resume) => {
      const world = new SimulatedWorld(options.seed)
      const caller = world.process("caller")
      const trace: Array<Event> = []
      const latency = options.latency ?? defaultRange
      const work = options.work ?? defaultRange
      const state = {
        world,
        caller,
        faults,
        latency,
        work,
        record: (event: Event) => void trace.push(event),
        pools: [] as WorldState["pools"]
      }
      const context = Context.merge(outer as Context.Context<unknown>, caller.services).pipe(Context.add(World, state))
      let fiber: Fiber.Fiber<A, E> | undefined
      caller.enqueue(() => {
        fiber = Effect.runForkWith(context)(Effect.scoped(program) as Effect.Effect<A, E, unknown>)
      })
      const finished = () => fiber?.pollUnsafe() !== undefined
      void (async () => {
        let outcome: DriveOutcome = await world.drive(finished, limits)
        if (outcome === "aborted") return
        // The program is done: let the world run down, to see whether anything is left running.
        if (outcome === "done") outcome = await world.drive(() => false, limits)
        if (outcome === "aborted") return
        const exit: Exit.Exit<A, E | SimulationError> = fiber?.pollUnsafe() ?? Exit.fail(stuck(outcome, world.now))
        resume(Effect.succeed({
          seed: options.seed,
          faults,
          latency,
          work,
          maxSteps: limits.maxSteps,
          maxTime: limits.maxTime,
          exit,
          trace,
          pools: state.pools.map((pool) => pool.summary()),
          quiescent: outcome === "quiescent",
          time: world.now,
          steps: world.steps
        }))
      })().catch((error) => resume(Effect.die(error)))
      return Effect.sync(() => world.abort())
    })
  })

/**
 * The backend of a simulated run, for `WorkerPool.layer`: pools built with it get simulated
 * workers in the run's world. Only `run` provides the `World`, so a program that uses it outside
 * a simulation does not compile.
 *
 * **Details**: faults of the run's plan whose `pool` is a pool's number apply to its workers, and
 * to the actors living on them. The actor host is the real one, on the world's virtual timers:
 * restart backoffs take no real time. The trace shows what the pool decided (`Submit`, `Settle`,
 * `ActorSpawn`, `ActorCall`, `ActorAnswer`, `ActorRestart`, …), what crossed the wire (`Dispatch`,
 * `Reply`, `ActorPlace`, …) and what each worker ran (`Start`, `Finish`, `ActorBuild`,
 * `ActorStart`, `ActorFinish`, `ActorFinalized`), with the same ids throughout.
 */
export const backend: Layer.Layer<WorkerBackend, never, World> = Layer.effect(
  WorkerBackend,
  Effect.map(World, simulatedBackend)
)

/** What the simulated backend can do: share memory; not stop a handler that never yields, nor contain a real crash. */
export const capabilities = simulatedCapabilities

/** Options of a simulated pool: those of `WorkerPool.layer` that mean something without threads. */
export interface LayerOptions extends
  Pick<
    WorkerPool.Options,
    "initTimeout" | "exitTimeout" | "shutdownTimeout" | "interruptGrace" | "retries" | "pipelineDepth" | "maxQueued" | "whenFull"
    | "maxTasksPerWorker"
  >
{
  /** The worker entry, or its module URL or path (loaded into the caller's thread). */
  readonly entry: URL | string | WorkerEntry
  /** Workers. Default 2. */
  readonly size?: number | undefined
}

/**
 * A simulated pool serving `group`: `WorkerPool.layer` on the simulated `backend`, for a program
 * that `run` runs.
 */
export const layer = <Tasks extends Any, Actors extends { readonly name: string } = never>(
  group: Group<Tasks, Actors>,
  options: LayerOptions
): Layer.Layer<Runner<Tasks["name"] | Actors["name"]>, PoolError, World> =>
  // `size: "cores"` is refused by the pool itself, on this backend however it is provided.
  WorkerPool.layer(group, options).pipe(Layer.provide(backend))

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

const RangeSchema = Schema.Struct({ min: Schema.Number, max: Schema.Number })

/**
 * A property of a simulated run did not hold. The message starts with how to replay the run and
 * ends with the last events of its trace; `seed`, `faults`, `latency`, `work` and the limits replay it.
 */
export class PropertyFailed extends Schema.TaggedError<PropertyFailed>()("PropertyFailed", {
  seed: Schema.Number,
  faults: FaultPlan,
  latency: RangeSchema,
  work: RangeSchema,
  maxSteps: Schema.Number,
  maxTime: Schema.Number,
  message: Schema.String
}) {}

/**
 * Runs `assertions` over a report and returns it. If they throw, or the program never finished,
 * throws a `PropertyFailed` whose message says how to replay the run (its seed and fault plan),
 * what failed, and how the trace ended.
 *
 * **When to use**: in a synchronous check, or in `it.effect.prop`, where a throw falsifies.
 * `check` is the same as an Effect that fails, for `Arbitrary.checkEffect`.
 *
 * **Gotchas**: `assertions` run synchronously; ones that return a Promise or an Effect fail the
 * property (nothing could wait for them). Run effectful checks before, on the report. Returning
 * `false` fails it too, as in a property.
 */
export const verify = <A, E>(report: Report<A, E>, assertions?: (report: Report<A, E>) => void): Report<A, E> => {
  try {
    if (Exit.isFailure(report.exit)) {
      const error = Cause.findErrorOption(report.exit.cause)
      if (error._tag === "Some" && error.value instanceof SimulationError) throw error.value
    }
    const returned: unknown = assertions?.(report)
    // A predicate fits the `=> void` parameter too; its `false` falsifies, as a property's does.
    if (returned === false) throw new Error("the assertions returned false")
    // A `=> void` parameter accepts an async function or one returning an Effect: neither can be
    // waited for here, and passing would hide what they find.
    if (Effect.isEffect(returned) || isPromiseLike(returned)) {
      if (returned instanceof Promise) returned.catch(() => {})
      throw new TypeError(
        "Simulation.verify/check: assertions must be synchronous (throw to fail); they returned a Promise or an Effect, which cannot be waited for here"
      )
    }
    return report
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    throw new PropertyFailed({
      seed: report.seed,
      faults: report.faults,
      latency: report.latency,
      work: report.work,
      maxSteps: report.maxSteps,
      maxTime: report.maxTime,
      message: `${replay(report)}\n${message}\n${formatTrace(report.trace, 30)}`
    })
  }
}

/** `verify` as an Effect: fails with `PropertyFailed` instead of throwing. */
export const check = <A, E>(
  report: Report<A, E>,
  assertions?: (report: Report<A, E>) => void
): Effect.Effect<Report<A, E>, PropertyFailed> =>
  Effect.try({ try: () => verify(report, assertions), catch: (error) => error as PropertyFailed })

/** How to replay a run: the options that reproduce its schedule (those left at their defaults are left out). */
export const replay = (
  report: Pick<Report<unknown, unknown>, "seed" | "faults"> & Partial<Pick<Report<unknown, unknown>, "latency" | "work" | "maxSteps" | "maxTime">>
): string => {
  const options = [`seed: ${report.seed}`, `faults: ${JSON.stringify(report.faults)}`]
  for (const name of ["latency", "work"] as const) {
    const range = report[name]
    if (range !== undefined && (range.min !== defaultRange.min || range.max !== defaultRange.max)) {
      options.push(`${name}: ${JSON.stringify({ min: range.min, max: range.max })}`)
    }
  }
  // A limit decides where a stopped run stops.
  if (report.maxSteps !== undefined && report.maxSteps !== defaultMaxSteps) options.push(`maxSteps: ${report.maxSteps}`)
  if (report.maxTime !== undefined && report.maxTime !== defaultMaxTime) options.push(`maxTime: ${report.maxTime}`)
  return `Simulation failed; replay with Simulation.run(program, { ${options.join(", ")} })`
}

/** A trace as text, one event a line; `last` keeps only the final events. */
export const formatTrace = (trace: ReadonlyArray<Event>, last?: number): string => {
  // Not `slice(-last)`: -0 is the start.
  const shown = last === undefined ? trace : trace.slice(Math.max(0, trace.length - Math.max(0, last)))
  const header = shown.length < trace.length ? `last ${shown.length} of ${trace.length} events:` : `${trace.length} events:`
  return [header, ...shown.map(formatEvent)].join("\n")
}

export const formatEvent = (event: Event): string => {
  const { _tag, at, pool, ...rest } = event
  const fields = Object.entries(rest).map(([key, value]) =>
    `${key}=${
      key === "tasks"
        ? `[${(value as ReadonlyArray<unknown>).map((t) => typeof t === "number" ? t : wireTask(t)).join(" ")}]`
        : typeof value === "string"
        ? JSON.stringify(value)
        : String(value)
    }`
  )
  return `${at.toFixed(1).padStart(9)} ms  pool ${pool}  ${_tag.padEnd(10)} ${fields.join(" ")}`
}

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

const defaultRange: Range = { min: 0, max: 2 }
const defaultMaxSteps = 1_000_000
const defaultMaxTime = 3_600_000

/**
 * The run's limits and fault plan, or why its options are none (a programming error). Checked
 * first: a NaN `maxSteps` never stopped a run that never rests, `Duration` reads a NaN `maxTime`
 * as 0, a NaN or negative latency (or `Slow` factor, or `CrashAt` time) put the world's events at
 * NaN or in the past, and a misspelt fault or a NaN seed was silently another run.
 */
const limitsOf = (
  options: RunOptions
): { readonly maxSteps: number; readonly maxTime: number; readonly faults: FaultPlan } | RangeError => {
  // A string shows quoted: `seed: "1"` is refused as a string, which "got 1" hid.
  const invalid = (name: string, value: unknown, expected: string) =>
    new RangeError(
      `Simulation.run: ${name} must be ${expected}, got ${
        typeof value === "object" || typeof value === "string" ? JSON.stringify(value) : String(value)
      }`
    )
  if (typeof options !== "object" || options === null) return invalid("options", options, "an object with a seed")
  if (!Number.isFinite(options.seed)) return invalid("seed", options.seed, "a finite number")
  const faults = options.faults ?? []
  try {
    // A misspelt key (`pol`, a `worker` on `CorruptPayload`) would be dropped: another plan than meant.
    Schema.decodeUnknownSync(FaultPlan)(faults, { onExcessProperty: "error" })
  } catch (error) {
    // JSON shows a NaN as null, so the Schema's message (which names the field) goes first.
    return new RangeError(`Simulation.run: faults must be a fault plan (see Simulation.Fault): ${(error as Error).message}`)
  }
  for (const name of ["latency", "work"] as const) {
    const range = options[name]
    if (range !== undefined && !(range.min >= 0 && range.max >= range.min && Number.isFinite(range.max))) {
      return invalid(name, range, "a range of virtual ms with 0 <= min <= max, both finite")
    }
  }
  const maxSteps = options.maxSteps ?? defaultMaxSteps
  if (!(Number.isInteger(maxSteps) && maxSteps >= 1) && maxSteps !== Infinity) {
    return invalid("maxSteps", maxSteps, "a whole number >= 1, or Infinity")
  }
  const input = options.maxTime
  const maxTime = input === undefined ? defaultMaxTime : durationMillis(input)
  if (!(maxTime >= 0)) return invalid("maxTime", input, "a duration >= 0")
  return { maxSteps, maxTime, faults }
}

const stuck = (outcome: DriveOutcome, now: number): SimulationError => {
  switch (outcome) {
    case "step-limit":
      return new SimulationError({ reason: "StepLimit", message: `the program had not finished after its step limit (at ${now} virtual ms)` })
    case "time-limit":
      return new SimulationError({ reason: "TimeLimit", message: `the program had not finished at its time limit (${now} virtual ms)` })
    default:
      return new SimulationError({
        reason: "Deadlock",
        message: `the program is waiting, but nothing in the world can wake it (at ${now} virtual ms)`
      })
  }
}

const isPromiseLike = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"

const wireTask = (task: unknown): string => {
  const { id, submission, index, attempt } = task as { id: number; submission: number; index: number; attempt: number }
  return `${id}(s${submission}#${index}${attempt > 1 ? ` try ${attempt}` : ""})`
}
