/**
 * Actors: state that lives in one worker across calls. Shows a word counter whose constructor
 * acquires a resource (released, with a log line, when the actor stops), a typed method error
 * handled with `Effect.catchTag`, replicas from `Actor.spawnMany` fed by `ActorPool.map` (each
 * call to the least busy one), a handle passed in a task payload (`Actor.Ref`) and called by the
 * task's worker, and supervision: with `restart: { maxRestarts: 1 }` a call in flight when the
 * worker dies fails with `WorkerLost`, the next call reaches the rebuilt actor, and once the
 * restart is used up the actor is dead. Lines in brackets are printed by the workers.
 *
 * Run with `npm run example -- actors`.
 */
import * as Effect from "effect/Effect"
import { Actor, ActorPool, Task, type TaskError, WorkerPool } from "effect-parallel"
import { CounterTasks, Lookup, WordCounter } from "./actors.ts"

const CounterPool = WorkerPool.layer(CounterTasks, { entry: new URL("./worker.ts", import.meta.url), size: 2 })

const lines = [
  "the quick brown fox",
  "jumps over the lazy dog",
  "the dog sleeps",
  "a fox is quick and the dog is lazy"
]

/** One line per failure: its reason and the fields that say what happened. */
const describe = (error: Actor.CallFailure): string => {
  const reason = error.reason
  switch (reason._tag) {
    case "WorkerLost":
      return `WorkerLost (${reason.message}; attempts ${(error as TaskError.TaskError).attempts})`
    case "Unavailable":
      return `Unavailable (${reason.state}: ${reason.message})`
    default:
      return `${reason._tag}: ${reason.message}`
  }
}

/** Waits for the workers' console lines (forwarded asynchronously) before going on. */
const settle = Effect.sleep("30 millis")

const stateAndErrors = Effect.scoped(Effect.gen(function*() {
  console.log("1. State, a scoped resource and typed errors")
  const counter = yield* Actor.spawn(WordCounter, { name: "solo" }, { worker: 1 })
  for (const text of lines) yield* counter.call("ingest", { text, millis: 0 })
  const stats = yield* counter.call("stats", {})
  console.log(`   solo on worker ${stats.workerId}: ${stats.words} words, ${stats.distinct} distinct`)
  console.log(`   count("the") = ${yield* counter.call("count", { word: "the" })}`)
  const zebra = yield* counter.call("count", { word: "zebra" }).pipe(
    Effect.catchTag("UnknownWord", (e) => Effect.succeed(`UnknownWord caught: "${e.word}" unseen by ${e.counter}`))
  )
  console.log(`   count("zebra") → ${zebra}`)

  // The handle crosses as an id; the task's worker calls the actor through its own pool.
  const lookup = yield* Task.run(Lookup, { counter, words: ["dog", "fox", "zebra"] })
  const found = lookup.counts.map(({ count, word }) => `${word}=${count}`).join(" ")
  console.log(`   Lookup task on worker ${lookup.workerId}, given the handle (Actor.Ref): ${found}`)
  console.log("   closing the scope stops the actor:")
}))

const pooled = Effect.scoped(Effect.gen(function*() {
  console.log("\n2. Actor.spawnMany + ActorPool.map: each call goes to the least busy replica")
  const replicas = yield* Actor.spawnMany(WordCounter, 2, { name: "replica" })
  // Uneven work: a replica stuck on a slow line takes fewer of the rest.
  const inputs = Array.from({ length: 12 }, (_, i) => ({ text: lines[i % lines.length]!, millis: i % 4 === 0 ? 120 : 15 }))
  const results = yield* ActorPool.map(ActorPool.make(replicas), "ingest", inputs)
  const rows = yield* Effect.forEach(replicas, (replica) =>
    Effect.map(replica.call("stats", {}), (stats) => {
      const mine = results.flatMap((r, i) => (r.workerId === stats.workerId ? [inputs[i]!] : []))
      return {
        replica: `#${replica.id} on worker ${stats.workerId}`,
        calls: mine.length,
        "busy ms": mine.reduce((ms, input) => ms + input.millis, 0),
        words: stats.words
      }
    }))
  console.table(rows)
  console.log("   closing the scope stops both replicas:")
}))

const supervised = Effect.scoped(Effect.gen(function*() {
  console.log("\n3. Supervision: restart: { maxRestarts: 1 }")
  const counter = yield* Actor.spawn(WordCounter, { name: "supervised" }, {
    restart: { maxRestarts: 1, backoff: "50 millis" }
  })
  yield* counter.call("ingest", { text: lines[0]!, millis: 0 })
  const before = yield* counter.call("stats", {})
  console.log(`   before: worker ${before.workerId}, ${before.words} words`)
  const lost = yield* Effect.flip(counter.call("crash", {}))
  console.log(`   crash (in flight when the worker died) → ${describe(lost)}`)
  const after = yield* counter.call("stats", {})
  console.log(`   next call → rebuilt actor on worker ${after.workerId}, ${after.words} words (fresh state)`)
  yield* settle
  const lostAgain = yield* Effect.flip(counter.call("crash", {}))
  console.log(`   crash again → ${describe(lostAgain)}`)
  const dead = yield* Effect.flip(counter.call("stats", {}))
  console.log(`   next call → ${describe(dead)}`)
}))

const program = Effect.gen(function*() {
  yield* stateAndErrors
  yield* settle
  yield* pooled
  yield* settle
  yield* supervised
})

console.log(
  [
    "Actors: a word counter whose state lives in one worker across calls. Lines in brackets are printed by",
    "the workers. Part 3 crashes worker threads on purpose, to show what supervision does about it.",
    ""
  ].join("\n")
)

program.pipe(Effect.provide(CounterPool), Effect.runPromise).then(
  () => console.log(`\nworkers left running: ${WorkerPool.liveThreads()}`),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
