/**
 * The one call path, in the caller's thread, for tasks and actor calls alike: encode the payload
 * with its Schema → hold the shared memory it carries → hand it to a route (a pool's queue, an
 * actor's mailbox) → on its settle, let the memory go → decode the outcome → the caller's typed
 * Exit. A hook added here (trace context, timing, metrics) covers every kind of call: a call made
 * in a span carries its trace context to the worker (`CallTrace`), and the spans the worker made
 * come back into the caller's tracer; a call outside any span carries nothing.
 *
 * `one` runs a single call (`Task.run`, an actor method); `many` a batch (`Task.map`,
 * `mapUnordered`, a stream chunk), in input or completion order, failing fast.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import * as Context from "effect/Context"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { ActorError, Unavailable } from "../../core/ActorError.ts"
import { chainName, FusedStageError, isFused, type StageFailed } from "../../core/Fusion.ts"
import type * as Task from "../../core/Task.ts"
import {
  Defect,
  PayloadInvalid,
  PoolClosed,
  PoolSaturated,
  renderInput,
  TaskError,
  type TaskErrorReason,
  Timeout,
  WorkerLost
} from "../../core/TaskError.ts"
import { durationMillis } from "../internal/duration.ts"
import { resultText } from "../internal/errorText.ts"
import { hold } from "../memory/Arena.ts"
import { type Codec, codecOf } from "../protocol/codec.ts"
import {
  Outcome,
  type PayloadIssue,
  type RemoteError,
  SpanField,
  type SpanKind,
  traceWire,
  type WorkerExit
} from "../protocol/protocol.ts"
import type { CallTrace } from "./ActorTransport.ts"
import type { Settle, Submission, Ticket } from "./PoolClient.ts"

export interface CallOptions {
  /**
   * Per-task timeout, enforced in the worker; on expiry the handler is interrupted. The shortest is
   * 1 ms: `0` times a task out at once (its error says after 1 ms). One that is not a duration ≥ 0
   * (`NaN`, negative) dies with a `RangeError` naming the call (`Task.map(Add): timeout …`).
   */
  readonly timeout?: Duration.Input | undefined
}

/** Whose call it is, for errors that name an actor. */
export interface ActorTarget {
  readonly name: string
  readonly id: number
}

/**
 * Where a call's encoded payloads go: it submits them and returns the ticket that cancels them.
 * Outcomes come back through `settle`, one per payload. `transfers`: the buffers each payload
 * moves, absent when none does.
 */
export type Route = (
  encoded: ReadonlyArray<unknown>,
  settle: Settle,
  transfers: ReadonlyArray<ReadonlyArray<ArrayBuffer> | undefined> | undefined,
  trace: CallTrace | undefined
) => Ticket

/** The failures of a call besides the task's declared error. */
export type CallFailure = TaskError | ActorError

/** Where a single call goes: a pool (`PoolClient.submit` takes it as it is), or an actor's mailbox. */
export interface SingleRoute {
  readonly submit: (call: SingleCall) => Ticket
}

/**
 * A single call, made from `fiber` (its callers already read their context from it: the trace is
 * read there too, with no second step per call). Interrupting it cancels it in the worker and
 * waits until it stopped there.
 */
export const one = <T extends Task.Any>(
  task: T,
  payload: unknown,
  timeoutMillis: number,
  route: SingleRoute,
  fiber: Fiber.Fiber<unknown, unknown>,
  actor?: ActorTarget,
  whenFull?: "wait" | "fail"
): Effect.Effect<Task.Success<T>, Task.Error<T> | CallFailure> => {
  const codec = codecOf(task)
  if (codec.sharedPayload) return oneHolding(task, payload, codec, timeoutMillis, route, fiber, actor, whenFull)
  // Nothing held: prepared first, so that the callbacks capture only `single` and `route` (a
  // pending call prepared inside its callback took 80 bytes more, measured).
  const call = prepare(task, payload, codec, actor)
  if (call instanceof TaskError) return Effect.fail(call)
  const single = new SingleCall(task, call, timeoutMillis, callTrace(fiber), whenFull, actor)
  return Effect.callback<Task.Success<T>, Task.Error<T> | CallFailure>((resume) => {
    single.resume = resume
    single.ticket = route.submit(single)
    // The call is its own cancel effect: nothing more is made per call for an interruption.
    return single
  })
}

