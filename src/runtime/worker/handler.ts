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
import type { Codec } from "../protocol/codec.ts"
import { Outcome, parseTraceWire, type RemoteError, type SpanRecord, toRemoteError } from "../protocol/protocol.ts"

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
 * before the handler: the moment the handler's work begins.
 */
export const invoke = (
  codec: Codec,
  handler: (payload: any) => Effect.Effect<unknown, unknown, any>,
  payload: unknown,
  onStart?: () => void
): Invocation => {
  const decoded = codec.decodePayload(payload)
  if (decoded.issue !== undefined) return { _tag: "Answer", outcome: Outcome.PayloadInvalid, value: decoded.issue }
  onStart?.()
  let effect: Effect.Effect<unknown, unknown, any>
  try {
    effect = handler(decoded.value)
  } catch (error) {
    return { _tag: "Answer", outcome: Outcome.Defect, value: toRemoteError(error) }
  }
  // `Effect.succeed`/`Effect.fail` are already Exits: no fiber needed.
  return Exit.isExit(effect) ? { _tag: "Exit", exit: effect } : { _tag: "Effect", effect }
}

/** A handler whose name the worker does not know. */
export const unknownHandler = (kind: string, name: string, where: string): Answer => ({
  _tag: "Answer",
  outcome: Outcome.Defect,
  value: { name: `Unknown${kind}`, message: `${where} does not serve ${kind.toLowerCase()} "${name}"`, stack: "" } satisfies RemoteError
})

/** How a handler's Exit is reported: success, declared error, defect, or interruption. */
export const outcomeOf = (codec: Codec, exit: Exit.Exit<unknown, unknown>, cancelled: boolean): [Outcome, unknown] => {
  if (Exit.isSuccess(exit)) {
    const encoded = codec.encodeSuccess(exit.value)
    return encoded.issue === undefined
      ? [Outcome.Success, encoded.value]
      : [Outcome.Defect, {
        name: "SuccessEncodeError",
        message: `result does not match the success Schema at ${JSON.stringify(encoded.issue.path)}: ${encoded.issue.message}`,
        stack: ""
      } satisfies RemoteError]
  }
  if (cancelled) return [Outcome.Interrupted, undefined]
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "Some") {
    const encoded = codec.encodeError(error.value)
    return encoded.issue === undefined ? [Outcome.Failure, encoded.value] : [Outcome.Defect, toRemoteError(error.value)]
  }
  if (Cause.hasDies(exit.cause)) return [Outcome.Defect, causeToRemote(exit.cause)]
  return [Outcome.Interrupted, undefined]
}

/** A failure cause as the caller will see it: the first defect or error, with its remote stack. */
export const causeToRemote = (cause: Cause.Cause<unknown>): RemoteError => {
  const defect = Cause.findDefect(cause)
  if (defect._tag === "Success") return toRemoteError(defect.success)
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") return toRemoteError(error.value)
  return { name: "Interrupted", message: "interrupted", stack: Cause.pretty(cause) }
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
  attributes: Record<string, unknown>,
  spans: Array<SpanRecord>
): Effect.Effect<unknown, unknown, any> =>
  effect.pipe(
    Effect.withSpan(name, { parent: Tracer.externalSpan(parseTraceWire(wire)), kind: "server", attributes }),
    Effect.provideService(Tracer.Tracer, recordingTracer(spans))
  )

const recordingTracer = (spans: Array<SpanRecord>): Tracer.Tracer =>
  Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      const end = span.end
      span.end = (endTime, exit) => {
        end.call(span, endTime, exit)
        spans.push(recordOf(span, endTime, exit))
      }
      return span
    }
  })

const recordOf = (span: Tracer.NativeSpan, endTime: bigint, exit: Exit.Exit<unknown, unknown>): SpanRecord => {
  const attributes: Record<string, unknown> = {}
  // Only values a structured clone surely carries.
  for (const [key, value] of span.attributes) {
    attributes[key] = value === null || ["string", "number", "boolean", "bigint"].includes(typeof value) ? value : String(value)
  }
  const parent = span.parent._tag === "Some" ? span.parent.value.spanId : ""
  return {
    name: span.name,
    spanId: span.spanId,
    parentId: parent,
    kind: span.kind,
    start: span.startTime,
    end: endTime,
    attributes,
    failure: Exit.isSuccess(exit) ? undefined : causeToRemote(exit.cause).message
  }
}
