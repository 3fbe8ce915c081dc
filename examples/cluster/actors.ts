/**
 * The cluster example's definitions, imported by the runners' host module, the worker entry and
 * the client: a durable visit counter (its state survives its runner) and a task.
 */
import * as Schema from "effect/Schema"
import { Actor, Task } from "effect-parallel/worker"

export const Visits = Schema.Struct({ page: Schema.String, visits: Schema.Int })

/** Counts visits to one page; the entity id is the page. */
export const PageCounter = Actor.make("PageCounter", {
  init: { page: Schema.String, restored: Schema.optional(Visits) },
  methods: {
    visit: { success: Visits },
    /** The state the runner snapshots after each call and restores on the next activation. */
    state: { success: Visits },
    /** The runner process this actor lives in. */
    runner: { success: Schema.Number }
  }
})

/** A CPU-bound task that `Task.map` on `Cluster.pool` spreads over the runners. */
export const Collatz = Task.make("Collatz", {
  payload: { n: Schema.Int },
  success: Schema.Struct({ steps: Schema.Int, runner: Schema.Number })
})

export const SiteTasks = Task.group(PageCounter, Collatz)
