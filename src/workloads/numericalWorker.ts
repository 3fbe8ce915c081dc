/**
 * Worker entry of the numerical workload: serves `NumericalTasks`.
 */
import { Worker } from "../index.ts"
import { handlers, NumericalTasks } from "./numerical.ts"

export default Worker.serve(NumericalTasks, handlers)