/** `one` for a payload that carries shared memory. */
const oneHolding = <T extends Task.Any>(
  task: T,
  payload: unknown,
  codec: Codec,
  timeoutMillis: number,
  route: SingleRoute,
  fiber: Fiber.Fiber<unknown, unknown>,
  actor: ActorTarget | undefined,
  whenFull: "wait" | "fail" | undefined
): Effect.Effect<Task.Success<T>, Task.Error<T> | CallFailure> =>
  Effect.callback<Task.Success<T>, Task.Error<T> | CallFailure>((resume) => {
    // Prepared (its shared memory held) in the step that submits it: a hold taken a step earlier
    // was never released when the fiber was interrupted where it yields between the two.
    const call = prepare(task, payload, codec, actor)
    if (call instanceof TaskError) return resume(Effect.fail(call))
    const single = new SingleCall(task, call, timeoutMillis, callTrace(fiber), whenFull, actor)
    single.resume = resume
    single.ticket = route.submit(single)
    return single
  })

/**
 * A single call in flight: what the pool is handed (a `Submission` of one task, coalesced with
 * other single runs) and what its outcome resumes. One object per call, not a submission, a
 * prepared payload and closures apiece: 100,000 concurrent calls hold 100,000 of them.
 *
 * Run as an Effect, it cancels itself (`cancel`): it is what its callback registers for the
 * caller's interruption, so a call makes no cancel effect of its own (one was ~190 bytes of every
 * call in flight, measured with `bench/percall.ts`), and only an interrupted call builds the wait.
 */
export class SingleCall extends Effectable.Class<void> implements Submission {
  readonly payloads: ReadonlyArray<unknown>
  readonly transfers: ReadonlyArray<ReadonlyArray<ArrayBuffer>> | undefined
  readonly timeoutMillis: number
  readonly trace: CallTrace | undefined
  readonly whenFull: "wait" | "fail" | undefined
  private readonly task: Task.Any
  private readonly codec: Codec
  private readonly payload: unknown
  private readonly held: { readonly release: () => void } | undefined
  private readonly actor: ActorTarget | undefined
  resume: ((exit: Exit.Exit<any, any>) => void) | undefined = undefined
  ticket: Ticket | undefined = undefined
  constructor(
    task: Task.Any,
    prepared: Prepared,
    timeoutMillis: number,
    trace: CallTrace | undefined,
    whenFull: "wait" | "fail" | undefined,
    actor: ActorTarget | undefined
  ) {
    super()
    this.task = task
    this.timeoutMillis = timeoutMillis
    this.trace = trace
    this.whenFull = whenFull
    this.actor = actor
    this.payloads = [prepared.encoded]
    this.transfers = prepared.transfers
    this.codec = prepared.codec
    this.payload = prepared.payload
    this.held = prepared.held
  }
  get taskName(): string {
    return this.task.name
  }
  get chunkSize(): number {
    return 1
  }
  get coalesce(): boolean {
    return true
  }
  settle(_index: number, outcome: Outcome, value: unknown, workerId: number, attempts: number, taskId: number, runner?: string): void {
    this.held?.release()
    this.resume!(
      exitOf(this.task, this.codec, this.payload, this.timeoutMillis, outcome, value, workerId, attempts, taskId, this.actor, runner)
    )
  }
  /** What interrupting its caller runs: `cancel`, waited for. */
  asEffect(): Effect.Effect<void> {
    return Effect.promise(() => this.cancel())
  }
  /** Cancels it in the pool; resolves once it stopped there, its shared memory then let go. */
  cancel(): Promise<void> {
    const held = this.held
    const stopped = this.ticket!.cancel()
    return held === undefined ? stopped : stopped.then(held.release)
  }
}

