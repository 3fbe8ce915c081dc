/**
 * The one path a worker calls user code by — a task's handler, an actor's method, an actor's
 * constructor: decode the payload with its Schema, announce the start, call the handler (a throw
 * is a defect), and report how it ended as an outcome the pool understands. A hook added here
 * (trace context, timing) covers tasks and actors alike: `traced` runs a handler in a span whose
 * parent is its caller's.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Tracer from "effect/Tracer"
import type { AnyFused, StageFailed } from "../../core/Fusion.ts"
import { Defect, PayloadInvalid, renderInput, renderPath } from "../../core/TaskError.ts"
import { resultText } from "../internal/errorText.ts"
import { releasedIn } from "../memory/Arena.ts"
import { type Codec, codecOf } from "../protocol/codec.ts"
import { Outcome, parseTraceWire, type PayloadIssue, pushSpan, type RemoteError, toRemoteError } from "../protocol/protocol.ts"

/** An outcome for the pool, without running anything. */
export interface Answer {
  readonly _tag: "Answer"
  readonly outcome: Outcome
  readonly value: unknown
}

/** What calling a handler gave: an answer already, an Exit (no fiber needed), or an Effect to run. */
export type Invocation =
  | Answer
  | { readonly _tag: "Exit"; readonly exit: Exit.Exit<unknown, unknown> }
  | { readonly _tag: "Effect"; readonly effect: Effect.Effect<unknown, unknown, any> }

/**
 * Decodes `payload` and calls `handler` with it. `onStart` runs once the payload decoded, just
 * before the handler: the moment the handler's work begins. `fiberless`: run an `Effect.sync`
 * (or `suspend`/`try`) handler's thunk here (`runSyncHead`); false for a traced call, whose
 * thunk runs inside its span.
 */
export const invoke = (
  codec: Codec,
  handler: (payload: any) => Effect.Effect<unknown, unknown, any>,
  payload: unknown,
  onStart?: () => void,
  fiberless = true
): Invocation => {
  const decoded = codec.decodePayload(payload)
  if (decoded.issue !== undefined) return { _tag: "Answer", outcome: Outcome.PayloadInvalid, value: decoded.issue }
  onStart?.()
  let effect: Effect.Effect<unknown, unknown, any>
  try {
    effect = handler(decoded.value)
  } catch (error) {
    // A die, as a throw in a fiber is: the handler ran and failed, so a traced one has its span
    // (an `Answer` would have none), and the caller gets the same `Defect`.
    return { _tag: "Exit", exit: Exit.die(error) }
  }
  if (!isEffect(effect)) return { _tag: "Answer", outcome: Outcome.Defect, value: toRemoteError(notAnEffect(effect)) }
  if (fiberless) effect = runSyncHead(effect)
  // `Effect.succeed`/`Effect.fail` are already Exits: no fiber needed.
  return Exit.isExit(effect) ? { _tag: "Exit", exit: effect } : { _tag: "Effect", effect }
}

/**
 * Whether a handler returned an Effect. One that did not (`undefined` from a forgotten `return`, a
 * Promise, a value) is its defect: read as one, it threw in the worker's loop (`runSyncHead`, or
 * the fiber's own `String` of it), which crashed the worker, and on the inline backend the caller.
 */
export const isEffect = (value: unknown): value is Effect.Effect<unknown, unknown, any> => {
  try {
    // A function too: a service's class (`Context.Service`) is an Effect that reads the service.
    return (typeof value === "object" || typeof value === "function") && value !== null && Effect.isEffect(value)
  } catch {
    return false // a proxy whose `has` throws
  }
}

/** The defect of a handler that returned `value`, not an Effect. Its stack would show only the worker's frames. */
export const notAnEffect = (value: unknown): Error => {
  const error = new Error(
    `the handler returned ${renderInput(value)}, not an Effect: wrap a value in Effect.succeed, a Promise in Effect.promise`
  )
  error.name = "NotAnEffect"
  error.stack = `NotAnEffect: ${error.message}`
  return error
}

const safeString = (value: unknown): string => {
  try {
    return String(value)
  } catch {
    return typeof value
  }
}

/** Effect's own keys on its primitives (`effect/src/internal/core.ts`: `identifier`, `args`). */
const opKey = "~effect/Effect/identifier"
const argsKey = "~effect/Effect/args"

/**
 * Runs an `Effect.sync` here, without a fiber, as the fiber would: its value, or its throw as a
 * defect. An `Effect.suspend` (what `Effect.try` is) has its thunk run and what it returns looked
 * at again; anything else is returned for a fiber to run. A fiber per `Effect.sync` handler cost
 * ~13% of a 1 µs task's throughput (its creation, run loop and observers), and the idiomatic
 * handler is `Effect.sync(() => kernel(input))`. Effect's primitives are read by their keys: were
 * their shape to change, every handler would go to a fiber as before — slower, never different.
 */
