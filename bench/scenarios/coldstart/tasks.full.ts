/** The cold-start scenario's task, defined through the full entry (`effect-parallel`). */
import * as Schema from "effect/Schema"
import { Task } from "effect-parallel"

export const Ping = Task.make("ColdPing", { payload: { n: Schema.Number }, success: Schema.Number })
export const ColdTasks = Task.group(Ping)