/**
 * A call whose outcome nobody awaits (`Actor.tell`): it is routed as `one` routes it, at once, so
 * it takes its place in the actor's mailbox when this Effect runs. The Effect fails only when the
 * message never got in and that is known at once (a payload the caller's side rejects or that
 * cannot be sent, an actor already stopped or dead); an outcome that arrives later goes to
 * `report` when it is a failure. The shared memory the payload carries is held until the outcome
 * arrives.
 */
export const tell = <T extends Task.Any>(
  task: T,
  payload: unknown,
  route: Route,
  report: (failure: Exit.Exit<never, unknown>) => void,
  actor?: ActorTarget
): Effect.Effect<void, CallFailure> => {
  const call = prepare(task, payload, codecOf(task), actor)
  if (call instanceof TaskError) return Effect.fail(call)
  let routing = true
  let refused: Exit.Exit<never, CallFailure> | undefined
  route([call.encoded], (_index, outcome, value, workerId, attempts, taskId) => {
    call.held?.release()
    const exit = exitOf(task, call.codec, call.payload, 0, outcome, value, workerId, attempts, taskId, actor)
    if (Exit.isSuccess(exit)) return
    if (routing) refused = exit as Exit.Exit<never, CallFailure>
    else report(exit as Exit.Exit<never, unknown>)
  }, call.transfers, undefined)
  routing = false
  return refused ?? Effect.void
}

/** A single call's payload, ready to route. */
interface Prepared {
  readonly codec: Codec
  readonly payload: unknown
  readonly encoded: unknown
  /** The buffers it moves, as a route takes them; absent when it moves none. */
  readonly transfers: ReadonlyArray<ReadonlyArray<ArrayBuffer>> | undefined
  /** The shared memory it carries, held until its outcome arrives. */
  readonly held: { readonly release: () => void } | undefined
}

/** Encodes a single call's payload, finds what it moves and holds what it shares — or says why not. */
const prepare = (task: Task.Any, payload: unknown, codec: Codec = codecOf(task), actor?: ActorTarget): Prepared | TaskError => {
  // A payload left out (`Task.run(Tick)`, `handle.call("reset")`): what its Schema takes for none.
  if (payload === undefined) payload = codec.absentPayload
  const encoded = codec.encodePayload(payload)
  if (encoded.issue !== undefined) return rejected(task, payload, encoded.issue, actor)
  const moved = codec.payloadTransfers?.(encoded.value)
  if (moved?.issue !== undefined) return rejected(task, payload, moved.issue, actor)
  const held = codec.sharedPayload ? hold([encoded.value]) : undefined
  if (held !== undefined && held._tag !== "Held") return rejected(task, payload, held.issue, actor)
  return {
    codec,
    payload,
    encoded: encoded.value,
    transfers: moved === undefined || moved.list.length === 0 ? undefined : [moved.list],
    held
  }
}

export interface ManyOptions {
  readonly timeoutMillis: number
  /** Results in input order (`map`), or in completion order (`mapUnordered`). */
  readonly ordered: boolean
  /** Told of each success as it arrives (a progress bar), and of the ticket once submitted. */
  readonly onSubmitted?: ((ticket: Ticket) => void) | undefined
  readonly onSuccess?: (() => void) | undefined
  /** Called once, when the batch ends however it ends. */
  readonly onDone?: (() => void) | undefined
  /** The index its errors give `payloads[0]`: a stream chunk's among its stage's elements. Default 0. */
  readonly firstIndex?: number | undefined
}

/**
 * A batch of calls to one task. Fails fast: the first failure cancels the rest in the workers,
 * and the batch fails with that task's error once they stopped.
 */