export const runSyncHead = (effect: Effect.Effect<unknown, unknown, any>): Effect.Effect<unknown, unknown, any> => {
  let current = effect as unknown as Record<string, unknown>
  // Bounded: a suspend returning a suspend returning ... goes to a fiber after a few.
  for (let depth = 0; depth < 4; depth++) {
    let op: unknown
    let thunk: unknown
    try {
      op = current[opKey]
      thunk = current[argsKey]
    } catch {
      break // a proxy whose trap throws: the fiber's run loop makes that a defect
    }
    if (op !== "Sync" && op !== "Suspend") break
    if (typeof thunk !== "function") break
    let value: unknown
    try {
      value = thunk()
    } catch (error) {
      return Exit.die(error)
    }
    if (op === "Sync") return Exit.succeed(value)
    // What the fiber's run loop says of it.
    if (!isEffect(value)) return Exit.die(`Fiber.runLoop: Not a valid effect: ${safeString(value)}`)
    current = value as unknown as Record<string, unknown>
  }
  return current as unknown as Effect.Effect<unknown, unknown, any>
}

type Handler = (payload: any) => Effect.Effect<unknown, unknown, any>

/**
 * The handler of a fused task (`core/Fusion.ts`): each stage's handler in turn on one element,
 * the value between two stages taken through what the caller would have done with it — encoded
 * and decoded by the stage's success Schema, then encoded and decoded by the next stage's payload
 * Schema — so a fused chain accepts and rejects what its stages would one by one. A failure
 * becomes `StageFailed`, naming the stage (a stage that interrupted itself too: see `outcomeOf`). `undefined` when a
 * stage has no handler here.
 */
export const fusedHandler = (
  fused: AnyFused,
  handlers: { readonly [name: string]: Handler }
): Handler | undefined => {
  const stages = fused.stages.map((task) => ({ codec: codecOf(task), handler: handlers[task.name] }))
  if (stages.some((stage) => stage.handler === undefined)) return undefined
  const last = stages.length - 1
  // A stage that answered at once (an Exit, or an `Effect.sync` run by `runSyncHead`) goes on to
  // the next without a fiber: a chain of synchronous stages answers an Exit, run without any.
  const step = (k: number, value: unknown): Effect.Effect<unknown, StageFailed, any> => {
    let effect: Effect.Effect<unknown, unknown, any>
    try {
      effect = stages[k]!.handler!(value)
    } catch (error) {
      return Effect.fail(broke(k, defectOf(toRemoteError(error)), value))
    }
    if (!isEffect(effect)) return Effect.fail(broke(k, defectOf(toRemoteError(notAnEffect(effect))), value))
    effect = runSyncHead(effect)
    if (Exit.isExit(effect)) return Exit.isSuccess(effect) ? succeeded(k, value, effect.value) : failed(k, value, effect.cause)
    return Effect.matchCauseEffect(effect, {
      onFailure: (cause) => failed(k, value, cause),
      onSuccess: (result) => succeeded(k, value, result)
    })
  }
  const failed = (k: number, value: unknown, cause: Cause.Cause<unknown>): Effect.Effect<never, StageFailed> => {
    const error = Cause.findErrorOption(cause)
    if (error._tag === "Some") {
      // An error its Schema cannot encode is a defect, as it would be for the stage alone.
      return Effect.fail(
        stages[k]!.codec.encodeError(error.value).issue === undefined
          ? { _tag: "Failed", stage: k, error: error.value }
          : broke(k, defectOf(undeclared(error.value, stages[k]!.codec)), value)
      )
    }
    if (Cause.hasDies(cause)) return Effect.fail(broke(k, defectOf(causeToRemote(cause)), value))
    // Interrupted: if the worker asked (a cancel, a shutdown) the task is marked cancelled and
    // `outcomeOf` answers `Interrupted` whatever this is; otherwise this stage stopped itself,
    // which is its defect, as for the stage alone (not the whole chain's).
    return Effect.fail(broke(k, defectOf(selfInterrupted(cause)), value))
  }
  const succeeded = (k: number, value: unknown, result: unknown): Effect.Effect<unknown, StageFailed, any> => {
    if (k === last) return Effect.succeed(result)
    const codec = stages[k]!.codec
    const encoded = codec.encodeSuccess(result)
    if (encoded.issue !== undefined) return Effect.fail(broke(k, stageDefect("SuccessEncodeError", "does not match the success Schema", encoded.issue, [result]), value))
    // As `outcomeOf` checks a result: the next stage would read memory this worker's arena
    // hands out again (its own next allocation of the size included).
    const released = codec.sharedSuccess ? releasedIn(encoded.value) : undefined
    if (released !== undefined) return Effect.fail(broke(k, stageDefect("SuccessReleased", "holds memory its worker released", released), value))
    const decoded = codec.decodeSuccess(encoded.value)
    if (decoded.issue !== undefined) return Effect.fail(broke(k, stageDefect("SuccessDecodeError", "does not match the success Schema", decoded.issue, [encoded.value]), value))
    const next = stages[k + 1]!.codec
    const sent = next.encodePayload(decoded.value)
    if (sent.issue !== undefined) return Effect.fail(broke(k + 1, new PayloadInvalid(sent.issue), decoded.value))
    const received = next.decodePayload(sent.value)
    if (received.issue !== undefined) return Effect.fail(broke(k + 1, new PayloadInvalid(received.issue), decoded.value))
    return step(k + 1, received.value)
  }
  return (payload) => step(0, payload)
}

