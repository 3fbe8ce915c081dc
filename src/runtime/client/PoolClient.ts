/**
 * The contracts between the public calling API and a pool's machinery: what a caller hands a
 * pool (`Submission`), what it gets back (`Ticket`, `Settle`), the pool as callers see it
 * (`PoolClient`); how actor spawns and calls travel is `ActorTransport.ts`.
 *
 * The scheduler implements them; the call path (`call.ts`) and actor handles use them. The hot
 * path is plain functions; Effects wrap it in the public API.
 */
import * as Context from "effect/Context"
import type { Runner } from "../../core/Task.ts"
import type { PoolEvents, PoolStats } from "../../core/PoolEvent.ts"
import type { Outcome } from "../protocol/protocol.ts"
import type { WireMetric } from "../protocol/metricsWire.ts"
import type { ActorTransport, CallTrace } from "./ActorTransport.ts"

/**
 * Receives the outcomes of a submission, one call per task, in completion order: the task's
 * position, how it ended, the outcome's value, the worker (-1: none), how many times it was sent,
 * and the pool-wide id of its last attempt (-1: never sent); on a cluster pool, the runner whose
 * pool held it (its worker and task ids are that pool's).
 */
export type Settle = (
  index: number,
  outcome: Outcome,
  value: unknown,
  workerId: number,
  attempts: number,
  taskId: number,
  runner?: string
) => void

/** A batch of tasks handed to a pool: payloads are already in their encoded (wire) form. */
export interface Submission {
  readonly taskName: string
  readonly payloads: ReadonlyArray<unknown>
  /** Tasks per message; the pool may send fewer (fair share, capacity). */
  readonly chunkSize: number
  /**
   * `chunkSize` is a default, not the caller's: the pool may send fewer, by what the task costs
   * (a map's chunks then end together however its costs are spread).
   */
  readonly chunkAuto?: boolean | undefined
  /** A single run: it shares messages with other single runs (up to 256), whoever made them. */
  readonly coalesce: boolean
  readonly timeoutMillis: number
  /** When the pool's queue is full (`maxQueued`): wait for room, or fail at once. Default: the pool's. */
  readonly whenFull?: "wait" | "fail" | undefined
  /**
   * The buffers each payload moves (`memory: "moved"`), by position; absent when none does. A
   * message moves the union of its tasks' lists; a task whose payload moved cannot be sent again.
   */
  readonly transfers?: ReadonlyArray<ReadonlyArray<ArrayBuffer> | undefined> | undefined
  readonly settle: Settle
  /** The caller's trace context, when the call runs in a span (absent otherwise: nothing is sent). */
  readonly trace?: CallTrace | undefined
}

export type { CallTrace } from "./ActorTransport.ts"

/** The caller-side handle of a pool. */
export interface PoolClient {
  readonly size: number
  readonly submit: (submission: Submission) => Ticket
  /**
   * Runs a fused chain of its tasks (`Pipeline.fuse`) as one task in one worker visit: its workers
   * resolve the chain's wire name. Absent (a cluster pool): fused stages run unfused on it.
   */
  readonly fuses?: boolean | undefined
  /** Where spawns and calls of the pool's actors go; absent on pools without actors. */
  readonly actors?: ActorTransport | undefined
  /** What the pool does, for observers. */
  readonly events: PoolEvents
  readonly stats: () => PoolStats
  /** Ready workers' ids, for observers that start after the pool. */
  readonly readyWorkers?: (() => ReadonlyArray<number>) | undefined
  /**
   * Has each worker send what its own metric registry holds, every `intervalMillis` and as it
   * shuts down, until the returned function is called (`undefined`: that worker is gone). Absent,
   * or doing nothing, where workers record into the caller's registry (inline, simulated).
   */
  readonly watchWorkerMetrics?: ((
    intervalMillis: number,
    onMetrics: (workerId: number, metrics: ReadonlyArray<WireMetric> | undefined) => void
  ) => () => void) | undefined
  /** Each worker's event-loop times (ms), for observers, on backends that report them. */
  readonly eventLoops?: (() => ReadonlyArray<{ readonly workerId: number; readonly idle: number; readonly active: number }>) | undefined
}

/**
 * A submitted batch: its number in the pool's events (`id`), and `cancel`, which resolves when its
 * tasks have stopped in the workers. A method, so that the pool's own record of the submission can
 * be its ticket (no second object and closure per call).
 */
export interface Ticket {
  readonly id: number
  cancel(): Promise<void>
}

const runnerKeys = new Map<string, Context.Service<any, PoolClient>>()

/** The service key under which a pool provides the named task (or actor). */
export const runnerKey = <N extends string>(name: N): Context.Service<Runner<N>, PoolClient> => {
  let key = runnerKeys.get(name)
  if (key === undefined) {
    key = Context.Service<Runner<N>, PoolClient>(`effect-parallel/Task/Runner/${name}`)
    runnerKeys.set(name, key)
  }
  return key
}
