/**
 * The caller-side half of actors: places each actor on a worker, routes calls to it (from the
 * caller, or asked by other workers), stops it, and supervises it when its worker dies.
 *
 * Rules:
 * 1. An actor has at most one instance: it is (re)built only when it has none — never running,
 *    or its worker is gone — so a restarted actor never runs twice at once.
 * 2. Calls reach an instance in the order they were made: calls made before it is running wait
 *    here in order and are sent, in order, once it says `Spawned`; the worker keeps that order.
 * 3. Every call is answered once: by its reply, `Lost` when its worker dies holding it (never
 *    re-sent: at most once), or `Unavailable` when the actor is stopped or dead. A call a worker
 *    asked for is cancelled when that worker's handler gives it up, or that worker exits (its
 *    tells run on). A cancelled call whose method has not stopped within `interruptGrace`, or a
 *    stop not done within `interruptGrace` + `exitTimeout`, has its worker terminated.
 * 4. Placement: the pinned position if any, else the ready worker with the fewest actors.
 * 5. A spawn that fails leaves nothing behind: its record is forgotten at once (no handle exists,
 *    so nothing else would stop it), and it is never rebuilt — a dead actor stays dead.
 * 6. A value that cannot be sent (`postMessage` cannot clone it) fails only what carries it: a
 *    call's payload fails that call with `PayloadInvalid`, before any worker saw it; init
 *    arguments fail the spawn (or, on a restart, leave the actor dead). Sending happens inside
 *    worker messages and timers too, so it must never throw out of here.
 */
import type { Any as ActorAny } from "../../core/Actor.ts"
import { unknownName } from "../../core/PoolEvent.ts"
import type { Any as TaskAny } from "../../core/Task.ts"
import type { ActorTransport as Transport, CallTrace, Reply } from "../client/ActorTransport.ts"
import type { Timers } from "../backends/Backend.ts"
import type { EventHub } from "../observe/EventHub.ts"
import { cloneIssue } from "../protocol/codec.ts"
import {
  foreignHandle,
  type FromWorker,
  Op,
  Outcome,
  outcomeName,
  type RemoteError,
  Result,
  ResultTimed,
  SpanField,
  type WorkerExit
} from "../protocol/protocol.ts"
import type { Dispatcher, WorkerListener } from "./Dispatcher.ts"

type State = "placing" | "starting" | "running" | "backoff" | "stopping" | "stopped" | "dead"

/** A call's answer, with when its method ran (pool clock) when the worker timed it (`CallTimed`). */
type Answer = (outcome: Outcome, value: unknown, workerId: number, startedAt?: number, endedAt?: number) => void

interface Call {
  readonly id: number
  readonly record: ActorRecord
  readonly method: string
  readonly payload: unknown
  /** The buffers its payload moves, if any: moved when it is sent. */
  readonly transfer: ReadonlyArray<ArrayBuffer> | undefined
  readonly reply: Answer
  cancelled: boolean
  /** Resolves a pending cancel once the call is answered or lost. */
  onDone: (() => void) | undefined
  /** Its caller's trace context, when the call was made in a span. */
  readonly trace: CallTrace | undefined
}

interface ActorRecord {
  readonly id: number
  readonly actor: ActorAny
  readonly init: unknown
  readonly pin: number | undefined
  readonly maxRestarts: number
  readonly backoffMillis: number
  readonly maxBackoffMillis: number
  restarts: number
  workerId: number
  state: State
  /** The first spawn's caller, until the first `Spawned`. */
  onSpawned: Reply | undefined
  readonly waiting: Array<Call>
  readonly inFlight: Set<Call>
  readonly onStopped: Array<() => void>
  /** `onDead` listeners, until the actor dies or is stopped. */
  onDead: Array<() => void>
  timer: unknown
}