const broke = (stage: number, reason: Defect | PayloadInvalid, input: unknown): StageFailed => ({
  _tag: "Broke",
  stage,
  reason,
  input: renderInput(input)
})

const defectOf = (remote: RemoteError) => new Defect({ remoteName: remote.name, message: remote.message, remoteStack: remote.stack })

/** `result`: the result, for a Schema's issue (`[]` for none: a moved or released one is no news). */
const stageDefect = (name: string, what: string, issue: PayloadIssue, result: ReadonlyArray<unknown> = []) =>
  new Defect({ remoteName: name, message: resultText(what, issue, result), remoteStack: "" })

/** A handler whose name the worker does not know. */
export const unknownHandler = (kind: string, name: string, where: string): Answer => ({
  _tag: "Answer",
  outcome: Outcome.Defect,
  value: { name: `Unknown${kind}`, message: `${where} does not serve ${kind.toLowerCase()} "${name}"`, stack: "" } satisfies RemoteError
})

/**
 * How a handler's Exit is reported: success, declared error, defect, or interruption (when it was
 * `cancelled`); a success
 * whose Schema moves arrays (`memory: "moved"`) with the buffers its answer moves.
 */
export const outcomeOf = (
  codec: Codec,
  exit: Exit.Exit<unknown, unknown>,
  cancelled: boolean
): [Outcome, unknown, ReadonlyArray<ArrayBuffer>?] => {
  if (Exit.isSuccess(exit)) {
    const encoded = codec.encodeSuccess(exit.value)
    if (encoded.issue !== undefined) return successDefect("SuccessEncodeError", "does not match the success Schema", encoded.issue, [exit.value])
    // Arena memory this worker released goes to its next allocation of the size, while the
    // caller would read it as its result.
    const released = codec.sharedSuccess ? releasedIn(encoded.value) : undefined
    if (released !== undefined) return successDefect("SuccessReleased", "holds memory its worker released", released)
    if (codec.successTransfers === undefined) return [Outcome.Success, encoded.value]
    const moved = codec.successTransfers(encoded.value)
    return moved.issue === undefined
      ? [Outcome.Success, encoded.value, moved.list]
      : successDefect("SuccessTransferError", "cannot be moved", moved.issue)
  }
  if (cancelled) return [Outcome.Interrupted, undefined]
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "Some") {
    const encoded = codec.encodeError(error.value)
    return encoded.issue === undefined ? [Outcome.Failure, encoded.value] : [Outcome.Defect, undeclared(error.value, codec, encoded.issue)]
  }
  if (Cause.hasDies(exit.cause)) return [Outcome.Defect, causeToRemote(exit.cause)]
  // Interrupted, and nobody asked (a cancel, a stop and a shutdown all mark it cancelled first):
  // the handler interrupted itself. Answered `Interrupted`, the pool would take it for its own
  // shutdown and report a closed pool; it is this task's defect.
  return [Outcome.Defect, selfInterrupted(exit.cause)]
}

/**
 * A failure its error Schema refuses, as a defect: the error's own name, message and stack, and
 * why it is a defect. The caller saw only the error's message (`{"_tag":"Rich","n":"x"}` of an
 * object shaped as a declared error), nothing saying why a failure arrived as a defect.
 */
const undeclared = (error: unknown, codec: Codec, issue = codec.encodeError(error).issue): RemoteError => {
  const remote = toRemoteError(error)
  const at = issue !== undefined && issue.path.length > 0 ? ` at ${renderPath(issue.path)}` : ""
  const why = codec.declaresError
    ? `failed with an error its Schema refuses (${issue?.message ?? "refused"}${at})`
    : "failed, but the task declares no error"
  return { name: remote.name, message: `${why}: ${remote.message}`, stack: remote.stack }
}

