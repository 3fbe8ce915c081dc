/**
 * Workers as Node worker threads, each running `threadMain.ts` with the user's entry module.
 *
 * Also tracks every thread it started until Node reports its exit, so tests (and users) can
 * check that a closed pool left no thread behind.
 */
import { Worker } from "node:worker_threads"
import type { Backend, Connection, WorkerEvents } from "./Dispatcher.ts"

export interface ThreadOptions {
  /** The worker entry module (`export default Worker.serve(…)`). */
  readonly entry: string
  /** Per-thread V8 heap limits: a worker over them dies and its tasks fail as `WorkerLost`. */
  readonly resourceLimits?: { readonly maxOldGenerationSizeMb?: number; readonly maxYoungGenerationSizeMb?: number }
}

const threadMain = new URL("./threadMain.ts", import.meta.url)
const live = new Set<Worker>()

/** Worker threads started by any pool whose exit Node has not yet reported. */
export const liveThreads = (): number => live.size

export const threadBackend = (options: ThreadOptions): Backend => ({
  spawn: (workerId: number, events: WorkerEvents): Connection => {
    const worker = new Worker(threadMain, {
      workerData: { entry: options.entry, workerId },
      ...(options.resourceLimits !== undefined ? { resourceLimits: options.resourceLimits } : {})
    })
    live.add(worker)
    let failure: string | undefined
    worker.on("message", events.onMessage)
    worker.on("error", (error) => {
      failure = `crashed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`
    })
    worker.on("exit", (code) => {
      live.delete(worker)
      events.onExit(failure ?? `exited with code ${code}`)
    })
    return {
      send: (message) => worker.postMessage(message),
      terminate: () => void worker.terminate()
    }
  }
})
