/**
 * The demo's worker entry: the workloads' own handlers and actor constructors, and the two tasks
 * that fail on purpose.
 */
import * as Effect from "effect/Effect"
import { Worker } from "effect-parallel/worker"
import { handlers } from "../../src/workloads/numerical.ts"
import { classifier, prefixCounter } from "../../src/workloads/statefulActors.ts"
import { DemoTasks, NapTooLong, napLimit } from "./tasks.ts"

export default Worker.serve(DemoTasks, {
  ConvolveInto: handlers.ConvolveInto,
  PrefixCounter: prefixCounter,
  Classifier: classifier,
  Nap: ({ millis }) =>
    millis > napLimit
      ? Effect.fail(new NapTooLong({ millis, limit: napLimit }))
      : Effect.as(Effect.sleep(millis), millis),
  Crash: () =>
    // Never answers: the thrown error is uncaught, so the thread dies holding the task.
    Effect.callback<void>(() => {
      setImmediate(() => {
        throw new Error("simulated native crash")
      })
    })
})
