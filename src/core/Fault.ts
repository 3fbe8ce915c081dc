/**
 * The fault model of simulated runs: faults as plain data, so that a property can generate them
 * and shrinking can simplify them, and `faultPlan` to generate plans within bounds.
 */
import * as Arbitrary from "effect/Arbitrary"
import * as Schema from "effect/Schema"

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Factor = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

const makeFaults = (bounds: {
  readonly worker: Schema.Int
  readonly task: Schema.Int
  readonly millis: Schema.Int
  readonly factor: Schema.Int
  readonly pool: Schema.Int
}, generated: boolean) => {
  // A plan may say `pool: undefined` (what TypeScript allows without exactOptionalPropertyTypes);
  // generated ones leave the key out.
  const pool = generated ? Schema.optionalKey(bounds.pool) : Schema.optional(bounds.pool)
  return {
    CrashOnInit: Schema.TaggedStruct("CrashOnInit", { worker: bounds.worker, pool }),
    HangOnInit: Schema.TaggedStruct("HangOnInit", { worker: bounds.worker, pool }),
    CrashOnTask: Schema.TaggedStruct("CrashOnTask", { worker: bounds.worker, task: bounds.task, pool }),
    CrashAt: Schema.TaggedStruct("CrashAt", { worker: bounds.worker, millis: bounds.millis, pool }),
    CrashOnExit: Schema.TaggedStruct("CrashOnExit", { worker: bounds.worker, pool }),
    Slow: Schema.TaggedStruct("Slow", { worker: bounds.worker, factor: bounds.factor, pool }),
    CorruptPayload: Schema.TaggedStruct("CorruptPayload", { task: bounds.task, pool })
  }
}

/**
 * One injected fault, as plain data (so a property can generate it and shrinking can simplify
 * it). `worker` is a pool's worker id: the first workers are `0 … size-1`, each replacement gets
 * the next id. `pool` numbers the simulated pools of a run in the order their layers are built
 * (default 0).
 *
 * - `CrashOnInit`: the worker dies just before its ready handshake.
 * - `HangOnInit`: its per-worker Layer never finishes building (the pool's `initTimeout` cuts it off).
 * - `CrashOnTask`: it dies after running the handler of its `task`-th task (0-based, counting every
 *   handler it starts, actor methods included), before the result leaves: the work and its side
 *   effects happened, the answer is lost.
 * - `CrashAt`: it dies `millis` virtual ms after it was started, whatever it is doing.
 * - `CrashOnExit`: it dies as its exit hooks begin, during shutdown.
 * - `Slow`: its messages and its tasks take `factor` times as long.
 * - `CorruptPayload`: the pool's `task`-th dispatched task (0-based, retries included) arrives with
 *   a payload no Schema but `Unknown`/`Any` decodes.
 */
export const Fault = Schema.Union(Object.values(
  makeFaults({ worker: NonNegativeInt, task: NonNegativeInt, millis: NonNegativeInt, factor: Factor, pool: NonNegativeInt }, false)
))
export type Fault = typeof Fault.Type

export const FaultPlan = Schema.Array(Fault)
export type FaultPlan = ReadonlyArray<Fault>

export interface FaultPlanBounds {
  /** Worker ids are drawn from `0 … workers-1`; count replacements in. Default 4. */
  readonly workers?: number | undefined
  /** `task` indexes are drawn from `0 … tasks-1`. Default 16. */
  readonly tasks?: number | undefined
  /** `CrashAt` times are drawn from `0 … millis`. Default 50. */
  readonly millis?: number | undefined
  /** `Slow` factors are drawn from `1 … slowness`. Default 8. */
  readonly slowness?: number | undefined
  /** At most this many faults per plan. Default 4. */
  readonly maxFaults?: number | undefined
  /** Pools of the run. Default 1. */
  readonly pools?: number | undefined
  /** Only these kinds. Default: all. */
  readonly kinds?: ReadonlyArray<Fault["_tag"]> | undefined
}

/**
 * Fault plans for a property, within bounds that fit the program: a plan naming worker 40 of a
 * two-worker pool tests nothing. Shrinks toward fewer and simpler faults; `kinds: []` gives only
 * empty plans.
 *
 * **Gotchas**: a bound that is not a whole number in its range (`workers: 0`, `millis: -1`, NaN) or
 * an unknown kind throws a `RangeError` naming it.
 */
export const faultPlan = (bounds: FaultPlanBounds = {}): Arbitrary.Arbitrary<FaultPlan> => {
  const bound = (name: keyof FaultPlanBounds, fallback: number, minimum: number): number => {
    const value = bounds[name] ?? fallback
    if (Number.isSafeInteger(value) && (value as number) >= minimum) return value as number
    throw new RangeError(`Simulation.faultPlan: ${name} must be a whole number >= ${minimum}, got ${String(value)}`)
  }
  const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))
  const faults = makeFaults({
    worker: between(0, bound("workers", 4, 1) - 1),
    task: between(0, bound("tasks", 16, 1) - 1),
    millis: between(0, bound("millis", 50, 0)),
    factor: between(1, bound("slowness", 8, 1)),
    pool: between(0, bound("pools", 1, 1) - 1)
  }, true)
  const maxFaults = bound("maxFaults", 4, 0)
  const kinds = bounds.kinds ?? (Object.keys(faults) as Array<Fault["_tag"]>)
  const unknown = kinds.filter((kind) => !Object.hasOwn(faults, kind))
  if (unknown.length > 0) {
    throw new RangeError(`Simulation.faultPlan: kinds must name faults (${Object.keys(faults).join(", ")}), got ${JSON.stringify(unknown)}`)
  }
  // A union needs a member to generate from; with none, every plan is empty.
  if (kinds.length === 0) return Arbitrary.schema(Schema.Tuple([]))
  const members = kinds.map((kind) => faults[kind])
  const plan = Schema.Array(Schema.Union(members)).check(Schema.isMaxLength(maxFaults))
  return Arbitrary.schema(plan) as Arbitrary.Arbitrary<FaultPlan>
}