export class ActorHost implements Transport, WorkerListener {
  private readonly dispatcher: Dispatcher
  private readonly timers: Timers
  private readonly events: EventHub
  private readonly records = new Map<number, ActorRecord>()
  /** Every definition spawned here, by name: what a call to a forgotten actor may be named after. */
  private readonly definitions = new Map<string, ActorAny>()
  private readonly calls = new Map<number, Call>()
  /** The cancel of each unanswered call (not tell) a worker asked for, by asking worker and ask id. */
  private readonly asks = new Map<number, Map<number, () => Promise<void>>>()
  private nextActorId = 0
  /** The key handles to this pool's actors carry (`registerPool`), once registered. */
  key: string | undefined = undefined

  constructor(dispatcher: Dispatcher, timers: Timers) {
    this.dispatcher = dispatcher
    this.timers = timers
    this.events = dispatcher.events
  }

  // -------------------------------------------------------------------------------------------
  // Transport
  // -------------------------------------------------------------------------------------------

  readonly spawn = (
    actor: ActorAny,
    init: unknown,
    options: { readonly worker: number | undefined; readonly maxRestarts: number; readonly backoffMillis: number; readonly maxBackoffMillis: number },
    reply: Reply
  ): number => {
    const record: ActorRecord = {
      id: this.nextActorId++,
      actor,
      init,
      pin: options.worker,
      maxRestarts: options.maxRestarts,
      backoffMillis: options.backoffMillis,
      maxBackoffMillis: options.maxBackoffMillis,
      restarts: 0,
      workerId: -1,
      state: "placing",
      onSpawned: reply,
      waiting: [],
      inFlight: new Set(),
      onStopped: [],
      onDead: [],
      timer: undefined
    }
    const events = this.events
    this.definitions.set(actor.name, actor)
    if (events.active) events.emit({ _tag: "ActorSpawn", at: events.now(), actorId: record.id, name: actor.name })
    if (this.dispatcher.isClosed) {
      if (events.active) events.emit({ _tag: "ActorStopped", at: events.now(), actorId: record.id })
      reply(Outcome.Closed, "the pool is closed", -1)
      return record.id
    }
    this.records.set(record.id, record)
    this.place(record)
    return record.id
  }

  readonly call = (
    actorId: number,
    method: TaskAny,
    payload: unknown,
    reply: Reply,
    transfer?: ReadonlyArray<ArrayBuffer>,
    trace?: CallTrace
  ): () => Promise<void> => this.makeCall(actorId, method.name, payload, reply, -1, transfer, trace)

  readonly onDead = (actorId: number, listener: () => void): () => void => {
    const record = this.records.get(actorId)
    if (record === undefined) return () => {}
    if (record.state === "dead") {
      listener()
      return () => {}
    }
    record.onDead.push(listener)
    return () => {
      record.onDead = record.onDead.filter((other) => other !== listener)
    }
  }

  readonly stop = (actorId: number): Promise<void> => {
    const record = this.records.get(actorId)
    if (record === undefined) return resolved()
    if (this.events.active) this.events.emit({ _tag: "ActorStop", at: this.events.now(), actorId })
    return new Promise((resolve) => {
      record.onStopped.push(resolve)
      // Stopped before its spawn answered: by the spawn's own interruption (its caller no longer
      // listens), or through a handle made from its id. That spawn fails now, saying so — not with
      // how its worker ended the constructor, nor never (a stop while it waits for a worker).
      const spawn = record.onSpawned
      record.onSpawned = undefined
      this.stopRecord(record)
      spawn?.(Outcome.Defect, {
        name: "Stopped",
        message: `actor ${record.actor.name}#${record.id} was stopped before it was built`,
        stack: ""
      } satisfies RemoteError, -1)
    })
  }

  // -------------------------------------------------------------------------------------------
  // WorkerListener
  // -------------------------------------------------------------------------------------------

  readonly pendingCalls = (): number => this.calls.size

  readonly hostsActors = (workerId: number): boolean => {
    for (const record of this.records.values()) {
      if (record.workerId === workerId && (record.state === "starting" || record.state === "running" || record.state === "stopping")) {
        return true
      }
    }
    return false
  }

