/**
 * The fused chain's own cost per element, without kernels: `invoke` of the fused handler of
 * `GenerateImage → ConvolveImage → SumImage` (three `Effect.sync` stages handing one
 * `Float64Array` on, through both Schemas at each boundary) and `outcomeOf` of its result, as a
 * worker runs them, over 1,000,000 elements, five rounds.
 * `node --conditions=effect-parallel-source bench/scenarios/pipeline/chain-cost.ts`
 */
import * as Effect from "effect/Effect"
import { Pipeline } from "effect-parallel"
import { codecOf } from "../../../src/runtime/protocol/codec.ts"
import { fusedHandler, invoke, outcomeOf } from "../../../src/runtime/worker/handler.ts"
import { ConvolveImage, GenerateImage, SumImage } from "./tasks.ts"

const fused = Pipeline.fuse(GenerateImage, ConvolveImage, SumImage)
const image = new Float64Array(4096)
const handler = fusedHandler(fused, {
  GenerateImage: () => Effect.sync(() => image),
  ConvolveImage: (input: Float64Array) => Effect.sync(() => input),
  SumImage: (input: Float64Array) => Effect.sync(() => input[0]!)
})!
const codec = codecOf(fused)
const n = 1_000_000
for (let round = 0; round < 5; round++) {
  const start = performance.now()
  let sum = 0
  for (let i = 0; i < n; i++) {
    const invocation = invoke(codec, handler, i)
    if (invocation._tag !== "Exit") throw new Error(`expected an Exit, got ${invocation._tag}`)
    sum += outcomeOf(codec, invocation.exit, false)[1] as number
  }
  console.log(`${((performance.now() - start) * 1000 / n).toFixed(2)} µs an element (${sum})`)
}
