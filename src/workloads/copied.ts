/**
 * The workloads for workers that share no memory with the caller (child processes): the numerical
 * workload's `ConvolveCopied` and `CopiedClassifier`, the model workload's `Classifier` with its
 * batch copied into its init arguments once (a process cannot read the caller's
 * `SharedArrayBuffer`). The group the worker entry `copiedWorker.ts` serves.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Actor, SharedArray, Task } from "../worker.ts"
import { loadMlp } from "./mlp.ts"
import { ConvolveCopied, handlers } from "./numericalTasks.ts"

/** Model loads in this worker (its module state: a process's, or a thread's). */
let loadsHere = 0

/**
 * An MLP loaded once, in its constructor, predicting the batch it was given at spawn.
 * `intraOpThreads`: onnxruntime's intra-op threads for its session (default 1, see `loadMlp`).
 */
export const CopiedClassifier = Actor.make("CopiedClassifier", {
  init: {
    modelPath: Schema.String,
    images: SharedArray.array("Float32", { memory: "copied" }),
    count: Schema.Int,
    intraOpThreads: Schema.optional(Schema.Int)
  },
  methods: {
    predict: { payload: Schema.Struct({}), success: SharedArray.array("Float32", { memory: "copied" }) },
    /** Model loads in the actor's worker so far. */
    loads: { payload: Schema.Struct({}), success: Schema.Int }
  }
})

export const copiedClassifier = Actor.implement(CopiedClassifier, ({ count, images, intraOpThreads, modelPath }) =>
  Effect.gen(function*() {
    const session = yield* Effect.acquireRelease(
      Effect.promise(() => {
        loadsHere++
        return loadMlp(modelPath, intraOpThreads === undefined ? {} : { intraOpNumThreads: intraOpThreads })
      }),
      (session) => Effect.promise(() => session.release())
    )
    return {
      predict: () => Effect.promise(() => session.predict(images, count)),
      loads: () => Effect.sync(() => loadsHere)
    }
  }))

export const CopiedWorkloads = Task.group(ConvolveCopied, CopiedClassifier)

export const copiedHandlers = { ConvolveCopied: handlers.ConvolveCopied, CopiedClassifier: copiedClassifier }
