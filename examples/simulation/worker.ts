/**
 * The worker entry: the same module a thread pool would load. Its "work" takes a millisecond per
 * word — on the simulated backend, virtual milliseconds.
 */
import * as Effect from "effect/Effect"
import { Worker } from "effect-parallel/worker"
import { IndexTasks } from "./tasks.ts"

export default Worker.serve(IndexTasks, {
  Index: ({ doc }) => {
    const words = doc.split(/\s+/).filter((word) => word.length > 0).length
    return Effect.as(Effect.sleep(words), { doc, words })
  }
})
