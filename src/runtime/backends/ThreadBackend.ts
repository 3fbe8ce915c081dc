/**
 * Workers as Node worker threads, each running `threadMain.ts` with the user's entry module.
 *
 * A worker speaks to the pool on a port of its own (`replies`), not its parent port: the pool
 * can then also take a message off it synchronously (`receiveMessageOnPort`), which is how
 * `poll` waits for a reply without going back to the event loop. Every message of a worker
 * comes through that one port, in order, and those it sent before it ended are taken before
 * its exit is reported.
 *
 * Also tracks every thread it started until Node reports its exit, so tests (and users) can
 * check that a closed pool left no thread behind.
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads"
import type { Backend, Connection, WorkerEvents } from "../scheduler/Dispatcher.ts"

export interface ThreadOptions {
  /** The worker entry module (`export default Worker.serve(…)`). */
  readonly entry: string
  /**
   * Per-thread V8 heap limits: a worker over them dies and its tasks fail as `WorkerLost`. Fields
   * not given take `defaultResourceLimits`.
   */
  readonly resourceLimits?: { readonly maxOldGenerationSizeMb?: number; readonly maxYoungGenerationSizeMb?: number }
  /** How long `poll` waits for a message, in milliseconds (the pool's `replyWait`); 0: no `poll`. */
  readonly replyWaitMillis: number
}

/** Why a 24 MB young generation: `WorkerPool.Options.resourceLimits`. */
const defaultResourceLimits = { maxYoungGenerationSizeMb: 24 }

const threadMain = new URL("../worker/threadMain.ts", import.meta.url)
const live = new Set<Worker>()

/** Worker threads started by any pool whose exit Node has not yet reported. */
export const liveThreads = (): number => live.size

export const threadBackend = (options: ThreadOptions): Backend => ({
  spawn: (workerId: number, events: WorkerEvents): Connection => {
    const { port1: replies, port2: workerReplies } = new MessageChannel()
    const worker = new Worker(threadMain, {
      workerData: { entry: options.entry, workerId, replies: workerReplies },
      transferList: [workerReplies],
      resourceLimits: { ...defaultResourceLimits, ...options.resourceLimits }
    })
    live.add(worker)
    let failure: string | undefined
    replies.on("message", events.onMessage)
    worker.on("error", (error) => {
      failure = `crashed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`
    })
    worker.on("exit", (code) => {
      live.delete(worker)
      // What the worker said before it ended comes before its end.
      while (takeMessage(replies, events)) { /* delivered */ }
      replies.close()
      events.onExit(failure ?? `exited with code ${code}`)
    })
    const replyWaitMillis = options.replyWaitMillis
    return {
      send: (message) => worker.postMessage(message),
      terminate: () => void worker.terminate(),
      ...(replyWaitMillis > 0
        ? {
          poll: () => {
            const until = performance.now() + replyWaitMillis
            do {
              if (takeMessage(replies, events)) return true
            } while (performance.now() < until)
            return false
          }
        }
        : {})
    }
  }
})

/** Delivers the port's next message now, if there is one. */
const takeMessage = (port: MessagePort, events: WorkerEvents): boolean => {
  const received = receiveMessageOnPort(port)
  if (received === undefined) return false
  events.onMessage(received.message)
  return true
}
