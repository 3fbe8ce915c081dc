/**
 * The contracts between the public calling API and a pool's machinery: what a caller hands a
 * pool (`Submission`), what it gets back (`Ticket`, `Settle`), the pool as callers see it
 * (`PoolClient`), and how actor spawns and calls travel (`ActorTransport`).
 *
 * The scheduler implements them; the call path (`call.ts`) and actor handles use them. The hot
 * path is plain functions; Effects wrap it in the public API.
 */
import * as Context from "effect/Context"
import type { Any as ActorAny } from "../../core/Actor.ts"
import type { Any as TaskAny, Runner } from "../../core/Task.ts"
import type { Outcome } from "../protocol/protocol.ts"

/** Receives the outcomes of a submission, one call per task, in completion order. */
export type Settle = (index: number, outcome: Outcome, value: unknown, workerId: number, attempts: number) => void

/** A batch of tasks handed to a pool: payloads are already in their encoded (wire) form. */
export interface Submission {
  readonly taskName: string
  readonly payloads: ReadonlyArray<unknown>
  /** Tasks per message; the pool may send fewer (fair share, capacity). */
  readonly chunkSize: number
  readonly timeoutMillis: number
  readonly settle: Settle
}

/** The caller-side handle of a pool. */
export interface PoolClient {
  readonly size: number
  readonly submit: (submission: Submission) => Ticket
  /** Where spawns and calls of the pool's actors go; absent on pools without actors. */
  readonly actors?: ActorTransport | undefined
}

/** A submitted batch. `cancel` resolves when its tasks have stopped in the workers. */
export interface Ticket {
  readonly cancel: () => Promise<void>
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

// ---------------------------------------------------------------------------------------------
// Actors
// ---------------------------------------------------------------------------------------------

/** Receives a call's outcome once. */
export type Reply = (outcome: Outcome, value: unknown, workerId: number) => void

/**
 * Moves calls to actors: the pool's actor host in the caller's thread, or, inside a worker, the
 * worker's own channel to its pool.
 */
export interface ActorTransport {
  readonly spawn: (
    actor: ActorAny,
    init: unknown,
    options: { readonly worker: number | undefined; readonly maxRestarts: number; readonly backoffMillis: number },
    reply: Reply
  ) => number
  readonly call: (actorId: number, method: TaskAny, payload: unknown, reply: Reply) => () => Promise<void>
  readonly stop: (actorId: number) => Promise<void>
}

/** Inside a worker: the channel its handlers' actor calls go through. */
export class WorkerTransport extends Context.Service<WorkerTransport, ActorTransport>()(
  "effect-parallel/Actor/WorkerTransport"
) {}
