/** A worker entry that imports the full entry, as every entry did before `effect-parallel/worker`. */
import * as Effect from "effect/Effect"
import { Worker } from "effect-parallel"
import { ColdTasks } from "./tasks.full.ts"

export default Worker.serve(ColdTasks, { ColdPing: ({ n }) => Effect.succeed(n) })
