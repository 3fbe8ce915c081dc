/**
 * The worker side of actors (see `protocol.ts`): builds each actor in a scope of its own, keeps
 * its mailbox, runs its calls, stops it, and carries the calls its handlers make to other actors.
 *
 * Rules:
 * 1. An actor takes its mailbox one message at a time in arrival order; a method declared
 *    concurrent starts on arrival instead. Calls that arrive while it is being built wait.
 * 2. Every call received is answered exactly once: its outcome, or `Interrupted` when a `Cancel`,
 *    `Stop` or shutdown reached it first.
 * 3. Stopping interrupts the actor's calls, and its constructor if it still runs, before its
 *    scope closes, so its finalizers never race its own code; a stopped actor answers nothing else.
 * 4. A call a handler makes with a payload that cannot be sent (`postMessage` cannot clone it)
 *    fails with `PayloadInvalid` in that handler, like a caller's (the actor host's rule 6).
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import type { Any as ActorAny } from "../../core/Actor.ts"
import type { WorkerEntry } from "../../core/Worker.ts"
import type { CallTrace, ActorTransport as Transport, Reply } from "../client/ActorTransport.ts"
import { cloneIssue, type Codec, codecOf } from "../protocol/codec.ts"
import { type FromWorker, Op, Outcome, SpanField } from "../protocol/protocol.ts"
import { invoke, outcomeOf, recordHandlerSpan, type SpanBuffer, traced, unknownHandler } from "./handler.ts"

type RunFork = <A, E>(effect: Effect.Effect<A, E, any>) => Fiber.Fiber<A, E>

interface Call {
  readonly id: number
  readonly method: string
  readonly payload: unknown
  cancelled: boolean
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** Its caller's trace context (`CallTraced`). */
  readonly trace: string | undefined
  /** Its reply says when it ran (`CallTimed`). */
  readonly timed: boolean
  /** When its method started (pool clock), once it did, for a timed call; else -1. */
  startedAt: number
}

interface Instance {
  readonly id: number
  readonly actor: ActorAny
  readonly scope: Scope.Closeable
  handlers: { readonly [method: string]: (payload: unknown) => Effect.Effect<unknown, unknown, any> } | undefined
  readonly mailbox: Array<Call>
  /** The call holding the mailbox (rule 1), if any. */
  current: Call | undefined
  /** Every call started and not yet answered, concurrent ones included. */
  readonly running: Set<Call>
  /** `drain` is on the stack: a call that settles inside it must not start another drain. */
  draining: boolean
  stopping: Promise<void> | undefined
  /** Its constructor's fiber while it runs: a stop interrupts it too (rule 3). */
  building: Fiber.Fiber<unknown, unknown> | undefined
}

/** What a host may observe of the actors in its worker; the simulation traces it. */
export interface ActorHooks {
  /** An actor's constructor is about to run: a new instance. */
  readonly onBuild?: ((actorId: number) => void) | undefined
  /** A call's handler is about to run. */
  readonly onCall?: ((actorId: number, callId: number) => void) | undefined
}

export class WorkerActors {
  private readonly entry: WorkerEntry
  private readonly post: (message: FromWorker, transfers?: ReadonlyArray<ReadonlyArray<ArrayBuffer> | undefined>) => void
  private readonly runFork: () => RunFork
  private readonly run: (effect: Effect.Effect<void>) => Promise<void>
  /** The pool's clock (ms), for timed calls. */
  private readonly clock: () => number
  private readonly hooks: ActorHooks
  private readonly actors = new Map<number, Instance>()
  private readonly calls = new Map<number, { readonly instance: Instance; readonly call: Call }>()
  private readonly asks = new Map<number, Reply>()
  /** Traced asks: where the spans of the call they made go (replayed under the asking handler's span). */
  private readonly askTraces = new Map<number, CallTrace>()
  private nextAskId = 0

  constructor(
    entry: WorkerEntry,
    post: (message: FromWorker, transfers?: ReadonlyArray<ReadonlyArray<ArrayBuffer> | undefined>) => void,
    runFork: () => RunFork,
    run: (effect: Effect.Effect<void>) => Promise<void>,
    clock: () => number,
    hooks: ActorHooks = {}
  ) {
    this.entry = entry
    this.post = post
    this.runFork = runFork
    this.run = run
    this.clock = clock
    this.hooks = hooks
  }