  onMessage(workerId: number, message: FromWorker): void {
    switch (message[0]) {
      case Op.Spawned:
        return this.spawned(message[1], message[2], message[3], workerId)
      case Op.Replies:
        for (let at = 1; at < message.length; at += Result.stride) {
          this.replied(message[at + Result.id] as number, message[at + Result.outcome] as Outcome, message[at + Result.value], workerId)
        }
        return
      case Op.RepliesTimed: {
        const at = ResultTimed.first
        const times = message[ResultTimed.times]
        return this.replied(message[at + Result.id] as number, message[at + Result.outcome] as Outcome, message[at + Result.value], workerId, times[0], times[1])
      }
      case Op.Stopped: {
        const record = this.records.get(message[1])
        if (record !== undefined && record.workerId === workerId) this.stopped(record)
        return
      }
      case Op.Ask:
        if (message[6] !== undefined && this.key !== undefined && message[6] !== this.key) {
          // Its actor id names another actor here, or none: never route it.
          this.dispatcher.sendTo(workerId, [Op.Answer, message[1], Outcome.Defect, foreignHandle(message[3], message[2])])
          return
        }
        return this.ask(workerId, message[1], message[2], message[3], message[4], message[5], message[7] === true)
      case Op.AskStop: {
        const [, askId, actorId, actorName, pool] = message
        if (pool !== undefined && this.key !== undefined && pool !== this.key) {
          this.dispatcher.sendTo(workerId, [Op.Answer, askId, Outcome.Defect, foreignHandle(`${actorName}.stop`, actorId)])
          return
        }
        void this.stop(actorId).then(() => this.dispatcher.sendTo(workerId, [Op.Answer, askId, Outcome.Success, undefined]))
        return
      }
      case Op.AskCancel: {
        const asks = this.asks.get(workerId)
        const cancel = asks?.get(message[1])
        if (cancel === undefined) return
        asks!.delete(message[1])
        void cancel()
        return
      }
    }
  }

  onSpans(workerId: number, callId: number, fields: ReadonlyArray<unknown>, at: number, count: number): void {
    this.calls.get(callId)?.trace?.receive(fields, at, count, workerId, callId)
  }

  onReady(): void {
    for (const record of this.records.values()) if (record.state === "placing") this.place(record)
  }

  onExit(workerId: number, exit: WorkerExit): void {
    const asks = this.asks.get(workerId)
    this.asks.delete(workerId)
    const why: WorkerExit = { kind: exit.kind, message: `worker ${workerId} ${exit.message}` }
    for (const record of [...this.records.values()]) {
      if (record.workerId !== workerId || record.state === "placing" || record.state === "backoff") continue
      // Decide the actor's fate before answering its calls: a caller resumed by an answer may
      // call again at once, and must find the actor dead or rebuilding, not on a dead worker.
      const lost = [...record.inFlight]
      const closed = this.dispatcher.isClosed
      const outcome = closed ? Outcome.Closed : Outcome.Lost
      const value = closed ? `the pool closed: ${why.message}` : why
      if (record.state === "stopping") {
        this.stopped(record)
      } else if (closed) {
        this.failWaiting(record, "Stopped")
        this.stopped(record)
        if (record.onSpawned !== undefined) this.answerSpawn(record, outcome, value, workerId)
      } else {
        this.crashed(record, outcome, value, workerId)
      }
      for (const call of lost) this.finish(call, outcome, value, workerId)
    }
    // Rule 3: the calls it asked for have nobody left to answer: cancelled in their actors, as if
    // its handlers gave them up (its tells, not kept here, run on). After the loop, so that calls
    // to actors on this worker are settled already. A closing pool's shutdown interrupts them all.
    if (asks !== undefined && !this.dispatcher.isClosed) for (const cancel of asks.values()) void cancel()
  }

  onBroken(): void {
    // No worker will start any more: an actor waiting for one is dead (`place`).
    for (const record of [...this.records.values()]) if (record.state === "placing") this.place(record)
  }

