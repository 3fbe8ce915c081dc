/**
 * Worker entry of the copied workloads (`copied.ts`): what a process backend's workers serve.
 */
import { Worker } from "../worker.ts"
import { copiedHandlers, CopiedWorkloads } from "./copied.ts"

export default Worker.serve(CopiedWorkloads, copiedHandlers)
