/**
 * Pipeline: a multi-stage stream whose stages run on workers — a tokenizer task on the pool, then
 * a stateful classifier on an actor pool (its model loaded once per replica) — bounded, in input
 * order, with skip-and-record for the documents a stage rejects (a typed record of the element,
 * the stage and the error, within an error budget).
 *
 * Run with `npm run example -- pipeline`.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Actor, ActorPool, Pipeline, WorkerPool } from "effect-parallel"
import { Classifier, PipelineStages, Tokenize } from "./stages.ts"

const Pool = WorkerPool.layer(PipelineStages, { entry: new URL("./worker.ts", import.meta.url), size: 2 })

const phrases = ["a good and fast library", "slow and bad", "great great results", "awful", "fast enough", ""]
const documents = Array.from({ length: 200 }, (_, id) => ({ id, text: id % 67 === 5 ? "" : phrases[id % 5]! }))

const program = Effect.scoped(Effect.gen(function*() {
  console.log("Two replicas of the classifier, each loading its model once:")
  const replicas = ActorPool.make(yield* Actor.spawnMany(Classifier, 2, { threshold: 1 }))
  const log = Pipeline.errorLog({ budget: 10 })
  const labelled = yield* Stream.fromIterable(documents).pipe(
    Pipeline.task(Tokenize, { batch: 32, concurrency: 2, onError: log }), // stage 1: any worker
    Pipeline.actors(replicas, "score"), // stage 2: the least busy replica, order kept
    Stream.runCollect
  )
  const positive = labelled.filter((r) => r.label === "positive").length
  console.log(`documents: ${documents.length}, classified: ${labelled.length} (${positive} positive)`)
  const ids = labelled.map((r) => r.id)
  console.log(`input order kept: ${ids.every((id, i) => i === 0 || id > ids[i - 1]!)}`)
  for (const failure of log.failures) {
    const error = failure.error as { _tag: string }
    console.log(`skipped: document ${(failure.element as { id: number }).id} at stage ${failure.stage} (${error._tag})`)
  }
  const counts = yield* Effect.forEach(replicas.handles, (handle) => handle.call("scored"))
  console.log(`scored per replica: ${counts.join(" + ")} = ${counts[0]! + counts[1]!}`)
}))

program.pipe(Effect.provide(Pool), Effect.runPromise).then(
  () => console.log(`\nworkers left running: ${WorkerPool.liveThreads()}`),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