export const many = <T extends Task.Any>(
  task: T,
  payloads: ReadonlyArray<unknown>,
  route: Route,
  options: ManyOptions
): Effect.Effect<Array<Task.Success<T>>, Task.Error<T> | CallFailure> => {
  const count = payloads.length
  if (count === 0) return Effect.succeed([])
  const codec = codecOf(task)
  const first = options.firstIndex ?? 0
  const encoded = new Array<unknown>(count)
  const collect = codec.payloadTransfers
  const transfers = collect === undefined ? undefined : new Array<ReadonlyArray<ArrayBuffer> | undefined>(count)
  for (let i = 0; i < count; i++) {
    const result = codec.encodePayload(payloads[i])
    if (result.issue !== undefined) return Effect.fail(rejected(task, payloads[i], result.issue, undefined, first + i))
    encoded[i] = result.value
    if (transfers !== undefined) {
      const moved = collect!(result.value)
      if (moved.issue !== undefined) return Effect.fail(rejected(task, payloads[i], moved.issue, undefined, first + i))
      transfers[i] = moved.list.length === 0 ? undefined : moved.list
    }
  }
  return Effect.withFiber((fiber) => Effect.callback<Array<Task.Success<T>>, Task.Error<T> | CallFailure>((resume) => {
    // The batch owns the shared memory its payloads carry until none of its tasks is in a worker.
    // Held in the step that submits: a hold taken a step earlier was never released when the
    // fiber was interrupted where it yields between the two.
    const held = codec.sharedPayload ? hold(encoded) : undefined
    if (held !== undefined && held._tag !== "Held") {
      return resume(Effect.fail(rejected(task, payloads[held.index], held.issue, undefined, first + held.index)))
    }
    const release = held === undefined ? undefined : held.release
    const results = new Array<Task.Success<T>>(count)
    let settled = 0
    let done = false
    const stop = () => {
      if (done) return
      done = true
      options.onDone?.()
    }
    // Fail fast: stop the rest in the workers before the batch reports the failure.
    const failWith = (ticket: Ticket, exit: Exit.Exit<unknown, unknown>) =>
      void ticket.cancel().then(() => {
        release?.()
        resume(exit as Exit.Exit<never, Task.Error<T> | CallFailure>)
      })
    // A route may settle tasks before it returns the ticket (a closed or full pool, a payload
    // `postMessage` cannot clone): such a failure waits for the ticket to cancel the rest.
    let submitted: Ticket | undefined
    let failedEarly: Exit.Exit<unknown, unknown> | undefined
    const ticket = route(encoded, (index, outcome, value, workerId, attempts, taskId, runner) => {
      if (done) return
      const exit = exitOf(
        task,
        codec,
        payloads[index],
        options.timeoutMillis,
        outcome,
        value,
        workerId,
        attempts,
        taskId,
        undefined,
        runner,
        first + index
      )
      if (Exit.isFailure(exit)) {
        stop()
        if (submitted === undefined) failedEarly = exit
        else failWith(submitted, exit)
        return
      }
      results[options.ordered ? index : settled] = exit.value
      settled++
      options.onSuccess?.()
      if (settled === count) {
        stop()
        release?.()
        resume(Exit.succeed(results))
      }
    }, transfers, callTrace(fiber))
    submitted = ticket
    if (failedEarly !== undefined) failWith(ticket, failedEarly)
    else if (!done) options.onSubmitted?.(ticket)
    return Effect.promise(() => {
      stop()
      return release === undefined ? ticket.cancel() : ticket.cancel().then(release)
    })
  }))
}

/**
 * The trace context of a call made in a span: its span as the parent of the handler's, and the
 * replay of the worker's spans into the caller's tracer. Undefined outside any span, with
 * propagation disabled, or under Effect's default tracer (`nativeTracer`, which exports nothing:
 * the worker's spans would reach no one): then nothing is sent. effect/cluster runs every entity
 * request in a span of its own, so without that last case every cluster call paid for a span in the
 * worker and its replay on the runner, for nobody (a runner's CPU per call −15–25%, measured).
 */