  onClose(): void {
    // An actor waiting for a worker or out its restart backoff has no instance, so no worker's
    // exit answers for it: without this its calls and spawn would wait forever, and its restart
    // timer would outlive the pool (rule 3).
    for (const record of [...this.records.values()]) {
      if (record.state !== "placing" && record.state !== "backoff") continue
      this.timers.clear(record.timer)
      this.failWaiting(record, "Stopped")
      this.stopped(record)
      if (record.onSpawned !== undefined) this.answerSpawn(record, Outcome.Closed, "the pool is closed", -1)
    }
  }

  // -------------------------------------------------------------------------------------------
  // Machinery
  // -------------------------------------------------------------------------------------------

  /** Rule 4; waits for a ready worker when there is none. */
  private place(record: ActorRecord): void {
    const ready = this.dispatcher.readyWorkers()
    if (ready.length === 0) {
      // A broken pool starts no worker again: waiting for one would leave its calls unanswered.
      const broken = this.dispatcher.brokenReason
      if (broken !== undefined) return this.died(record, Outcome.Closed, broken, -1)
      record.state = "placing"
      return
    }
    let workerId: number
    if (record.pin !== undefined) {
      workerId = ready[((record.pin % ready.length) + ready.length) % ready.length]!
    } else {
      const load = new Map<number, number>(ready.map((id) => [id, 0]))
      for (const other of this.records.values()) {
        if (other !== record && load.has(other.workerId) && other.state !== "stopped" && other.state !== "dead") {
          load.set(other.workerId, load.get(other.workerId)! + 1)
        }
      }
      workerId = ready[0]!
      for (const id of ready) if (load.get(id)! < load.get(workerId)!) workerId = id
    }
    record.workerId = workerId
    record.state = "starting"
    let sent: boolean
    try {
      sent = this.dispatcher.sendTo(workerId, [Op.Spawn, record.id, record.actor.name, record.init])
    } catch (error) {
      // Rule 6: its init arguments cannot be cloned, so no worker can ever build it.
      return this.died(record, Outcome.PayloadInvalid, cloneIssue(record.init, error), -1)
    }
    if (!sent) record.state = "placing"
  }

  private spawned(actorId: number, outcome: Outcome, value: unknown, workerId: number): void {
    const record = this.records.get(actorId)
    if (record === undefined || record.workerId !== workerId) return
    if (record.state === "stopping") {
      if (outcome === Outcome.Success) this.dispatcher.sendTo(workerId, [Op.Stop, record.id])
      else this.stopped(record)
      if (record.onSpawned !== undefined) this.answerSpawn(record, outcome, value, workerId)
      return
    }
    if (record.state !== "starting") return
    if (outcome !== Outcome.Success) return this.crashed(record, outcome, value, workerId)
    record.state = "running"
    if (record.onSpawned !== undefined) this.answerSpawn(record, outcome, value, workerId)
    // Rule 2: in the order they were made.
    const waiting = record.waiting.splice(0)
    for (const call of waiting) if (!call.cancelled) this.send(call)
  }

  /** The instance is gone (its worker died, or its constructor failed): rebuild it or give up. */
  private crashed(record: ActorRecord, outcome: Outcome, value: unknown, workerId: number): void {
    // A first spawn that fails reports to its caller; restarts are for actors that were running
    // (or whose first build was lost with its worker).
    const failedSpawn = record.onSpawned !== undefined && outcome !== Outcome.Lost
    if (failedSpawn || record.restarts >= record.maxRestarts) return this.died(record, outcome, value, workerId)
    if (this.dispatcher.isClosed) {
      // A rebuild's failure that crossed the shutdown (`onClose` ran already): no worker will take
      // the rebuild, and its backoff timer would outlive the pool. Stopped, as by `onExit` then.
      this.failWaiting(record, "Stopped")
      this.stopped(record)
      if (record.onSpawned !== undefined) this.answerSpawn(record, Outcome.Closed, "the pool is closed", workerId)
      return
    }
    record.restarts++
    record.state = "backoff"
    record.workerId = -1
    const delay = Math.min(record.maxBackoffMillis, record.backoffMillis * 2 ** (record.restarts - 1))
    if (this.events.active) {
      this.events.emit({ _tag: "ActorRestart", at: this.events.now(), actorId: record.id, restarts: record.restarts, delayMillis: delay })
    }
    record.timer = this.timers.set(delay, () => {
      if (record.state === "backoff") this.place(record)
    })
  }

