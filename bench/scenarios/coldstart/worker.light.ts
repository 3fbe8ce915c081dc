/** A worker entry that imports only the worker-side entry. */
import * as Effect from "effect/Effect"
import { Worker } from "effect-parallel/worker"
import { ColdTasks } from "./tasks.light.ts"

export default Worker.serve(ColdTasks, { ColdPing: ({ n }) => Effect.succeed(n) })
