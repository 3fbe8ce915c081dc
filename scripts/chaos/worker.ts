/** The chaos soak's worker entry, for backends that do not share memory. */
import { Worker } from "../../src/worker.ts"
import { ChaosInit, tally, work } from "./handlers.ts"
import { ChaosTasks } from "./tasks.ts"

export default Worker.serve(ChaosTasks, { Work: work, Tally: tally }, { layer: ChaosInit })