  private died(record: ActorRecord, outcome: Outcome, value: unknown, workerId: number): void {
    if (record.onSpawned !== undefined) {
      // Rule 5: the spawn fails, so no handle exists and no scope will ever stop this record.
      this.stopped(record)
      return this.answerSpawn(record, outcome, value, workerId)
    }
    record.state = "dead"
    // No instance is left anywhere: a later exit of this worker is not this actor's.
    record.workerId = -1
    if (this.events.active) this.events.emit({ _tag: "ActorDead", at: this.events.now(), actorId: record.id })
    this.failWaiting(record, "Dead")
    const onDead = record.onDead
    record.onDead = []
    for (const listener of onDead) listener()
    // Kept until its scope stops it, so calls meanwhile learn it is dead rather than stopped.
    for (const resolve of record.onStopped.splice(0)) resolve()
  }

  /** A stop's move for each state: see `stop`. */
  private stopRecord(record: ActorRecord): void {
    switch (record.state) {
      case "running":
      case "starting":
        // The worker interrupts the actor's calls, or its constructor (a model loading may take
        // minutes), and answers `Stopped` once the actor's scope closed; one that answered
        // `Spawned` first is sent another stop then (rule 1: never leave an instance behind).
        record.state = "stopping"
        this.failWaiting(record, "Stopped")
        if (!this.dispatcher.sendTo(record.workerId, [Op.Stop, record.id])) return this.stopped(record)
        return this.armStopBackstop(record)
      case "placing":
      case "backoff":
        this.timers.clear(record.timer)
        this.failWaiting(record, "Stopped")
        return this.stopped(record)
      case "dead":
        return this.stopped(record)
      default:
        return
    }
  }

  /**
   * Rule 3's backstop for a stop: a method that ignores its interruption, or finalizers that run
   * past the pool's exitTimeout, cost the actor's worker after interruptGrace + exitTimeout, as a
   * task that ignores its cancel costs its worker; else the stop, and its scope, wait for good.
   */
  private armStopBackstop(record: ActorRecord): void {
    const workerId = record.workerId
    record.timer = this.timers.set(this.dispatcher.interruptGraceMillis + this.dispatcher.exitTimeoutMillis, () => {
      if (record.state === "stopping" && record.workerId === workerId) this.dispatcher.terminateWorker(workerId)
    })
  }

  private stopped(record: ActorRecord): void {
    this.timers.clear(record.timer)
    record.state = "stopped"
    record.onDead = []
    this.records.delete(record.id)
    if (this.events.active) this.events.emit({ _tag: "ActorStopped", at: this.events.now(), actorId: record.id })
    for (const call of [...record.inFlight]) this.finish(call, Outcome.Unavailable, "Stopped", record.workerId)
    for (const resolve of record.onStopped.splice(0)) resolve()
  }

  private answerSpawn(record: ActorRecord, outcome: Outcome, value: unknown, workerId: number): void {
    const reply = record.onSpawned!
    record.onSpawned = undefined
    reply(outcome, value, workerId)
  }

