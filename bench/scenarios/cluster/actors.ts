/**
 * The cluster scenario's actor and its group, shared by the runners' host module, the worker
 * entry and the client (imports the worker-side entry only, so workers stay light).
 */
import * as Schema from "effect/Schema"
import { Actor, Task } from "effect-parallel/worker"

export const Burner = Actor.make("Burner", {
  init: { name: Schema.String },
  methods: {
    /** Busy-waits `millis` on the worker thread: CPU-bound work. */
    burn: { payload: { millis: Schema.Number }, success: Schema.Number },
    /** Answers its process id at once: the cost of a call itself (and where the actor lives). */
    ping: { success: Schema.Number }
  }
})

export const BurnerGroup = Task.group(Burner)
