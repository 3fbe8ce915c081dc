/**
 * What the chaos soak runs (`scripts/chaos.ts`): one task whose `kind` says how it behaves, an
 * actor that numbers its answers, and a task over a shared array (backends that share memory).
 */
import * as Schema from "effect/Schema"
import { Actor, SharedArray, Task } from "../../src/worker.ts"

export class Refused extends Schema.TaggedError<Refused>()("Refused", { id: Schema.Int }) {}

/**
 * How a `Work` task behaves: answers at once (`quick`), sleeps or blocks its thread for `millis`
 * (`sleep`, `spin`), fails with its declared error (`fail`), throws (`defect`), allocates past
 * the worker's heap limit (`oom`), or ends its worker (`exit`).
 */
export const Kind = Schema.Literals(["quick", "sleep", "spin", "fail", "defect", "oom", "exit"])
export type Kind = typeof Kind.Type

/** Answers its `id`; the worker appends `id` to the run log before anything else. */
export const Work = Task.make("Work", {
  payload: { id: Schema.Int, kind: Kind, millis: Schema.Int },
  success: Schema.Int,
  error: Refused
})

/**
 * Counts its calls. Each answer names the instance (a token made when it was built) and its
 * worker, so the caller sees a restart, and an answer from an instance that should be gone.
 */
export const Tally = Actor.make("Tally", {
  init: { key: Schema.Int },
  methods: {
    bump: {
      payload: { millis: Schema.Int },
      success: Schema.Struct({ instance: Schema.String, count: Schema.Int, workerId: Schema.Int })
    }
  }
})

/** Sums a shared array, read in place. */
export const Total = Task.make("Total", { payload: { values: SharedArray.Float64 }, success: Schema.Number })

export const ChaosTasks = Task.group(Work, Tally)
export const ChaosSharedTasks = Task.group(Work, Tally, Total)

/**
 * Which replacement workers fail or hang while they start, from the seed: a fraction of worker
 * ids at or above `first` (the first workers must start, or the pool is never built), never two
 * in a row (five replacements failing in a row break a pool, by design). Read by the workers'
 * Layer from `$EP_CHAOS_INIT`.
 */
export interface InitPlan {
  readonly seed: number
  readonly first: number
  readonly fail: number
  readonly hang: number
}

export const initFate = (plan: InitPlan, workerId: number): "ok" | "fail" | "hang" => {
  const draw = (id: number) => id < plan.first ? 1 : hash(plan.seed, id)
  if (workerId > plan.first && draw(workerId - 1) < plan.fail + plan.hang) return "ok"
  const r = draw(workerId)
  return r < plan.fail ? "fail" : r < plan.fail + plan.hang ? "hang" : "ok"
}

/** A number in [0, 1) from two integers (a 32-bit mix). */
export const hash = (a: number, b: number): number => {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0
  return ((h ^ (h >>> 16)) >>> 0) / 4_294_967_296
}
