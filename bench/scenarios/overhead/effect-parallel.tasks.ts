/** The overhead scenario's one task, as effect-parallel defines it (from the worker-side entry, as a worker imports it). */
import * as Schema from "effect/Schema"
import { Task } from "../../../src/worker.ts"

export const Add = Task.make("Add", { payload: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
export const OverheadTasks = Task.group(Add)
