/**
 * `serial` — the baseline: one thread makes each round's image (a new `Float64Array`: random, or
 * left zero) and convolves it with every filter in turn, with the same kernel the workers run.
 */
import { makeMatrix, randomImage } from "../../../src/workloads/convolve.ts"
import { serialRound } from "../../../src/workloads/numerical.ts"
import type { NumericalVariant } from "./variant.ts"

export const variants: ReadonlyArray<NumericalVariant> = [{
  name: "serial",
  config: "one thread; a new Float64Array image per round; filters one after the other",
  setup: async () => ({
    round: async ({ cols, filters, image: kind, imageSeed, rows }) => {
      const t0 = performance.now()
      const image = kind === "zero" ? makeMatrix(rows, cols) : randomImage(rows, cols, imageSeed)
      const t1 = performance.now()
      const outputs = serialRound(image, filters)
      return { outputs, imageMs: t1 - t0, convolveMs: performance.now() - t1 }
    },
    close: async () => {}
  })
}]
