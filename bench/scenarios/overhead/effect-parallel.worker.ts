import * as Effect from "effect/Effect"
import { Worker } from "../../../src/worker.ts"
import { OverheadTasks } from "./effect-parallel.tasks.ts"

export default Worker.serve(OverheadTasks, { Add: ({ a, b }) => Effect.succeed(a + b) })
