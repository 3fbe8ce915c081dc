/** The uneven-costs scenario's one task (imported by workers from the worker-side entry). */
import * as Schema from "effect/Schema"
import { Task } from "../../../src/worker.ts"

export const Work = Task.make("Work", { payload: { iterations: Schema.Number }, success: Schema.Number })
export const UnevenTasks = Task.group(Work)
