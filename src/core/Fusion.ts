/**
 * Fused tasks: adjacent tasks of one pool that run in a single visit to a worker — the element
 * goes from one task's handler to the next inside the worker and never returns to the caller
 * between them (Ray Data's operator fusion).
 *
 * Contains the model (`Fused`: a task definition whose stages are other tasks), its constructor
 * (`fuse`), the wire name that lets a worker rebuild it from its group (`wireName`, `fromWireName`)
 * and the failure it reports (`StageFailed`, which names the stage that failed).
 *
 * A fused task is a task definition like any other on the wire (payload: the first stage's,
 * success: the last stage's), so every backend runs it through the one handler path; its error
 * Schema carries the failed stage's position with that stage's declared error, or the reason
 * (`Defect`, `PayloadInvalid`) that stage broke with.
 */
import * as Schema from "effect/Schema"
import { Defect, PayloadInvalid } from "./TaskError.ts"
import { type Any, type Error, type Name, type Payload, type Success, type Task, TypeId } from "./Task.ts"

export const FusedTypeId = "~effect-parallel/Fused" as const
export type FusedTypeId = typeof FusedTypeId

/**
 * Tasks run one after the other on one worker per element: `In` is the first stage's payload,
 * `Out` the last stage's success, `Stages` the tasks (their errors and pools are the fused task's).
 */
export interface Fused<out Stages extends Any, out In, out Out> extends Task<string, Schema.Top, Schema.Top, Schema.Top> {
  readonly [FusedTypeId]: { readonly In: (_: never) => In; readonly Out: (_: never) => Out }
  readonly stages: ReadonlyArray<Stages>
}

export type AnyFused = Fused<Any, any, any>

export type Stages<F> = F extends Fused<infer S, any, any> ? S : never
export type In<F> = F extends Fused<any, infer I, any> ? I : never
export type Out<F> = F extends Fused<any, any, infer O> ? O : never

/**
 * What a fused task fails with on the wire and in the caller's call path: the position of the
 * stage that failed, and that stage's declared error (`Failed`) or why it broke (`Broke`: its
 * handler died, its result did not match its Schema, or the value it got did not match its
 * payload Schema), with a rendering of that stage's input.
 */
export type StageFailed =
  | { readonly _tag: "Failed"; readonly stage: number; readonly error: unknown }
  | { readonly _tag: "Broke"; readonly stage: number; readonly reason: Defect | PayloadInvalid; readonly input: string }

/**
 * How a fused task's failure reaches the code that runs it (a pipeline stage): which stage failed
 * (`-1`: the whole chain, as when its worker was lost or the pool closed) and with what — that
 * stage's declared error, or a `TaskError` that names that stage's task (the chain's, for `-1`).
 */
export class FusedStageError {
  readonly stage: number
  readonly error: unknown
  constructor(stage: number, error: unknown) {
    this.stage = stage
    this.error = error
  }
}

/** The chain's name where no one stage failed: its stages' names joined. */
export const chainName = (fused: AnyFused): string => fused.stages.map((stage) => stage.name).join("+")

export const isFused = (u: unknown): u is AnyFused => typeof u === "object" && u !== null && FusedTypeId in u

/** Whether `Success<A>` can be `B`'s payload: the next stage of a fused chain. */
type After<A extends Any, B extends Any> = [Success<A>] extends [Payload<B>] ? B : never

/**
 * Fuses adjacent tasks into one: each element runs every stage in turn on one worker. The
 * stages must be served by one pool (a pipeline stage checks, and runs them unfused otherwise).
 *
 * **When to use**: consecutive task stages on the same pool whose intermediate values are large
 * (images, arrays) or whose work is small: fused, an element crosses to a worker once and back
 * once instead of once per stage, and stays in that worker's cache between stages.
 *
 * **Details**: between stages the value goes through what the caller would have done with it —
 * the stage's success Schema encodes and decodes it, the next stage's payload Schema encodes and
 * decodes it — so a fused chain accepts and rejects exactly what the separate stages would.
 * A failure names the stage it happened in.
 *
 * **Gotchas**: the stages share the fused stage's batching and concurrency; a stage that needs
 * more workers than the others cannot get them while fused.
 */
