/**
 * Tasks: named, Schema-typed units of work that run on a pool of workers — the definitions.
 *
 * Contains the model (`Task`, `Group`), the requirement a pool satisfies (`Runner`), and the
 * constructors (`make`, `group`). Calling a task (`run`, `map`, `stream`) is the public API's
 * (`effect-parallel`'s `Task` namespace), built on the runtime.
 *
 * A definition is a plain value: the caller and the worker entry import the same module.
 */
import * as Schema from "effect/Schema"
export const TypeId = "~effect-parallel/Task" as const
export type TypeId = typeof TypeId

/**
 * A task definition. `Payload`, `Success` and `Error` are Schemas: whatever crosses to a worker
 * is encoded and decoded by them, so a declared error arrives in the caller as the same class.
 */
export interface Task<
  out Name extends string,
  out Payload extends Schema.Top,
  out Success extends Schema.Top,
  out Error extends Schema.Top
> {
  readonly [TypeId]: TypeId
  readonly name: Name
  readonly payload: Payload
  readonly success: Success
  readonly error: Error
}

export type Any = Task<string, Schema.Top, Schema.Top, Schema.Top>

export type Name<T> = T extends Task<infer N, any, any, any> ? N : never
export type Payload<T> = T extends Task<any, infer P, any, any> ? P["Type"] : never
export type Success<T> = T extends Task<any, any, infer S, any> ? S["Type"] : never
export type Error<T> = T extends Task<any, any, any, infer E> ? E["Type"] : never

/**
 * A set of tasks (and actors) served together: a worker entry serves a group, a pool runs one.
 */
export interface Group<out Tasks extends Any, out Actors = never> {
  readonly [GroupTypeId]: GroupTypeId
  readonly tasks: { readonly [name: string]: Tasks }
  readonly actors: { readonly [name: string]: Actors }
}
export const GroupTypeId = "~effect-parallel/Task/Group" as const
export type GroupTypeId = typeof GroupTypeId

export type Tasks<G> = G extends Group<infer T, any> ? T : never
export type Actors<G> = G extends Group<any, infer A> ? A : never

/**
 * The requirement that running a task adds to an Effect: a pool serving the task's group.
 * `WorkerPool.layer(group, …)` provides it for every task of the group, so a program that runs
 * a task and never provides its pool does not compile.
 */
export interface Runner<out Name extends string> {
  readonly [RunnerTypeId]: Name
}
export const RunnerTypeId = "~effect-parallel/Task/Runner" as const
export type RunnerTypeId = typeof RunnerTypeId

export const isTask = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u
export const isGroup = (u: unknown): u is Group<Any> => typeof u === "object" && u !== null && GroupTypeId in u

/** What a group holds besides tasks: actors (`Actor.make`), known here only by name. */
export interface Member {
  readonly name: string
}

/** What `payload` may be: a Schema, or the fields of a struct. */
export type PayloadInput = Schema.Top | Schema.Struct.Fields
/** The Schema a `payload` stands for. */
export type PayloadSchema<P> = P extends Schema.Top ? P : P extends Schema.Struct.Fields ? Schema.Struct<P> : never

/**
 * Whether a call may leave the payload out: its Schema takes `undefined` (`Schema.Void`, no
 * payload declared) or `{}` (a struct with no fields, or only optional ones).
 */
export type PayloadOptional<T> = undefined extends Payload<T> ? true : {} extends Payload<T> ? true : false

/** A call's payload argument: optional where `PayloadOptional`. */
export type PayloadArg<T> = PayloadOptional<T> extends true ? [payload?: EmptyAsNone<Payload<T>>] : [payload: Payload<T>]

/**
 * A payload with no fields (`payload: {}`) as an argument: `{}`, never an object with keys. The
 * type `{}` takes any object, so options put in the payload's place (`Task.run(Reset, { timeout })`)
 * compiled, and were sent as the payload with the timeout ignored.
 */
type EmptyAsNone<P> = [keyof P] extends [never] ? P extends object ? { readonly [key: string]: never } : P : P

/**
 * Defines a task. `payload` is a Schema or the fields of a struct, and defaults to `Schema.Void`
 * (no payload: `Task.run(task)`); `success` defaults to `Schema.Void` and `error` to
 * `Schema.Never` (the task declares no error).
 *
 * **Gotchas**: names must be unique among the tasks a program runs: a pool provides its tasks
 * by name.
 */
export const make = <
  const TaskName extends string,
  const P extends PayloadInput = Schema.Void,
  S extends Schema.Top = Schema.Void,
  E extends Schema.Top = Schema.Never
>(
  name: TaskName,
  options?: { readonly payload?: P; readonly success?: S; readonly error?: E }
): Task<TaskName, PayloadSchema<P>, S, E> => ({
  [TypeId]: TypeId,
  name,
  payload: (options?.payload === undefined
    ? Schema.Void
    : Schema.isSchema(options.payload)
    ? options.payload
    : Schema.Struct(options.payload)) as PayloadSchema<P>,
  success: (options?.success ?? Schema.Void) as S,
  error: (options?.error ?? Schema.Never) as E
})

/** Groups tasks and actors so that one worker entry serves them and one pool runs them. */
export const group = <const T extends ReadonlyArray<Any | Member>>(
  ...members: T
): Group<Extract<T[number], Any>, Exclude<T[number], Any>> => {
  // Without a prototype: "toString" or "constructor" is a name like any other, and "__proto__" a key.
  const tasks: Record<string, Any> = Object.create(null)
  const actors: Record<string, Member> = Object.create(null)
  for (const member of members) {
    if (Object.hasOwn(tasks, member.name) || Object.hasOwn(actors, member.name)) {
      throw new globalThis.Error(`Task.group: duplicate name "${member.name}"`)
    }
    if (isTask(member)) tasks[member.name] = member
    else actors[member.name] = member
  }
  return { [GroupTypeId]: GroupTypeId, tasks, actors } as Group<Extract<T[number], Any>, Exclude<T[number], Any>>
}
