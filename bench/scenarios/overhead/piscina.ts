/**
 * `piscina` — the baseline: Piscina with its defaults (`new Piscina({ filename })`; on 2 cores
 * that is min 1 / max 3 threads), every task submitted at once with `Promise.all` of `pool.run`.
 * The targets are ratios to this configuration.
 *
 * `piscina/pinned` — the same with the thread count pinned to `workers`, the fairest
 * like-for-like configuration, reported beside it so no ratio rests on a weak baseline alone.
 */
import { Piscina } from "piscina"
import type { AddInput, OverheadVariant } from "./variant.ts"

const filename = new URL("./piscina.worker.ts", import.meta.url).href

const make = (name: string, config: string, pinned: boolean): OverheadVariant => ({
  name,
  config,
  setup: async (workers) => {
    const pool = new Piscina<AddInput, number>(
      pinned ? { filename, minThreads: workers, maxThreads: workers } : { filename }
    )
    return {
      runBatch: (inputs) => Promise.all(inputs.map((input) => pool.run(input))),
      roundTrip: (input) => pool.run(input),
      close: () => pool.destroy()
    }
  }
})

export const variants: ReadonlyArray<OverheadVariant> = [
  make("piscina", "all options default (threads min 1 / max 1.5 x cores, atomics 'sync', 1 task per worker)", false),
  make("piscina/pinned", "minThreads = maxThreads = workers, other options default", true)
]