  /** The transport a handler's actor handles use: asks routed by this worker's pool. */
  readonly transport: Transport = {
    spawn: () => {
      throw new Error("actors are spawned by the caller, not from inside a worker")
    },
    call: (actorId, method, payload, reply, _transfer, trace, pool, tell) => {
      const askId = this.nextAskId++
      this.asks.set(askId, reply)
      if (trace !== undefined) this.askTraces.set(askId, trace)
      try {
        this.post([Op.Ask, askId, actorId, method.name, payload, trace?.wire, pool, tell === true ? true : undefined])
      } catch (error) {
        // Rule 4: nothing left this worker; only this call fails, typed, and the handler decides.
        this.asks.delete(askId)
        this.askTraces.delete(askId)
        reply(Outcome.PayloadInvalid, cloneIssue(payload, error), -1)
        return () => Promise.resolve()
      }
      // A handler that gives the call up has the pool cancel it in its actor: else it ran on there,
      // holding the actor's mailbox. Not waited for: a worker shutting down hears no answers.
      return () => {
        if (this.asks.delete(askId)) {
          this.askTraces.delete(askId)
          this.post([Op.AskCancel, askId])
        }
        return Promise.resolve()
      }
    },
    // The pool stops it as the caller's stop does; answered once it stopped. Like a call, not
    // cancelled if the handler gives up: a stop asked for is done.
    stop: (actorId, actorName, pool) =>
      new Promise<void>((resolve, reject) => {
        const askId = this.nextAskId++
        this.asks.set(askId, (outcome, value) => {
          if (outcome === Outcome.Success) return resolve()
          const remote = value as { readonly name?: string; readonly message?: string }
          reject(Object.assign(new Error(remote.message ?? String(value)), { name: remote.name ?? "Error" }))
        })
        this.post([Op.AskStop, askId, actorId, actorName ?? "", pool])
      })
  }

  answer(askId: number, outcome: Outcome, value: unknown): void {
    const reply = this.asks.get(askId)
    if (reply === undefined) return
    this.asks.delete(askId)
    this.askTraces.delete(askId)
    reply(outcome, value, -1)
  }

  /** Spans of traced asks' calls (`[Spans, askId, count, …]`), before their answers. */
  spans(fields: ReadonlyArray<unknown>): void {
    for (let at = 1; at + 1 < fields.length;) {
      const count = fields[at + 1] as number
      this.askTraces.get(fields[at] as number)?.receive(fields, at + 2, count, -1, fields[at] as number)
      at += 2 + count * SpanField.stride
    }
  }

  spawn(actorId: number, actorName: string, init: unknown): void {
    const actor = this.entry.group.actors[actorName] as ActorAny | undefined
    const constructor = this.entry.handlers[actorName]
    if (actor === undefined || constructor === undefined) {
      const unknown = unknownHandler("Actor", actorName, "this worker")
      return this.post([Op.Spawned, actorId, unknown.outcome, unknown.value])
    }
    const instance: Instance = {
      id: actorId,
      actor,
      scope: Scope.makeUnsafe(),
      handlers: undefined,
      mailbox: [],
      current: undefined,
      running: new Set(),
      draining: false,
      stopping: undefined,
      building: undefined
    }
    const codec = codecOf(actor.init)
    // Once per actor: its fiber costs nothing worth saving (`fiberless` false).
    const invocation = invoke(codec, constructor, init, () => {
      this.actors.set(actorId, instance)
      this.hooks.onBuild?.(actorId)
    }, false)
    if (invocation._tag === "Answer") {
      if (!this.actors.has(actorId)) return this.post([Op.Spawned, actorId, invocation.outcome, invocation.value])
      return this.failSpawn(instance, invocation.outcome, invocation.value)
    }
    const build = Scope.provide(invocation._tag === "Exit" ? invocation.exit : invocation.effect, instance.scope)
    const fiber = this.runFork()(build)
    instance.building = fiber
    fiber.addObserver((exit) => {
      instance.building = undefined
      if (instance.stopping !== undefined) return
      if (Exit.isSuccess(exit)) {
        instance.handlers = exit.value as Instance["handlers"]
        this.post([Op.Spawned, actorId, Outcome.Success, undefined])
        return this.drain(instance)
      }
      const [outcome, value] = outcomeOf(codec, exit, false)
      this.failSpawn(instance, outcome, value)
    })
  }

