/**
 * The backend rows every contract-style suite loops over, and helpers that read typed errors.
 * A row is a backend Layer, its capabilities, and how a program runs on it: as it is, or as the
 * program of a seeded simulation. Adding a backend is one row here.
 */
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import {
  ActorError,
  InlineBackend,
  PoolError,
  ProcessBackend,
  Simulation,
  TaskError,
  ThreadBackend,
  type WorkerBackend
} from "../../src/index.ts"
import { EventHub } from "../../src/runtime/observe/EventHub.ts"
import { Dispatcher, type DispatcherOptions } from "../../src/runtime/scheduler/Dispatcher.ts"

export interface Row {
  readonly name: string
  readonly backend: Layer.Layer<WorkerBackend.WorkerBackend, never, Simulation.World>
  readonly capabilities: WorkerBackend.Capabilities
  /** Handlers run on real time (a simulation's take virtual time, and many calls cost real seconds). */
  readonly realTime: boolean
  /** Runs a case's program on this backend. */
  readonly within: <A, E>(body: Effect.Effect<A, E, Simulation.World>) => Effect.Effect<A, E | Simulation.SimulationError>
}

export const rows: ReadonlyArray<Row> = [
  {
    name: "threads",
    backend: ThreadBackend.layer,
    capabilities: ThreadBackend.backend.capabilities,
    realTime: true,
    within: (body) => body as Effect.Effect<any, any>
  },
  {
    name: "processes",
    backend: ProcessBackend.layer,
    capabilities: ProcessBackend.backend.capabilities,
    realTime: true,
    within: (body) => body as Effect.Effect<any, any>
  },
  {
    name: "inline",
    backend: InlineBackend.layer,
    capabilities: InlineBackend.backend.capabilities,
    realTime: true,
    within: (body) => body as Effect.Effect<any, any>
  },
  {
    name: "simulated",
    backend: Simulation.backend,
    capabilities: Simulation.capabilities,
    realTime: false,
    within: (body) => Effect.flatMap(Simulation.run(body, { seed: 20_260_101 }), (report) => report.exit)
  }
]

/** The rows that run on real time. */
export const realTimeRows: ReadonlyArray<Row> = rows.filter((row) => row.realTime)

/** The reason of a `TaskError`, asserting that it is one. */
export const reasonOf = (error: unknown): TaskError.TaskErrorReason => {
  assert.instanceOf(error, TaskError.TaskError)
  return (error as TaskError.TaskError).reason
}

/** The reason of an `ActorError`, asserting that it is one. */
export const actorReasonOf = (error: unknown): ActorError.ActorErrorReason => {
  assert.instanceOf(error, ActorError.ActorError)
  return (error as ActorError.ActorError).reason
}

/** The reason of a `PoolError`, asserting that it is one. */
export const poolReasonOf = (error: unknown): PoolError.PoolErrorReason => {
  assert.instanceOf(error, PoolError.PoolError)
  return (error as PoolError.PoolError).reason
}

/**
 * The tag that names how a call failed: a `TaskError`'s or `ActorError`'s reason (`WorkerLost`,
 * `Defect`, `Unavailable` …), a `PoolError`'s reason, or a declared error's own tag.
 */
export const errorTag = (error: unknown): string => {
  if (error instanceof TaskError.TaskError || error instanceof ActorError.ActorError || error instanceof PoolError.PoolError) {
    return error.reason._tag
  }
  return (error as { _tag?: string })._tag ?? String(error)
}

/** Scheduler options for tests that drive a `Dispatcher` directly. */
export const dispatcherOptions = {
  initTimeoutMillis: 30_000,
  shutdownTimeoutMillis: 5_000,
  exitTimeoutMillis: 1_000,
  interruptGraceMillis: 1_000,
  retries: 0,
  pipelineDepth: 2,
  maxQueued: Infinity,
  whenFull: "wait"
} as const

/** A dispatcher over `backend`'s workers for `entry`, without a pool Layer around it (not started). */
export const dispatcherOn = (
  backend: WorkerBackend.Backend,
  entry: string | URL,
  options: Partial<DispatcherOptions> & { readonly size: number; readonly replyWaitMillis?: number }
): Dispatcher => {
  const events = new EventHub(backend.timers.now)
  const resolved = { ...dispatcherOptions, ...options }
  const spawner = Effect.runSync(Effect.scoped(backend.make({
    entry,
    group: { tasks: {}, actors: {} } as never,
    size: resolved.size,
    pipelineDepth: resolved.pipelineDepth,
    retries: resolved.retries,
    replyWaitMillis: options.replyWaitMillis ?? 0,
    resourceLimits: undefined,
    recycleAboveHeapMb: undefined,
    events
  })))
  return new Dispatcher(spawner, backend.timers, resolved, events)
}
