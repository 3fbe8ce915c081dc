/** The cold-start scenario's task, defined through the worker-side entry (`effect-parallel/worker`). */
import * as Schema from "effect/Schema"
import { Task } from "effect-parallel/worker"

export const Ping = Task.make("ColdPing", { payload: { n: Schema.Number }, success: Schema.Number })
export const ColdTasks = Task.group(Ping)