export function fuse<A extends Any, B extends Any>(a: A, b: After<A, B>): Fused<A | B, Payload<A>, Success<B>>
export function fuse<A extends Any, B extends Any, C extends Any>(
  a: A,
  b: After<A, B>,
  c: After<B, C>
): Fused<A | B | C, Payload<A>, Success<C>>
export function fuse<A extends Any, B extends Any, C extends Any, D extends Any>(
  a: A,
  b: After<A, B>,
  c: After<B, C>,
  d: After<C, D>
): Fused<A | B | C | D, Payload<A>, Success<D>>
export function fuse<A extends Any, B extends Any, C extends Any, D extends Any, E extends Any>(
  a: A,
  b: After<A, B>,
  c: After<B, C>,
  d: After<C, D>,
  e: After<D, E>
): Fused<A | B | C | D | E, Payload<A>, Success<E>>
export function fuse(...stages: ReadonlyArray<Any>): AnyFused {
  if (stages.length < 2) throw new RangeError(`Pipeline.fuse: at least two tasks, got ${stages.length}`)
  for (const stage of stages) if (isFused(stage)) throw new TypeError("Pipeline.fuse: fuse the tasks of a fused task directly")
  const failure = Schema.Union(stages.flatMap((stage, k) => [
    Schema.Struct({ _tag: Schema.Literal("Failed"), stage: Schema.Literal(k), error: stage.error }),
    Schema.Struct({
      _tag: Schema.Literal("Broke"),
      stage: Schema.Literal(k),
      reason: Schema.Union([Defect, PayloadInvalid]),
      input: Schema.String
    })
  ]))
  return {
    [TypeId]: TypeId,
    [FusedTypeId]: { In: undefined as never, Out: undefined as never },
    name: wireName(stages.map((stage) => stage.name)),
    payload: stages[0]!.payload,
    success: stages[stages.length - 1]!.success,
    error: failure,
    stages
  }
}

/** A fused task's name on the wire: a prefix no plain lookup hits first, then its stages' names. */
export const wireName = (names: ReadonlyArray<string>): string => `${wirePrefix}${JSON.stringify(names)}`

const wirePrefix = "fused:"

/**
 * The fused task a worker is asked to run, rebuilt from its wire name and the tasks the worker
 * serves (`undefined`: not a fused name, or a stage the worker does not serve). Built once per name.
 */
export const fromWireName = (name: string, tasks: { readonly [name: string]: Any }): AnyFused | undefined => {
  if (!name.startsWith(wirePrefix)) return undefined
  let cached = rebuilt.get(tasks)?.get(name)
  if (cached !== undefined) return cached
  let names: unknown
  try {
    names = JSON.parse(name.slice(wirePrefix.length))
  } catch {
    return undefined
  }
  if (!Array.isArray(names) || names.length < 2) return undefined
  const stages: Array<Any> = []
  for (const stageName of names) {
    const stage = typeof stageName === "string" && Object.hasOwn(tasks, stageName) ? tasks[stageName] : undefined
    if (stage === undefined) return undefined
    stages.push(stage)
  }
  cached = (fuse as (...stages: ReadonlyArray<Any>) => AnyFused)(...stages)
  let byName = rebuilt.get(tasks)
  if (byName === undefined) rebuilt.set(tasks, byName = new Map())
  byName.set(name, cached)
  return cached
}

const rebuilt = new WeakMap<object, Map<string, AnyFused>>()

/** The failures of running a fused task's stages: each stage's declared error or `TaskError`. */
export type StageError<S> = S extends Any ? Error<S> : never
export type StageName<S> = S extends Any ? Name<S> : never