const callTrace = (fiber: Fiber.Fiber<unknown, unknown>): CallTrace | undefined => {
  const parent = Context.getOrUndefined(fiber.context, Tracer.ParentSpan)
  if (parent === undefined || fiber.getRef(Tracer.DisablePropagation)) return undefined
  const tracer = fiber.getRef(Tracer.Tracer)
  if (tracer === Tracer.nativeTracer) return undefined
  const parentOption = Option.some(parent)
  return {
    wire: traceWire(parent.traceId, parent.spanId, parent.sampled),
    receive: (fields, at, count, workerId, taskId) => replaySpans(tracer, parent, parentOption, fields, at, count, workerId, taskId)
  }
}

/**
 * Re-creates a worker's spans in the caller's tracer, parents first: a span whose parent was the
 * caller's span (the handler's) hangs under `parent`, the others under their re-created parent.
 */
const replaySpans = (
  tracer: Tracer.Tracer,
  parent: Tracer.AnySpan,
  parentOption: Option.Option<Tracer.AnySpan>,
  fields: ReadonlyArray<unknown>,
  at: number,
  count: number,
  workerId: number,
  taskId: number
): void => {
  // A task's one span (a map's usual case) hangs under the caller's: no lookup tables.
  if (count === 1) return void replaySpan(tracer, parent, parentOption, fields, at, undefined, workerId, taskId)
  // By the worker's span id: where each span is, and once re-created, the span.
  const offsets = new Map<string, number>()
  for (let i = 0; i < count; i++) {
    const spanId = fields[at + i * SpanField.stride + SpanField.spanId] as string
    if (spanId !== "") offsets.set(spanId, at + i * SpanField.stride)
  }
  const made = new Map<string, Tracer.Span>()
  const make = (offset: number): Tracer.Span => {
    const spanId = fields[offset + SpanField.spanId] as string
    const existing = made.get(spanId)
    if (existing !== undefined) return existing
    const parentId = fields[offset + SpanField.parentId] as string
    const up = parentId === "" ? undefined : offsets.get(parentId)
    const span = replaySpan(tracer, parent, up === undefined ? parentOption : Option.some(make(up)), fields, offset, up, workerId, taskId)
    if (spanId !== "") made.set(spanId, span)
    return span
  }
  for (let i = 0; i < count; i++) make(at + i * SpanField.stride)
}

/** One worker span re-created and ended; the task's and worker's ids on the one the caller's span parents. */
const replaySpan = (
  tracer: Tracer.Tracer,
  parent: Tracer.AnySpan,
  parentOption: Option.Option<Tracer.AnySpan>,
  fields: ReadonlyArray<unknown>,
  offset: number,
  up: number | undefined,
  workerId: number,
  taskId: number
): Tracer.Span => {
  const span = tracer.span({
    name: fields[offset + SpanField.name] as string,
    parent: parentOption,
    annotations: Context.empty(),
    links: [],
    startTime: nanos(fields[offset + SpanField.start] as number),
    kind: fields[offset + SpanField.kind] as SpanKind,
    root: false,
    sampled: parent.sampled
  })
  // Not in a worker replaying an ask's spans (`workerId` -1): the pool put them in its attributes.
  if (up === undefined && workerId >= 0) {
    span.attribute("effect_parallel.task_id", taskId)
    span.attribute("effect_parallel.worker_id", workerId)
  }
  const attributes = fields[offset + SpanField.attributes] as Record<string, unknown> | undefined
  if (attributes !== undefined) for (const key in attributes) span.attribute(key, attributes[key])
  const failure = fields[offset + SpanField.failure] as string | undefined
  span.end(nanos(fields[offset + SpanField.end] as number), failure === undefined ? Exit.void : Exit.die(new Error(failure)))
  return span
}

const nanos = (millis: number): bigint => BigInt(Math.round(millis * 1_000_000))

/** Turns a worker's (or the pool's) report into the caller's typed Exit. */
export const exitOf = <T extends Task.Any>(
  task: T,
  codec: Codec,
  input: unknown,
  timeoutMillis: number,
  outcome: Outcome,
  value: unknown,
  workerId: number,
  attempts: number,
  taskId: number,
  actor?: ActorTarget,
  runner?: string,
  index?: number
): Exit.Exit<Task.Success<T>, Task.Error<T> | CallFailure> => {
  if (isFused(task)) return fusedExitOf(task, codec, input, timeoutMillis, outcome, value, workerId, attempts, taskId, index) as any
  return plainExitOf(task.name, codec, input, timeoutMillis, outcome, value, workerId, attempts, taskId, actor, runner, index)
}

