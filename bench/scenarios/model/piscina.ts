/**
 * `piscina` — Piscina with a module-level model per thread, loaded on the
 * thread's first task (see `piscina.worker.ts`). Threads pinned to `workers`
 * and never retired, so each thread loads once; a round's `workers` tasks go
 * one per thread because the default balancer prefers idle threads and every
 * thread is idle between rounds.
 *
 * `reload-per-call` — the post's `multiprocessing.Pool` variant on the same
 * pool: every task loads the model, predicts and releases it.
 */
import { Piscina } from "piscina"
import type { ModelVariant } from "./variant.ts"

const filename = new URL("./piscina.worker.ts", import.meta.url).href

const make = (name: string, config: string, task: "default" | "reload"): ModelVariant => ({
  name,
  config,
  setup: async (workers, setup) => {
    const pool = new Piscina<null, Float32Array>({
      filename,
      name: task,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: Infinity,
      workerData: setup
    })
    return {
      instances: workers,
      round: () => Promise.all(Array.from({ length: workers }, () => pool.run(null))),
      close: () => pool.destroy()
    }
  }
})

export const variants: ReadonlyArray<ModelVariant> = [
  make("piscina", "module-level model loaded on a thread's first task; min = max = workers, idleTimeout Infinity", "default"),
  make("reload-per-call", "Piscina, min = max = workers; every task loads, predicts and releases the model", "reload")
]
