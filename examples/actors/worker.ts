/**
 * The actors example's worker entry: the word counter's constructor and the `Lookup` task.
 */
import * as Effect from "effect/Effect"
import { Actor, Worker } from "effect-parallel/worker"
import { CounterTasks, UnknownWord, WordCounter, words } from "./actors.ts"

const WordCounterLive = Actor.implement(WordCounter, ({ name }) =>
  Effect.gen(function*() {
    const { id } = yield* Worker.WorkerInfo
    // A resource owned by the actor: acquired when it is built, released when it stops (its
    // scope closes, or the pool does). A worker that dies runs no finalizers.
    const journal = yield* Effect.acquireRelease(
      Effect.sync(() => {
        console.log(`  [worker ${id}] ${name}: journal opened`)
        return [] as Array<string>
      }),
      (journal) => Effect.sync(() => console.log(`  [worker ${id}] ${name}: journal closed, ${journal.length} entries`))
    )
    // State: lives in this worker across calls; calls arrive one at a time, in order.
    const counts = new Map<string, number>()
    let total = 0
    return {
      ingest: ({ millis, text }) =>
        Effect.sleep(millis).pipe(Effect.map(() => {
          const found = words(text)
          for (const word of found) counts.set(word, (counts.get(word) ?? 0) + 1)
          total += found.length
          journal.push(text)
          return { workerId: id, words: found.length }
        })),
      count: ({ word }) => {
        const n = counts.get(word)
        return n === undefined ? Effect.fail(new UnknownWord({ word, counter: name })) : Effect.succeed(n)
      },
      stats: () => Effect.sync(() => ({ workerId: id, words: total, distinct: counts.size })),
      crash: () => Effect.sync(() => process.exit(1))
    }
  }))

export default Worker.serve(CounterTasks, {
  WordCounter: WordCounterLive,
  Lookup: ({ counter, words }) =>
    Effect.gen(function*() {
      const { id } = yield* Worker.WorkerInfo
      const counts = yield* Effect.forEach(words, (word) =>
        counter.call("count", { word }).pipe(
          // The declared error, handled here in the worker like any typed failure.
          Effect.catchTag("UnknownWord", () => Effect.succeed(0)),
          Effect.map((count) => ({ word, count }))
        ))
      return { workerId: id, counts }
    }).pipe(Effect.orDie) // any other failure of the call is this task's defect
})
