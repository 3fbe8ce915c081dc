/**
 * The actors example's definitions: a word counter actor (state and a resource that live in one
 * worker across calls, a typed method error, a method that kills its worker) and a task that
 * calls a counter through a handle in its payload. Imported by main.ts and worker.ts.
 */
import * as Schema from "effect/Schema"
import { Actor, Task } from "effect-parallel/worker"

/** `count` of a word the counter never saw: a declared error, so it arrives as this class. */
export class UnknownWord extends Schema.TaggedError<UnknownWord>()("UnknownWord", {
  word: Schema.String,
  counter: Schema.String
}) {}

export const WordCounter = Actor.make("WordCounter", {
  init: { name: Schema.String },
  methods: {
    /** Counts the words of `text` after `millis` of pretend work; says where it ran. */
    ingest: {
      payload: { text: Schema.String, millis: Schema.Int },
      success: Schema.Struct({ workerId: Schema.Int, words: Schema.Int })
    },
    count: { payload: { word: Schema.String }, success: Schema.Int, error: UnknownWord },
    stats: {
      payload: Schema.Struct({}),
      success: Schema.Struct({ workerId: Schema.Int, words: Schema.Int, distinct: Schema.Int })
    },
    /** Kills the actor's worker thread (`process.exit`): a stand-in for a native crash or OOM. */
    crash: { payload: Schema.Struct({}) }
  }
})

/** Looks words up in a counter it received as a handle: the worker calls the actor itself. */
export const Lookup = Task.make("Lookup", {
  payload: { counter: Actor.Ref(WordCounter), words: Schema.Array(Schema.String) },
  success: Schema.Struct({
    workerId: Schema.Int,
    counts: Schema.Array(Schema.Struct({ word: Schema.String, count: Schema.Int }))
  })
})

export const CounterTasks = Task.group(WordCounter, Lookup)

export const words = (text: string): Array<string> => text.toLowerCase().split(/\W+/).filter((w) => w.length > 0)
