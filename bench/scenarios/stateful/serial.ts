/**
 * `serial` — the baseline: as many `StreamingPrefixCount` counters as the
 * parallel variants have workers, all in the measuring thread, fed the same
 * documents in the same round-robin order (what `serialPrefixCount` does,
 * spelled as calls so it runs through the same measurement).
 */
import { makePrefixCount, type PrefixCount } from "../../../src/workloads/prefixCount.ts"
import type { StatefulVariant } from "./variant.ts"

const serial: StatefulVariant = {
  name: "serial",
  config: "N counters in the measuring thread, no workers",
  setup: async (workers, counter) => {
    let states = Array.from({ length: workers }, () => makePrefixCount(counter))
    const state = (index: number): PrefixCount => {
      const s = states[index]
      if (s === undefined) throw new RangeError(`serial: no counter ${index}`)
      return s
    }
    return {
      counters: workers,
      reset: async () => {
        states = Array.from({ length: workers }, () => makePrefixCount(counter))
      },
      add: async (counter, document) => state(counter).add(document),
      popular: async (counter) => [...state(counter).popular()],
      count: async (counter, prefix) => state(counter).count(prefix),
      close: async () => {}
    }
  }
}

export const variants: ReadonlyArray<StatefulVariant> = [serial]