const plainExitOf = <T extends Task.Any>(
  taskName: string,
  codec: Codec,
  input: unknown,
  timeoutMillis: number,
  outcome: Outcome,
  value: unknown,
  workerId: number,
  attempts: number,
  taskId: number,
  actor?: ActorTarget,
  runner?: string,
  index?: number
): Exit.Exit<Task.Success<T>, Task.Error<T> | CallFailure> => {
  const fail = (reason: TaskErrorReason) =>
    Exit.fail(
      new TaskError({
        taskName,
        taskId,
        workerId,
        attempts,
        input: renderInput(input),
        reason,
        ...(runner === undefined ? {} : { runner }),
        ...actorFields(actor),
        ...(index === undefined ? {} : { index })
      })
    )
  switch (outcome) {
    case Outcome.Success: {
      const decoded = codec.decodeSuccess(value)
      return decoded.issue === undefined
        ? Exit.succeed(decoded.value as Task.Success<T>)
        : fail(defect({
          name: "SuccessDecodeError",
          message: resultText("does not match the success Schema", decoded.issue, [value]),
          stack: ""
        }))
    }
    case Outcome.Failure: {
      const decoded = codec.decodeError(value)
      return decoded.issue === undefined
        ? Exit.fail(decoded.value as Task.Error<T>)
        : fail(defect({
          name: "ErrorDecodeError",
          message: `declared error does not match the error Schema: ${decoded.issue.message}`,
          stack: ""
        }))
    }
    case Outcome.Defect:
      return fail(defect(value as RemoteError))
    case Outcome.PayloadInvalid:
      return fail(payloadInvalid(value as PayloadIssue))
    case Outcome.Timeout:
      return fail(new Timeout({ timeoutMillis }))
    case Outcome.Lost: {
      const exit = value as WorkerExit
      return fail(
        new WorkerLost({
          exit: exit.kind,
          message: exit.message,
          ...(exit.exitCode === undefined ? {} : { exitCode: exit.exitCode }),
          ...(exit.signal === undefined ? {} : { signal: exit.signal })
        })
      )
    }
    case Outcome.Saturated:
      return fail(new PoolSaturated({ maxQueued: value as number }))
    case Outcome.Unavailable:
      return Exit.fail(unavailable(actor, value as "Stopped" | "Dead", workerId))
    default:
      // Closed, or interrupted without the caller asking: the pool is closing.
      return fail(new PoolClosed({ message: typeof value === "string" ? value : "the pool closed" }))
  }
}

/**
 * A fused task's report as its stages would have made it: a failure becomes `FusedStageError`,
 * with the failed stage's declared error or a `TaskError` naming that stage's task; a payload
 * rejected before the first stage ran is the first stage's; a lost worker, a timeout or a closed
 * pool are the whole chain's (stage -1).
 */
