/**
 * `tinypool` — Tinypool with its defaults except the thread count (pinned to
 * `workers`), every task submitted at once with `Promise.all` of `pool.run`.
 */
import Tinypool from "tinypool"
import type { OverheadVariant } from "./variant.ts"

const filename = new URL("./tinypool.worker.ts", import.meta.url).href

const tinypool: OverheadVariant = {
  name: "tinypool",
  config: "minThreads = maxThreads = workers, other options default (worker_threads runtime, no isolation)",
  setup: async (workers) => {
    const pool = new Tinypool({ filename, minThreads: workers, maxThreads: workers })
    return {
      runBatch: (inputs) => Promise.all(inputs.map((input) => pool.run(input) as Promise<number>)),
      roundTrip: (input) => pool.run(input) as Promise<number>,
      close: () => pool.destroy()
    }
  }
}

export const variants: ReadonlyArray<OverheadVariant> = [tinypool]
