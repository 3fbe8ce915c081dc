/** The chaos soak's worker entry, with the shared-array task, for backends that share memory. */
import * as Effect from "effect/Effect"
import { Worker } from "../../src/worker.ts"
import { ChaosInit, tally, work } from "./handlers.ts"
import { ChaosSharedTasks } from "./tasks.ts"

export default Worker.serve(ChaosSharedTasks, {
  Work: work,
  Tally: tally,
  Total: ({ values }) => Effect.sync(() => values.reduce((sum, x) => sum + x, 0))
}, { layer: ChaosInit })