const fusedExitOf = (
  task: Task.Any,
  codec: Codec,
  input: unknown,
  timeoutMillis: number,
  outcome: Outcome,
  value: unknown,
  workerId: number,
  attempts: number,
  taskId: number,
  index: number | undefined
): Exit.Exit<unknown, unknown> => {
  const stages = (task as unknown as { readonly stages: ReadonlyArray<Task.Any> }).stages
  const failAt = (stage: number, taskName: string, renderedInput: string, reason: TaskErrorReason) =>
    Exit.fail(
      new FusedStageError(
        stage,
        new TaskError({ taskName, taskId, workerId, attempts, input: renderedInput, reason, ...(index === undefined ? {} : { index }) })
      )
    )
  // The fused task's result is the last stage's: a result that does not decode, or that its worker
  // could not encode or move (the only defects a fused handler leaves unnamed besides interruption:
  // each stage's own become `Broke`), is the last stage's failure, as it would be unfused.
  const last = stages.length - 1
  if (outcome === Outcome.Success) {
    const exit = plainExitOf(stages[last]!.name, codec, input, timeoutMillis, outcome, value, workerId, attempts, taskId, undefined, undefined, index)
    return Exit.isFailure(exit) ? Exit.fail(new FusedStageError(last, Option.getOrUndefined(Exit.findErrorOption(exit)))) : exit
  }
  if (outcome === Outcome.Defect && isResultDefect(value as RemoteError)) {
    return failAt(last, stages[last]!.name, renderInput(input), defect(value as RemoteError))
  }
  if (outcome === Outcome.Failure) {
    const decoded = codec.decodeError(value)
    if (decoded.issue !== undefined) {
      return failAt(-1, chainName(task as never), renderInput(input), defect({
        name: "ErrorDecodeError",
        message: `declared error does not match the error Schema: ${decoded.issue.message}`,
        stack: ""
      }))
    }
    const failed = decoded.value as StageFailed
    if (failed._tag === "Failed") return Exit.fail(new FusedStageError(failed.stage, failed.error))
    return failAt(failed.stage, stages[failed.stage]!.name, failed.stage === 0 ? renderInput(input) : failed.input, failed.reason)
  }
  if (outcome === Outcome.PayloadInvalid) return failAt(0, stages[0]!.name, renderInput(input), payloadInvalid(value as PayloadIssue))
  const exit = plainExitOf(chainName(task as never), codec, input, timeoutMillis, outcome, value, workerId, attempts, taskId, undefined, undefined, index)
  return Exit.isFailure(exit) ? Exit.fail(new FusedStageError(-1, Option.getOrUndefined(Exit.findErrorOption(exit)))) : exit
}

/** A worker's defect for a result its success Schema refused (`worker/handler.ts`, `outcomeOf`). */
const isResultDefect = (error: RemoteError): boolean =>
  error.name === "SuccessEncodeError" || error.name === "SuccessTransferError"

/** A payload the caller's side rejected, before any worker saw it. */
export const rejected = (task: Task.Any, input: unknown, issue: PayloadIssue, actor?: ActorTarget, index?: number): TaskError =>
  new TaskError({
    taskName: task.name,
    taskId: -1,
    workerId: -1,
    attempts: 0,
    input: renderInput(input),
    reason: payloadInvalid(issue),
    ...actorFields(actor),
    ...(index === undefined ? {} : { index })
  })

/** A `TaskError`'s fields naming the actor whose method failed; none for a task. */
const actorFields = (actor: ActorTarget | undefined): { readonly actor?: string; readonly actorId?: number } =>
  actor === undefined ? {} : { actor: actor.name, actorId: actor.id }

/** A call to an actor that is not alive: nothing reached it. */
export const unavailable = (actor: ActorTarget | undefined, state: "Stopped" | "Dead", workerId = -1, detail?: string) =>
  new ActorError({
    actorName: actor?.name ?? "",
    actorId: actor?.id ?? -1,
    workerId,
    input: "",
    reason: new Unavailable({
      state,
      message: detail ?? (state === "Stopped" ? "the actor was stopped" : "the actor died and will not be restarted")
    })
  })

const defect = (remote: RemoteError) =>
  new Defect({ remoteName: remote.name, message: remote.message, remoteStack: remote.stack })

const payloadInvalid = (issue: PayloadIssue) => new PayloadInvalid({ path: issue.path, message: issue.message })

/** A call's timeout in milliseconds, 0 for none; throws a `RangeError` naming `call` (`Task.run(Add)`) when it is none. */
export const timeoutMillisOf = (options: CallOptions | undefined, call: () => string): number => {
  const timeout = options?.timeout
  if (timeout === undefined) return 0
  // Read as 0, a NaN was clamped to 1 ms: every task "timed out".
  const millis = durationMillis(timeout)
  if (!(millis >= 0)) throw new RangeError(`${call()}: timeout must be a duration >= 0, got ${String(timeout)}`)
  return Math.max(1, millis)
}