  private send(call: Call): void {
    const record = call.record
    record.inFlight.add(call)
    this.calls.set(call.id, call)
    let sent: boolean
    try {
      sent = this.dispatcher.sendTo(
        record.workerId,
        this.events.timings
          ? [Op.CallTimed, call.id, record.id, call.method, call.payload, call.trace?.wire]
          : call.trace === undefined
          ? [Op.Call, call.id, record.id, call.method, call.payload]
          : [Op.CallTraced, call.id, record.id, call.method, call.payload, call.trace.wire],
        call.transfer
      )
    } catch (error) {
      // Rule 6: nothing reached the worker, and only this call fails.
      return this.finish(call, Outcome.PayloadInvalid, cloneIssue(call.payload, error), -1)
    }
    // If its worker is going away, that worker's exit settles the call (rule 3).
    if (sent && this.calls.size === 1) this.dispatcher.awaitReply(record.workerId)
  }

  private replied(callId: number, outcome: Outcome, value: unknown, workerId: number, startedAt?: number, endedAt?: number): void {
    const call = this.calls.get(callId)
    if (call === undefined) return
    // A call the actor's stop interrupted reports the stop, one the worker's shutdown interrupted
    // the pool's closing: nobody else interrupts a call that its caller did not cancel.
    if (outcome === Outcome.Interrupted && !call.cancelled) {
      return call.record.state === "stopping"
        ? this.finish(call, Outcome.Unavailable, "Stopped", workerId)
        : this.finish(call, Outcome.Closed, "the pool closed while the call ran", workerId)
    }
    this.finish(call, outcome, value, workerId, startedAt, endedAt)
  }

  /** Rule 3's single exit. */
  private finish(call: Call, outcome: Outcome, value: unknown, workerId: number, startedAt?: number, endedAt?: number): void {
    if (!this.calls.delete(call.id)) return
    call.record.inFlight.delete(call)
    if (!call.cancelled) call.reply(outcome, value, workerId, startedAt, endedAt)
    // A cancelled call's method may have run before the cancel reached it: its worker's work.
    else if (this.events.active && startedAt !== undefined && endedAt !== undefined && endedAt > startedAt) {
      this.events.cancelledRun(workerId, startedAt, endedAt, `${call.record.actor.name}.${call.method}`)
    }
    const done = call.onDone
    call.onDone = undefined
    done?.()
  }

  private failWaiting(record: ActorRecord, reason: "Stopped" | "Dead"): void {
    for (const call of record.waiting.splice(0)) {
      if (!call.cancelled) call.reply(Outcome.Unavailable, reason, -1)
    }
  }

  private cancel(call: Call): Promise<void> {
    if (call.cancelled) return resolved()
    const waitingAt = call.record.waiting.indexOf(call)
    const inFlight = this.calls.has(call.id)
    if (waitingAt < 0 && !inFlight) return resolved()
    call.cancelled = true
    if (this.events.active) this.events.emit({ _tag: "ActorCancel", at: this.events.now(), actorId: call.record.id, callId: call.id })
    if (waitingAt >= 0) {
      call.record.waiting.splice(waitingAt, 1)
      return resolved()
    }
    return new Promise((resolve) => {
      // As for tasks: a method that ignores its interruption for the pool's interruptGrace costs
      // its worker, whose exit then settles the call (rule 3) — else the caller waits it out.
      const workerId = call.record.workerId
      const grace = this.timers.set(this.dispatcher.interruptGraceMillis, () => {
        if (this.calls.has(call.id)) this.dispatcher.terminateWorker(workerId)
      })
      call.onDone = () => {
        this.timers.clear(grace)
        resolve()
      }
      this.dispatcher.sendTo(workerId, [Op.Cancel, call.id])
    })
  }

