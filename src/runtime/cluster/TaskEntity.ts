/**
 * Tasks across runners: the `effect/cluster` Entity through which a runner takes chunks of a
 * task's inputs and runs them on its local pool.
 *
 * One entity type per task (`Task/<name>`) with one RPC, `map`: a chunk of payloads in, the
 * successes in the same order out, failing with the task's declared error or `TaskError` as
 * `Task.map` does. Chunks go to `lanes` entity ids, which the cluster shards over the runners;
 * a lane handles its chunks concurrently, so lanes only spread work, they never serialize it.
 */
import * as Entity from "effect/cluster/Entity"
import * as Rpc from "effect/rpc/Rpc"
import * as Schema from "effect/Schema"
import type * as Task from "../../core/Task.ts"
import { TaskError } from "../../core/TaskError.ts"

/** Entity ids chunks are spread over: enough that the shards they hash to cover every runner. */
export const lanes = 64

const entities = new WeakMap<Task.Any, Entity.Any>()

/** The Entity a task's chunks go through (cached: one per definition). */
export const taskEntityOf = (task: Task.Any): Entity.Any => {
  let entity = entities.get(task)
  if (entity === undefined) {
    entity = Entity.make(`Task/${task.name}`, [
      Rpc.make("map", {
        payload: { inputs: Schema.Array(task.payload) },
        success: Schema.Array(task.success),
        error: Schema.Union([task.error, TaskError])
      })
    ]) as unknown as Entity.Any
    entities.set(task, entity)
  }
  return entity
}
