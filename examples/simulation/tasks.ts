/**
 * The example's task: index one document (count its words). Imported by the pipeline and by the
 * worker entry.
 */
import * as Schema from "effect/Schema"
import { Task } from "effect-parallel/worker"

export const Index = Task.make("Index", {
  payload: { doc: Schema.String },
  success: Schema.Struct({ doc: Schema.String, words: Schema.Int })
})

export const IndexTasks = Task.group(Index)
