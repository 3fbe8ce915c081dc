/**
 * `tinypool` — Tinypool with its defaults except the thread count (pinned to
 * `workers`), every task submitted at once with `Promise.all` of `pool.run`;
 * `tinypool/child_process` — the same with `runtime: "child_process"`: its
 * workers are child processes (the peer of our process backend).
 */
import Tinypool from "tinypool"
import type { OverheadVariant } from "./variant.ts"

const filename = new URL("./tinypool.worker.ts", import.meta.url).href

const variant = (name: string, config: string, runtime: "worker_threads" | "child_process"): OverheadVariant => ({
  name,
  config,
  setup: async (workers) => {
    const pool = new Tinypool({ filename, minThreads: workers, maxThreads: workers, runtime })
    return {
      runBatch: (inputs) => Promise.all(inputs.map((input) => pool.run(input) as Promise<number>)),
      roundTrip: (input) => pool.run(input) as Promise<number>,
      close: () => pool.destroy()
    }
  }
})

export const variants: ReadonlyArray<OverheadVariant> = [
  variant("tinypool", "minThreads = maxThreads = workers, other options default (worker_threads runtime, no isolation)", "worker_threads"),
  variant("tinypool/child_process", "minThreads = maxThreads = workers, runtime child_process, other options default", "child_process")
]