/** A handler that interrupted itself, as a defect. */
const selfInterrupted = (cause: Cause.Cause<unknown>): RemoteError => ({
  name: "Interrupted",
  message: "the handler was interrupted, not by its caller or its pool",
  stack: Cause.pretty(cause)
})

const successDefect = (name: string, what: string, issue: PayloadIssue, result: ReadonlyArray<unknown> = []): [Outcome, RemoteError] => [Outcome.Defect, {
  name,
  message: resultText(what, issue, result),
  stack: ""
}]


/** A failure cause as the caller will see it: the first defect or error, with its remote stack. */
export const causeToRemote = (cause: Cause.Cause<unknown>): RemoteError => {
  const defect = Cause.findDefect(cause)
  if (defect._tag === "Success") return toRemoteError(defect.success)
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") return toRemoteError(error.value)
  return { name: "Interrupted", message: "interrupted", stack: Cause.pretty(cause) }
}

/** The spans a traced task made, in the `Spans` layout (`protocol.SpanField`). */
export interface SpanBuffer {
  readonly fields: Array<unknown>
  count: number
}

/**
 * Runs a handler's effect in a span named `name` whose parent is the caller's span (`wire`, from
 * the task's message), with a tracer that records every span ended under it — the handler's own
 * and any its code makes — into `spans`, for the pool to replay into the caller's tracer.
 */
export const traced = (
  effect: Effect.Effect<unknown, unknown, any>,
  wire: string,
  name: string,
  spans: SpanBuffer
): Effect.Effect<unknown, unknown, any> =>
  effect.pipe(
    Effect.withSpan(name, { parent: Tracer.externalSpan(parseWire(wire)), kind: "server" }),
    Effect.provideService(Tracer.Tracer, recordingTracer(spans))
  )

/**
 * The span of a handler that answered without a fiber (it returned an Exit, so it could make no
 * span of its own): recorded by hand from its start and end, on the pool's clock. No span can be
 * its child and its parent is the caller's: it goes without ids (`SpanField`).
 */
export const recordHandlerSpan = (
  spans: SpanBuffer,
  name: string,
  start: number,
  end: number,
  exit: Exit.Exit<unknown, unknown>
): void => {
  pushSpan(spans.fields, name, "", "", "server", start, end, undefined, failureOf(exit))
  spans.count++
}

/** The tasks of a message share their caller's context: parse each distinct one once. */
let lastWire = ""
let lastParsed = parseTraceWire("//0")
const parseWire = (wire: string) => {
  if (wire !== lastWire) {
    lastWire = wire
    lastParsed = parseTraceWire(wire)
  }
  return lastParsed
}

const recordingTracer = (spans: SpanBuffer): Tracer.Tracer =>
  Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      const end = span.end
      span.end = (endTime, exit) => {
        end.call(span, endTime, exit)
        const attributes: Record<string, unknown> = {}
        // Only values a structured clone surely carries.
        for (const [key, value] of span.attributes) {
          attributes[key] = value === null || ["string", "number", "boolean", "bigint"].includes(typeof value) ? value : attributeText(value)
        }
        const parent = span.parent._tag === "Some" ? span.parent.value.spanId : ""
        pushSpan(spans.fields, span.name, span.spanId, parent, span.kind, millis(span.startTime), millis(endTime), attributes, failureOf(exit))
        spans.count++
      }
      return span
    }
  })

const millis = (nanos: bigint): number => Number(nanos) / 1_000_000

/**
 * Any other attribute value as text. `String` throws on a null-prototype object or a throwing
 * `toString`, and a throw here, in the span's end, would fail a task that succeeded.
 */
const attributeText = (value: unknown): string => {
  try {
    return String(value)
  } catch {
    return `<${typeof value} that could not be rendered>`
  }
}

const failureOf = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const remote = causeToRemote(exit.cause)
  // A tagged error usually has no message (`Negative`): its name and fields say what it was.
  return remote.message !== "" ? remote.message : `${remote.name}${fieldsText(Cause.squash(exit.cause))}`
}

/** An error's own fields as bounded JSON (` {"n":-1}`), or nothing. */
const fieldsText = (error: unknown): string => {
  try {
    if (typeof error !== "object" || error === null) return ""
    const { _tag: _, ...fields } = error as Record<string, unknown>
    const text = JSON.stringify(fields)
    if (text === undefined || text === "{}") return ""
    return ` ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`
  } catch {
    return ""
  }
}
