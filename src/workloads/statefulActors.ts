/**
 * The stateful and expensive-initialization workloads as effect-parallel actors, built only on
 * the public API.
 *
 * Contains `PrefixCounter` (a streaming prefix count that lives in its worker across calls) and
 * `Classifier` (an MLP loaded once, in its constructor, and released when the actor stops), their
 * constructors, and the group the worker entry `actorsWorker.ts` serves.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Actor, SharedArray, Task } from "../worker.ts"
import { loadMlp } from "./mlp.ts"
import { makePrefixCount } from "./prefixCount.ts"

/** Ray's streaming prefix count: documents in, popular prefixes out (a radix tree unless `counter: "map"`). */
export const PrefixCounter = Actor.make("PrefixCounter", {
  init: { counter: Schema.optional(Schema.Literals(["radix", "map"])) },
  methods: {
    add: { payload: { document: Schema.String } },
    popular: { payload: Schema.Struct({}), success: Schema.Array(Schema.String) },
    count: { payload: { prefix: Schema.String }, success: Schema.Int },
    reset: { payload: Schema.Struct({}) }
  }
})

export const prefixCounter = Actor.implement(PrefixCounter, ({ counter }) =>
  Effect.sync(() => {
    let state = makePrefixCount(counter)
    return {
      add: ({ document }) => Effect.sync(() => state.add(document)),
      popular: () => Effect.sync(() => [...state.popular()]),
      count: ({ prefix }) => Effect.sync(() => state.count(prefix)),
      reset: () => Effect.sync(() => void (state = makePrefixCount(counter)))
    }
  }))

/**
 * An MNIST-shaped MLP served by an actor: the model is loaded once, when the actor is built, and
 * every `predict` runs the batch of `count` images that the caller shared at construction.
 * `loads[0]` (optional) counts loads across threads.
 */
export const Classifier = Actor.make("Classifier", {
  init: {
    modelPath: Schema.String,
    images: SharedArray.Float32,
    count: Schema.Int,
    loads: Schema.optional(SharedArray.Int32)
  },
  methods: {
    predict: { payload: Schema.Struct({}), success: SharedArray.array("Float32", { memory: "copied" }) }
  }
})

export const classifier = Actor.implement(Classifier, ({ count, images, loads, modelPath }) =>
  Effect.gen(function*() {
    const session = yield* Effect.acquireRelease(
      Effect.promise(() => {
        // The caller's load counter: a shared cell the actor is meant to write.
        if (loads !== undefined) Atomics.add(loads as unknown as Int32Array<SharedArrayBuffer>, 0, 1)
        return loadMlp(modelPath)
      }),
      (session) => Effect.promise(() => session.release())
    )
    return {
      predict: () => Effect.promise(() => session.predict(images as unknown as Float32Array, count))
    }
  }))

export const ActorWorkloads = Task.group(PrefixCounter, Classifier)
