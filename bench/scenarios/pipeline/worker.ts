/**
 * The pipeline scenario's worker entry (effect-parallel variants).
 */
import * as Effect from "effect/Effect"
import { Channel, Worker } from "effect-parallel/worker"
import { convolve, convolveImage, generate, generateImage, reduce, sumImage } from "./kernels.ts"
import { PipelineBench } from "./tasks.ts"

const batch = 4096

export default Worker.serve(PipelineBench, {
  Generate: (seed) => Effect.sync(() => generate(seed)),
  Convolve: (v) => Effect.sync(() => convolve(v)),
  Reduce: (v) => Effect.sync(() => reduce(v)),
  GenerateImage: (seed) => Effect.sync(() => generateImage(seed)),
  ConvolveImage: (image) => Effect.sync(() => convolveImage(image)),
  SumImage: (image) => Effect.sync(() => sumImage(image)),
  ImageLoop: ({ count, first, step }) =>
    Effect.sync(() => {
      let sum = 0
      for (let k = 0, i = first; k < count; k++, i += step) sum += sumImage(convolveImage(generateImage(i)))
      return sum
    }),
  Lane: () =>
    Effect.succeed({
      generate: ({ count, first, out, step }) =>
        Effect.gen(function*() {
          let sent = 0
          for (let i = first; i < count; i += step) {
            yield* Channel.send(out, generateImage(i))
            sent++
            // The worker also hosts another lane's convolver: take turns, image by image.
            yield* Effect.yieldNow
          }
          return sent
        }),
      convolveSum: ({ from }) =>
        Effect.gen(function*() {
          let sum = 0
          for (;;) {
            const taken = yield* Effect.result(Channel.take(from))
            if (taken._tag === "Failure") return sum
            sum += sumImage(convolveImage(taken.success))
            yield* Effect.yieldNow
          }
        })
    }),
  ChannelEnd: () =>
    Effect.succeed({
      sendRecords: ({ count, out }) =>
        Effect.gen(function*() {
          const chunk = 256
          for (let i = 0; i < count; i += chunk) {
            const values = []
            for (let j = i; j < Math.min(count, i + chunk); j++) values.push({ id: j, name: `item-${j}`, value: j * 0.5 })
            yield* Channel.sendAll(out, values)
          }
          return count
        }),
      takeRecords: ({ from }) =>
        Effect.gen(function*() {
          let count = 0
          let checksum = 0
          for (;;) {
            const r = yield* Effect.result(Channel.takeUpTo(from, 256))
            if (r._tag === "Failure") return { count, checksum }
            for (const rec of r.success) checksum += rec.id + rec.value
            count += r.success.length
          }
        }),
      sendNumbers: ({ count, out }) =>
        Effect.gen(function*() {
          const values = new Float64Array(batch)
          for (let i = 0; i < count; i += batch) {
            const n = Math.min(batch, count - i)
            for (let j = 0; j < n; j++) values[j] = i + j
            yield* Channel.sendAll(out, n === batch ? values : values.subarray(0, n))
          }
          return count
        }),
      takeNumbers: ({ from }) =>
        Effect.gen(function*() {
          let count = 0
          let checksum = 0
          for (;;) {
            const r = yield* Effect.result(Channel.takeArray(from, batch))
            if (r._tag === "Failure") return { count, checksum }
            const values = r.success
            for (let i = 0; i < values.length; i++) checksum += values[i]!
            count += values.length
          }
        }),
      ping: ({ count, from, out }) =>
        Effect.gen(function*() {
          const micros: Array<number> = []
          for (let i = 0; i < count; i++) {
            const t = performance.now()
            yield* Channel.send(out, i)
            yield* Effect.orDie(Channel.take(from))
            micros.push((performance.now() - t) * 1000)
          }
          return micros.sort((a, b) => a - b)
        }),
      pong: ({ from, out }) =>
        Effect.gen(function*() {
          let n = 0
          for (;;) {
            const r = yield* Effect.result(Channel.take(from))
            if (r._tag === "Failure") return n
            yield* Channel.send(out, r.success)
            n++
          }
        })
    })
})
