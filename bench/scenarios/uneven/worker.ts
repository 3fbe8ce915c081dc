import * as Effect from "effect/Effect"
import { Worker } from "../../../src/worker.ts"
import { work } from "./kernel.ts"
import { UnevenTasks } from "./tasks.ts"

export default Worker.serve(UnevenTasks, { Work: ({ iterations }) => Effect.sync(() => work(iterations)) })
