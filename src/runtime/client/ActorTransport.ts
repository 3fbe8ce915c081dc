/**
 * How actor spawns and calls travel: the pool's actor host in the caller's thread, or, inside a
 * worker, the worker's own channel to its pool (`WorkerTransport`). Apart from `PoolClient.ts` so
 * that a worker loads none of the pool's contracts.
 */
import * as Context from "effect/Context"
import type { Any as ActorAny } from "../../core/Actor.ts"
import type { Any as TaskAny } from "../../core/Task.ts"
import type { Outcome } from "../protocol/protocol.ts"

/** A traced call: its context for the wire, and where the workers' spans for it go. */
export interface CallTrace {
  /** `protocol.traceWire` of the caller's span. */
  readonly wire: string
  /** `count` spans (protocol `SpanField` layout) from `fields[at]` on, made by `workerId` for task or call `taskId`. */
  readonly receive: (fields: ReadonlyArray<unknown>, at: number, count: number, workerId: number, taskId: number) => void
}

/** Receives a call's (or a spawn's) outcome once; `callId` names the call in the pool's events (-1: unknown here). */
export type Reply = (outcome: Outcome, value: unknown, workerId: number, callId?: number) => void

/**
 * Moves calls to actors: the pool's actor host in the caller's thread, or, inside a worker, the
 * worker's own channel to its pool.
 */
export interface ActorTransport {
  readonly spawn: (
    actor: ActorAny,
    init: unknown,
    options: { readonly worker: number | undefined; readonly maxRestarts: number; readonly backoffMillis: number; readonly maxBackoffMillis: number },
    reply: Reply
  ) => number
  /**
   * `transfer`: the buffers the payload moves (`memory: "moved"`); a worker's own calls copy them.
   * `pool`: the key of the pool that spawned the actor, for a handle decoded from a payload.
   * `tell`: nobody awaits the outcome (`Actor.tell`): a worker's tell goes on in its actor when
   * that worker dies, where its call is cancelled.
   */
  readonly call: (
    actorId: number,
    method: TaskAny,
    payload: unknown,
    reply: Reply,
    transfer?: ReadonlyArray<ArrayBuffer>,
    trace?: CallTrace | undefined,
    pool?: string | undefined,
    tell?: boolean
  ) => () => Promise<void>
  /** `actorName`, `pool`: as the handle carries them, for a stop asked from a worker. */
  readonly stop: (actorId: number, actorName?: string, pool?: string | undefined) => Promise<void>
  /**
   * Calls `listener` once when the actor dies for good (out of restarts), at once if it is dead
   * already; never for one that is stopped first. Returns the unsubscribe. Only the caller's side
   * has it: a worker learns of a death from its next call.
   */
  readonly onDead?: ((actorId: number, listener: () => void) => () => void) | undefined
}

/** Inside a worker: the channel its handlers' actor calls go through. */
export class WorkerTransport extends Context.Service<WorkerTransport, ActorTransport>()(
  "effect-parallel/Actor/WorkerTransport"
) {}
