/**
 * The one path a worker calls user code by — a task's handler, an actor's method, an actor's
 * constructor: decode the payload with its Schema, announce the start, call the handler (a throw
 * is a defect), and report how it ended as an outcome the pool understands. A hook added here
 * (trace context, timing) covers tasks and actors alike.
 */
import * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Codec } from "../protocol/codec.ts"
import { Outcome, type PayloadIssue, type RemoteError, toRemoteError } from "../protocol/protocol.ts"

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

/**
 * How a handler's Exit is reported: success, declared error, defect, or interruption; a success
 * whose Schema moves arrays (`memory: "moved"`) with the buffers its answer moves.
 */
export const outcomeOf = (
  codec: Codec,
  exit: Exit.Exit<unknown, unknown>,
  cancelled: boolean
): [Outcome, unknown, ReadonlyArray<ArrayBuffer>?] => {
  if (Exit.isSuccess(exit)) {
    const encoded = codec.encodeSuccess(exit.value)
    if (encoded.issue !== undefined) return successDefect("SuccessEncodeError", "does not match the success Schema", encoded.issue)
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
    return encoded.issue === undefined ? [Outcome.Failure, encoded.value] : [Outcome.Defect, toRemoteError(error.value)]
  }
  if (Cause.hasDies(exit.cause)) return [Outcome.Defect, causeToRemote(exit.cause)]
  return [Outcome.Interrupted, undefined]
}

const successDefect = (name: string, what: string, issue: PayloadIssue): [Outcome, RemoteError] => [Outcome.Defect, {
  name,
  message: `result ${what} at ${JSON.stringify(issue.path)}: ${issue.message}`,
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