  call(callId: number, actorId: number, method: string, payload: unknown, trace?: string, timed = false): void {
    const instance = this.actors.get(actorId)
    if (instance === undefined || instance.stopping !== undefined) {
      return this.reply(callId, Outcome.Unavailable, "Stopped")
    }
    const call: Call = { id: callId, method, payload, cancelled: false, fiber: undefined, trace, timed, startedAt: -1 }
    this.calls.set(callId, { instance, call })
    if (instance.handlers !== undefined && instance.actor.concurrent.has(method)) return this.start(instance, call)
    instance.mailbox.push(call)
    if (instance.current === undefined) this.drain(instance)
  }

  /** Interrupts the calls among `ids`; returns the ids that were not actor calls. */
  cancel(ids: ReadonlyArray<number>): Array<number> {
    const rest: Array<number> = []
    for (const id of ids) {
      const entry = this.calls.get(id)
      if (entry === undefined) {
        rest.push(id)
        continue
      }
      this.interruptCall(entry.instance, entry.call)
    }
    return rest
  }

  stop(actorId: number): Promise<void> {
    const instance = this.actors.get(actorId)
    if (instance === undefined) {
      this.post([Op.Stopped, actorId])
      return Promise.resolve()
    }
    return this.stopInstance(instance).then(() => this.post([Op.Stopped, actorId]))
  }

  /** Whether any actor lives here (`stopAll` then has something to wait for). */
  hasActors(): boolean {
    return this.actors.size > 0
  }

  /** Stops every actor (shutdown): their finalizers run before the worker's Layer closes. */
  stopAll(): Promise<void> {
    return Promise.all([...this.actors.values()].map((instance) => this.stopInstance(instance))).then(() => {})
  }

  // -------------------------------------------------------------------------------------------

  private failSpawn(instance: Instance, outcome: Outcome, value: unknown): void {
    this.actors.delete(instance.id)
    void this.run(Scope.close(instance.scope, Exit.void)).then(() => {
      this.post([Op.Spawned, instance.id, outcome, value])
      for (const call of instance.mailbox) this.finishCall(call, Outcome.Unavailable, "Dead")
    })
  }

  /**
   * Rule 1: starts queued calls until one goes asynchronous. A call that finishes synchronously
   * settles inside `start`; the loop, not a nested drain, takes the next one, so a long run of
   * synchronous calls queued behind a slow one cannot overflow the stack.
   */
  private drain(instance: Instance): void {
    if (instance.handlers === undefined || instance.draining) return
    instance.draining = true
    try {
      while (instance.current === undefined && instance.mailbox.length > 0 && instance.stopping === undefined) {
        const call = instance.mailbox.shift()!
        if (call.cancelled) continue
        if (!instance.actor.concurrent.has(call.method)) instance.current = call
        this.start(instance, call)
      }
    } finally {
      instance.draining = false
    }
  }

