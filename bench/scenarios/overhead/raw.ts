/**
 * `raw/postMessage` — the floor for per-task messaging: plain `worker_threads`,
 * no pool library. Every task is its own `postMessage` carrying a request id,
 * tasks go to the workers round robin with no limit on how many are in flight
 * (pipelined), and replies are matched to their promises by id.
 */
import { Worker } from "node:worker_threads"
import type { OverheadVariant } from "./variant.ts"

const script = new URL("./raw.worker.ts", import.meta.url)

interface Pending {
  readonly resolve: (value: number) => void
  readonly reject: (error: unknown) => void
}

const raw: OverheadVariant = {
  name: "raw/postMessage",
  config: "worker_threads, one postMessage per task, request ids, round robin, unbounded in flight",
  setup: async (workers) => {
    const pending = new Map<number, Pending>()
    let nextId = 0
    let nextWorker = 0
    let failure: unknown = undefined
    const failAll = (error: unknown) => {
      failure ??= error
      for (const p of pending.values()) p.reject(error)
      pending.clear()
    }
    const pool = Array.from({ length: workers }, () => {
      const worker = new Worker(script)
      worker.on("message", ([id, result]: readonly [number, number]) => {
        const p = pending.get(id)
        if (p !== undefined) {
          pending.delete(id)
          p.resolve(result)
        }
      })
      worker.on("error", failAll)
      worker.on("exit", (code) => {
        if (pending.size > 0) failAll(new Error(`raw worker exited with code ${code}`))
      })
      return worker
    })
    const call = (a: number, b: number): Promise<number> =>
      new Promise((resolve, reject) => {
        if (failure !== undefined) return reject(failure)
        const id = nextId++
        pending.set(id, { resolve, reject })
        pool[nextWorker]!.postMessage([id, a, b])
        nextWorker = (nextWorker + 1) % pool.length
      })
    return {
      runBatch: (inputs) => Promise.all(inputs.map(({ a, b }) => call(a, b))),
      roundTrip: ({ a, b }) => call(a, b),
      close: async () => {
        await Promise.all(pool.map((worker) => worker.terminate()))
      }
    }
  }
}

export const variants: ReadonlyArray<OverheadVariant> = [raw]
