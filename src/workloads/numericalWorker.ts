/**
 * Worker entry of the numerical workload: serves `NumericalTasks`.
 */
import { Worker } from "../worker.ts"
import { handlers, NumericalTasks } from "./numericalTasks.ts"

export default Worker.serve(NumericalTasks, handlers)
