/**
 * The pipeline's stages, shared by the caller and the workers: a task that tokenizes a document
 * (failing, declared, on an empty one) and a stateful actor that scores token lists with a model
 * it loads once per replica.
 */
import * as Schema from "effect/Schema"
import { Actor, Task } from "effect-parallel/worker"

export const Document = Schema.Struct({ id: Schema.Int, text: Schema.String })
export const Tokens = Schema.Struct({ id: Schema.Int, words: Schema.Array(Schema.String) })

export class EmptyDocument extends Schema.TaggedError<EmptyDocument>()("EmptyDocument", { id: Schema.Int }) {}

export const Tokenize = Task.make("Tokenize", { payload: Document, success: Tokens, error: EmptyDocument })

/** A sentiment model: loaded in its constructor, then used for every call; counts what it scored. */
export const Classifier = Actor.make("Classifier", {
  init: { threshold: Schema.Number },
  methods: {
    score: {
      payload: Tokens,
      success: Schema.Struct({ id: Schema.Int, score: Schema.Number, label: Schema.Literals(["positive", "negative"]) })
    },
    scored: { success: Schema.Int }
  }
})

export const PipelineStages = Task.group(Tokenize, Classifier)
