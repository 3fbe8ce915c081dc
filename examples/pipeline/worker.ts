/**
 * The workers: the tokenizer is a plain task; the classifier's model is built once per replica,
 * in its constructor, and kept across calls with the replica's own counter.
 */
import * as Effect from "effect/Effect"
import { Worker } from "effect-parallel/worker"
import { EmptyDocument, PipelineStages } from "./stages.ts"

const loadModel = (): ReadonlyMap<string, number> =>
  new Map([["good", 1], ["great", 2], ["fast", 1], ["bad", -1], ["slow", -1], ["awful", -2]])

export default Worker.serve(PipelineStages, {
  Tokenize: ({ id, text }) =>
    text.trim() === ""
      ? Effect.fail(new EmptyDocument({ id }))
      : Effect.succeed({ id, words: text.toLowerCase().split(/\W+/).filter((w) => w !== "") }),
  Classifier: ({ threshold }) =>
    Effect.gen(function*() {
      const { id: workerId } = yield* Worker.WorkerInfo
      const model = loadModel()
      console.log(`   [worker ${workerId}] model loaded`)
      let scored = 0
      return {
        score: ({ id, words }) =>
          Effect.sync(() => {
            scored++
            const score = words.reduce((s, w) => s + (model.get(w) ?? 0), 0)
            return { id, score, label: score >= threshold ? "positive" as const : "negative" as const }
          }),
        scored: () => Effect.sync(() => scored)
      }
    })
})
