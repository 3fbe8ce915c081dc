/**
 * What the worker's side of the codec costs per value, in one thread: the overhead bench's `Add`
 * (payload `{ a, b }` decoded, the sum encoded) and the stateful bench's `popular` answer (20,000
 * strings encoded). Both Schemas only validate (`validates.ts`), so the values pass a plain check.
 *
 *   node --conditions=effect-parallel-source bench/codec.ts
 */
import { codecOf } from "../src/runtime/protocol/codec.ts"
import { PrefixCounter } from "../src/workloads/statefulActors.ts"
import { Add } from "./scenarios/overhead/effect-parallel.tasks.ts"

const add = codecOf(Add)
const tasks = 2_000_000
const payloads = Array.from({ length: 1024 }, (_, i) => ({ a: i, b: 1 }))
const addOnce = () => {
  let sum = 0
  const start = performance.now()
  for (let i = 0; i < tasks; i++) {
    const { a, b } = add.decodePayload(payloads[i & 1023]).value as { a: number; b: number }
    sum += add.encodeSuccess(a + b).value as number
  }
  if (!(sum > 0)) throw new Error("no sums")
  return ((performance.now() - start) * 1e6) / tasks
}
for (let r = 0; r < 3; r++) addOnce()
console.log(`Add, payload decode + success encode: ${addOnce().toFixed(1)} ns a task`)

const popular = codecOf(PrefixCounter.methods.popular)
const strings = Array.from({ length: 20_000 }, (_, i) => `p${i}`)
for (let r = 0; r < 20; r++) popular.encodeSuccess(strings)
const start = performance.now()
for (let r = 0; r < 200; r++) popular.encodeSuccess(strings)
console.log(`PrefixCounter.popular, 20,000 strings encoded: ${((performance.now() - start) / 200).toFixed(3)} ms`)
