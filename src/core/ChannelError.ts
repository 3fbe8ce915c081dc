/**
 * How a send on a `Channel` fails: one `ChannelError` whose `reason` says why — the channel is
 * closed, the value fails the element Schema, its encoding does not fit a slot, or the ring
 * abandoned the send's claim (`runtime/memory/Ring.ts`, rule 8). Only that send fails; the
 * channel and its other users go on. Schema classes, so they cross threads like any task error.
 */
import * as Schema from "effect/Schema"
import { renderPath } from "./TaskError.ts"

const Path = Schema.Array(Schema.Union([Schema.String, Schema.Number]))

/** The channel was closed before the value was accepted. */
export class Closed extends Schema.TaggedError<Closed>()("Closed", {
  message: Schema.String
}) {}

/**
 * The value does not match the channel's element Schema; `path` names the offending field, after
 * the value's index in a `sendAll` (`[1, "op"]`), from the value itself in a `send` (`["op"]`).
 */
export class ValueInvalid extends Schema.TaggedError<ValueInvalid>()("ValueInvalid", {
  path: Path,
  message: Schema.String
}) {}

/** The value's encoding needs `bytes` bytes, more than a slot holds (`slotBytes`). */
export class TooLarge extends Schema.TaggedError<TooLarge>()("TooLarge", {
  bytes: Schema.Number,
  slotBytes: Schema.Number,
  message: Schema.String
}) {}

/**
 * The send claimed its slots but stalled past the channel's `abandonAfter` before publishing, and
 * a taker gave up on it: `lost` of its values were not delivered (never delivered twice or torn).
 */
export class Abandoned extends Schema.TaggedError<Abandoned>()("Abandoned", {
  lost: Schema.Number,
  message: Schema.String
}) {}

export const ChannelErrorReason = Schema.Union([Closed, ValueInvalid, TooLarge, Abandoned])
export type ChannelErrorReason = typeof ChannelErrorReason.Type

/** A send failed; `channel` names the channel (its element and capacity) in messages. */
export class ChannelError extends Schema.TaggedError<ChannelError>()("ChannelError", {
  channel: Schema.String,
  reason: ChannelErrorReason
}) {
  override get message(): string {
    // A sendAll's values are checked together: the path's first step says which one failed (a
    // send's starts at its one value).
    const at = this.reason._tag === "ValueInvalid" && this.reason.path.length > 0 ? ` at ${renderPath(this.reason.path)}` : ""
    return `channel ${this.channel}: ${this.reason._tag}${at}: ${this.reason.message}`
  }
}
