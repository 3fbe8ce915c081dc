/**
 * The demo's definitions, shared by the caller (`main.ts`) and the worker entry (`worker.ts`).
 *
 * The three workloads of Ray's "10x faster than Python multiprocessing" post, as they live in
 * `src/workloads`: `ConvolveInto` (a filter over an image in shared memory), `PrefixCounter` (an
 * actor that keeps its counts between calls) and `Classifier` (an actor that loads an ONNX model
 * once). And two tasks that exist to fail: `Nap` has a declared error, `Crash` takes its worker
 * thread down. One pool serves them all.
 */
import * as Schema from "effect/Schema"
import { Task } from "effect-parallel/worker"
import { ConvolveInto } from "../../src/workloads/numerical.ts"
import { Classifier, PrefixCounter } from "../../src/workloads/statefulActors.ts"

export { Classifier, ConvolveInto, PrefixCounter }

/** `Nap`'s declared error: it travels back to the caller as this class. */
export class NapTooLong extends Schema.TaggedError<NapTooLong>()("NapTooLong", {
  millis: Schema.Int,
  limit: Schema.Int
}) {}

/** The longest nap a worker accepts. */
export const napLimit = 1_000

/** Waits `millis` in the worker (interruptibly); refuses more than `napLimit` with `NapTooLong`. */
export const Nap = Task.make("Nap", {
  payload: { millis: Schema.Int },
  success: Schema.Int,
  error: NapTooLong
})

/** Brings its worker thread down with an uncaught exception: a stand-in for a native crash. */
export const Crash = Task.make("Crash", { payload: Schema.Struct({}) })

export const DemoTasks = Task.group(ConvolveInto, PrefixCounter, Classifier, Nap, Crash)
