/**
 * `piscina` — the baseline: Piscina with its defaults except the thread count
 * (pinned to `workers`, where the defaults would give min 1 / max 3 threads on
 * 2 cores), every task submitted at once with `Promise.all` of `pool.run`.
 */
import { Piscina } from "piscina"
import type { AddInput, OverheadVariant } from "./variant.ts"

const filename = new URL("./piscina.worker.ts", import.meta.url).href

const piscina: OverheadVariant = {
  name: "piscina",
  config: "minThreads = maxThreads = workers, other options default (atomics 'sync', 1 task per worker)",
  setup: async (workers) => {
    const pool = new Piscina<AddInput, number>({ filename, minThreads: workers, maxThreads: workers })
    return {
      runBatch: (inputs) => Promise.all(inputs.map((input) => pool.run(input))),
      roundTrip: (input) => pool.run(input),
      close: () => pool.destroy()
    }
  }
}

export const variants: ReadonlyArray<OverheadVariant> = [piscina]
