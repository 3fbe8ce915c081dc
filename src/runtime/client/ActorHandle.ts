/**
 * Actor handles as callers hold them: a handle made by `spawn` calls through its pool's
 * transport; a handle decoded from a payload finds its pool by key — in the caller's thread the
 * registered pool, inside a worker the worker's own channel (`WorkerTransport`).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type { Any, Handle } from "../../core/Actor.ts"
import { HandleTypeId } from "../../core/Actor.ts"
import type * as Task from "../../core/Task.ts"
import { type ActorTarget, one, tell, unavailable } from "./call.ts"
import { type ActorTransport, WorkerTransport } from "./ActorTransport.ts"

/** The pool-side transport of every pool in this thread, by pool key, for handles decoded here. */
const poolTransports = new Map<string, ActorTransport>()

/** Each registered transport's pool key, so a handle it made can be encoded with its pool. */
const transportKeys = new WeakMap<ActorTransport, string>()

/** Registers a pool's transport under `key` while the pool is open. */
export const registerPool = (key: string, transport: ActorTransport): () => void => {
  poolTransports.set(key, transport)
  transportKeys.set(transport, key)
  return () => void poolTransports.delete(key)
}

interface HandleImpl<A extends Any> extends Handle<A> {
  readonly transport: ActorTransport
  readonly poolKey: () => string
  readonly stopFrom: (context: Context.Context<never>) => Promise<void>
}

/** The transport a handle made in this thread calls through (its pool's). */
export const transportOf = <A extends Any>(handle: Handle<A>): ActorTransport => (handle as HandleImpl<A>).transport

/**
 * Stops the handle's actor through the transport that reaches it from the fiber whose context is
 * `context`: inside a worker, the worker's channel (as its calls), else its pool.
 */
export const stopHandle = <A extends Any>(handle: Handle<A>, context: Context.Context<never>): Promise<void> =>
  (handle as HandleImpl<A>).stopFrom(context)

/** The key of the pool a handle belongs to, for encoding it into a payload. */
export const poolKeyOf = <A extends Any>(handle: Handle<A>): string => (handle as HandleImpl<A>).poolKey()

/**
 * A handle to actor `id`: through `fixed` (the spawning pool's transport), or, for a handle
 * decoded from a payload, through the pool registered under `poolKey` or the worker's channel.
 */
export const makeHandle = <A extends Any>(
  actor: A,
  id: number,
  fixed: ActorTransport | undefined,
  poolKey?: string
): Handle<A> => {
  // The spawning pool's transport, or, for a handle decoded from a payload, its pool's in this thread.
  const poolTransport = (): ActorTransport | undefined =>
    fixed ?? (poolKey === undefined ? undefined : poolTransports.get(poolKey))
  // Inside a worker, calls go through the worker's own channel to its pool.
  const resolve = (context: Context.Context<never>): ActorTransport | undefined =>
    fixed ?? Option.getOrUndefined(Context.getOption(context, WorkerTransport)) ?? poolTransport()
  const handle: HandleImpl<A> = {
    [HandleTypeId]: HandleTypeId,
    actor,
    id,
    get transport() {
      const transport = poolTransport()
      if (transport === undefined) throw new Error(`actor ${actor.name}#${id}: no pool to reach it from here`)
      return transport
    },
    poolKey: () => poolKey ?? (fixed === undefined ? "" : transportKeys.get(fixed) ?? ""),
    stopFrom: (context) => {
      const transport = resolve(context)
      if (transport === undefined) return Promise.reject(new Error(`actor ${actor.name}#${id}: no pool to reach it from here`))
      return transport.stop(id, actor.name, poolKey)
    },
    call: (method, payload?: unknown) => send(method, (task, transport, target, _context, fiber) =>
      one(task, payload, 0, {
        submit: (single) => ({
          id: -1,
          cancel: transport.call(id, task, single.payloads[0], (outcome, value, workerId, callId) =>
            single.settle(0, outcome, value, workerId, 1, callId ?? -1), single.transfers?.[0], single.trace, poolKey)
        })
      }, fiber, target)),
    tell: (method, payload?: unknown) =>
      send(method, (task, transport, target, context) =>
        tell(task, payload, (encoded, settle, transfers) => {
          transport.call(id, task, encoded[0], (outcome, value, workerId, callId) =>
            settle(0, outcome, value, workerId, 1, callId ?? -1), transfers?.[0], undefined, poolKey, true)
          return noTicket
        }, (failure) => reportTell(context, actor.name, id, method, failure), target))
  }
  /** What a call and a tell share: the method's task, and the transport that reaches the actor from here. */
  const send = (
    method: string,
    f: (
      task: Task.Any,
      transport: ActorTransport,
      target: ActorTarget,
      context: Context.Context<never>,
      fiber: Fiber.Fiber<unknown, unknown>
    ) => Effect.Effect<any, any>
  ): any =>
    Effect.withFiber((fiber) => {
      // Own names only: "constructor" or "toString" found Object.prototype's functions.
      const task = Object.hasOwn(actor.methods, method) ? actor.methods[method] : undefined
      if (task === undefined) return Effect.die(new Error(`actor ${actor.name} has no method "${method}"`))
      const target = { name: actor.name, id }
      const context = fiber.context as Context.Context<never>
      const transport = resolve(context)
      if (transport === undefined) return Effect.fail(unavailable(target, "Dead", -1, "no pool to reach it from this thread"))
      return f(task, transport, target, context, fiber)
    })
  return handle
}

const noTicket = { id: -1, cancel: () => Promise.resolve() }

/**
 * A tell's failure that arrived after it was sent: nobody awaits it, so it is logged (a warning,
 * through the loggers of the fiber that told) with its typed error as the cause. The pool's
 * `ActorAnswer` event carries its outcome too.
 */
const reportTell = (
  context: Context.Context<never>,
  actorName: string,
  actorId: number,
  method: string,
  failure: Exit.Exit<never, unknown>
): void => {
  if (Exit.isSuccess(failure)) return
  Effect.runForkWith(context)(
    Effect.logWarning(`Actor.tell ${actorName}#${actorId}.${method} failed`, failure.cause).pipe(
      Effect.annotateLogs({ actor: actorName, actorId, method })
    )
  )
}
