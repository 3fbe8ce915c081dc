/**
 * The observability example's tasks, imported by main.ts and worker.ts: a simulated unit of work
 * of a given length, and a lookup that fails for unknown keys.
 */
import * as Schema from "effect/Schema"
import { Task } from "effect-parallel/worker"

/** Works for `millis` (asynchronously) inside a span of its own named `resize`; answers the size. */
export const Resize = Task.make("Resize", {
  payload: { image: Schema.String, millis: Schema.Number },
  success: Schema.Number
})

export class UnknownImage extends Schema.TaggedError<UnknownImage>()("UnknownImage", { image: Schema.String }) {}

/** Fails with `UnknownImage` for names that start with `missing`. */
export const Lookup = Task.make("Lookup", {
  payload: { image: Schema.String },
  success: Schema.String,
  error: UnknownImage
})

export const ImageTasks = Task.group(Resize, Lookup)