  /** A worker's handler calls an actor through a handle it received (routed here, not to user code). */
  private ask(
    workerId: number,
    askId: number,
    actorId: number,
    taskName: string,
    payload: unknown,
    wire: string | undefined,
    tell: boolean
  ): void {
    // A traced ask: the call's spans go on to the asking worker, which replays them under its handler's span.
    const trace: CallTrace | undefined = wire === undefined ? undefined : {
      wire,
      receive: (fields, at, count, ranOn, callId) => {
        const spans = fields.slice(at, at + count * SpanField.stride)
        // The asking worker knows neither where the method ran nor the call's id: its top spans
        // (whose parent is not among them) carry them from here, as a caller's replay adds them.
        const ids = new Set<unknown>()
        for (let i = 0; i < count; i++) ids.add(spans[i * SpanField.stride + SpanField.spanId])
        for (let i = 0; i < count; i++) {
          const offset = i * SpanField.stride
          const parent = spans[offset + SpanField.parentId]
          if (count > 1 && parent !== "" && ids.has(parent)) continue
          const attributes = spans[offset + SpanField.attributes] as Record<string, unknown> | undefined
          spans[offset + SpanField.attributes] = { ...attributes, "effect_parallel.task_id": callId, "effect_parallel.worker_id": ranOn }
        }
        this.dispatcher.sendTo(workerId, [Op.Spans, askId, count, ...spans])
      }
    }
    let answered = false
    const cancel = this.makeCall(actorId, taskName, payload, (outcome, value) => {
      answered = true
      this.asks.get(workerId)?.delete(askId)
      this.dispatcher.sendTo(workerId, [Op.Answer, askId, outcome, value])
    }, workerId, undefined, trace)
    // Refused at once, it is answered already: nothing to cancel. A tell is never cancelled.
    if (answered || tell) return
    let asks = this.asks.get(workerId)
    if (asks === undefined) this.asks.set(workerId, asks = new Map())
    asks.set(askId, cancel)
  }

  /** A call from the caller (`from` -1) or asked by a worker; `taskName` is the method's task name. */
  private makeCall(
    actorId: number,
    taskName: string,
    payload: unknown,
    replyTo: Reply,
    from: number,
    transfer?: ReadonlyArray<ArrayBuffer>,
    trace?: CallTrace
  ): () => Promise<void> {
    const id = this.dispatcher.nextId()
    const record = this.records.get(actorId)
    const method = taskName.slice(record === undefined ? taskName.lastIndexOf(".") + 1 : record.actor.name.length + 1)
    const events = this.events
    if (events.active) {
      // Only names the pool's definitions declare: a worker can ask for any actor id and method
      // name, and each name reported would become an observer's series for good (metrics).
      const actor = record?.actor ?? this.definitions.get(taskName.slice(0, Math.max(0, taskName.length - method.length - 1)))
      events.emit({
        _tag: "ActorCall",
        at: events.now(),
        actorId,
        actor: actor?.name ?? unknownName,
        callId: id,
        method: actor !== undefined && Object.hasOwn(actor.methods, method) ? method : unknownName,
        from
      })
    }
    // Observed where it is delivered, so that no path can answer unseen.
    const reply: Answer = (outcome, value, workerId, startedAt, endedAt) => {
      if (events.active) {
        events.emit({
          _tag: "ActorAnswer",
          at: events.now(),
          actorId,
          callId: id,
          outcome: outcomeName(outcome),
          workerId,
          startedAt,
          endedAt
        })
      }
      replyTo(outcome, value, workerId, id)
    }
    const refuse = (outcome: Outcome, value: unknown) => {
      reply(outcome, value, -1)
      return resolved
    }
    if (record === undefined || record.state === "stopping" || record.state === "stopped" || record.state === "dead") {
      return refuse(Outcome.Unavailable, record?.state === "dead" ? "Dead" : "Stopped")
    }
    if (!Object.hasOwn(record.actor.methods, method)) {
      // Only a worker can name a method the definition lacks: a caller's handle is typed.
      return refuse(Outcome.Defect, {
        name: "UnknownMethod",
        message: `actor ${record.actor.name} has no method "${method}"`,
        stack: ""
      } satisfies RemoteError)
    }
    const call: Call = { id, record, method, payload, transfer, reply, cancelled: false, onDone: undefined, trace }
    if (record.state === "running") this.send(call)
    else record.waiting.push(call)
    return () => this.cancel(call)
  }
}

const resolved = (): Promise<void> => Promise.resolve()