  private start(instance: Instance, call: Call): void {
    // As for tasks, the time starts before the payload's decode.
    if (call.timed) call.startedAt = this.clock()
    // A traced method's span starts here too: one that answers an Exit did its work in its body.
    const tracedAt = call.trace === undefined ? 0 : call.timed ? call.startedAt : this.clock()
    const task = instance.actor.methods[call.method]
    const handler = instance.handlers![call.method]
    if (task === undefined || handler === undefined) {
      const unknown = unknownHandler("Method", call.method, `actor ${instance.actor.name}`)
      return this.settle(instance, call, unknown.outcome, unknown.value)
    }
    const codec = codecOf(task)
    const invocation = invoke(codec, handler, call.payload, () => this.hooks.onCall?.(instance.id, call.id), call.trace === undefined)
    if (invocation._tag === "Answer") return this.settle(instance, call, invocation.outcome, invocation.value)
    instance.running.add(call)
    if (invocation._tag === "Exit") {
      // No fiber, traced or not: a fiber's span would start after the body had run. Its span is
      // recorded by hand, as a task's is, before the reply that ends the call's routing.
      if (call.trace !== undefined) {
        const spans: SpanBuffer = { fields: [], count: 0 }
        recordHandlerSpan(spans, `${instance.actor.name}.${call.method}`, tracedAt, this.clock(), invocation.exit)
        this.post([Op.Spans, call.id, spans.count, ...spans.fields] as unknown as FromWorker)
      }
      return this.complete(instance, call, codec, invocation.exit)
    }
    let effect = invocation.effect
    let spans: SpanBuffer | undefined
    if (call.trace !== undefined) {
      spans = { fields: [], count: 0 }
      effect = traced(effect, call.trace, `${instance.actor.name}.${call.method}`, spans)
    }
    const fiber = this.runFork()(effect)
    call.fiber = fiber
    fiber.addObserver((exit) => {
      // Before the reply: the pool routes them by the call, which the reply ends.
      if (spans !== undefined && spans.count > 0) this.post([Op.Spans, call.id, spans.count, ...spans.fields] as unknown as FromWorker)
      this.complete(instance, call, codec, exit)
    })
  }

  private complete(instance: Instance, call: Call, codec: Codec, exit: Exit.Exit<unknown, unknown>): void {
    const [outcome, value, transfer] = outcomeOf(codec, exit, call.cancelled)
    this.settle(instance, call, outcome, value, transfer)
  }

  private settle(instance: Instance, call: Call, outcome: Outcome, value: unknown, transfer?: ReadonlyArray<ArrayBuffer>): void {
    instance.running.delete(call)
    this.finishCall(call, outcome, value, transfer)
    if (instance.current === call) {
      instance.current = undefined
      if (instance.stopping === undefined) this.drain(instance)
    }
  }

  private finishCall(call: Call, outcome: Outcome, value: unknown, transfer?: ReadonlyArray<ArrayBuffer>): void {
    if (!this.calls.delete(call.id)) return
    if (call.startedAt < 0) return this.reply(call.id, outcome, value, transfer)
    const times = new Float64Array(2)
    times[0] = call.startedAt
    times[1] = this.clock()
    this.post([Op.RepliesTimed, times, call.id, outcome, value], transfer === undefined ? undefined : [transfer])
  }

  private reply(callId: number, outcome: Outcome, value: unknown, transfer?: ReadonlyArray<ArrayBuffer>): void {
    this.post([Op.Replies, callId, outcome, value], transfer === undefined ? undefined : [transfer])
  }

  private interruptCall(instance: Instance, call: Call): void {
    if (call.cancelled) return
    call.cancelled = true
    if (call.fiber !== undefined) return call.fiber.interruptUnsafe()
    // Not started: answer now and leave it to be skipped in the mailbox.
    if (!instance.running.has(call)) this.finishCall(call, Outcome.Interrupted, undefined)
  }

  /** Rule 3. */
  private stopInstance(instance: Instance): Promise<void> {
    if (instance.stopping !== undefined) return instance.stopping
    // Set before anything is interrupted: an interrupted fiber may end at once, inside
    // `interruptUnsafe`, and its observer must see the stop — else a constructor's reported its
    // interruption as the spawn's failure (an `InterruptError` defect, or a rebuild's crash).
    instance.stopping = Promise.resolve().then(async () => {
      // A constructor still running (a shutdown while it builds) stops first: its scope closes below.
      const building = instance.building
      if (building !== undefined) {
        await new Promise<void>((resolve) => {
          building.addObserver(() => resolve())
          building.interruptUnsafe()
        })
      }
      for (const call of instance.mailbox) this.interruptCall(instance, call)
      instance.mailbox.length = 0
      const running = [...instance.running].filter((call) => call.fiber !== undefined)
      await Promise.all(running.map((call) =>
        new Promise<void>((resolve) => {
          call.fiber!.addObserver(() => resolve())
          this.interruptCall(instance, call)
        })
      ))
      await this.run(Scope.close(instance.scope, Exit.void))
      this.actors.delete(instance.id)
    })
    return instance.stopping
  }
}
