/**
 * The workers: consumers compute jobs, producers make them. Everything they exchange goes
 * through the channels in their payloads.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Channel, Worker } from "effect-parallel/worker"
import { type Job, QueueActors } from "./jobs.ts"

const calculate = (job: Job) => (job.op === "mul" ? job.a * job.b : job.a + job.b)

export default Worker.serve(QueueActors, {
  Consumer: () =>
    Effect.gen(function*() {
      const { id: workerId } = yield* Worker.WorkerInfo
      return {
        work: ({ jobs, results }) =>
          Channel.toStream(jobs).pipe(
            Stream.map((job) => ({ id: job.id, worker: workerId, value: calculate(job) })),
            Stream.tap((done) => Channel.send(results, done)),
            Stream.runCount
          ),
        sum: ({ from }) => Channel.toStream(from, { chunkSize: 4096 }).pipe(Stream.runFold(() => 0, (s, x) => s + x)),
        peaks: ({ from }) =>
          Channel.toStream(from).pipe(
            Stream.runFold(() => ({ signals: 0, peak: -Infinity }), (acc, signal) => {
              for (const x of signal) if (x > acc.peak) acc.peak = x
              acc.signals++
              return acc
            })
          )
      }
    }),
  Producer: () =>
    Effect.succeed({
      jobs: ({ count, first, out }) =>
        Effect.as(
          Channel.sendAll(
            out,
            Array.from({ length: count }, (_, i) => ({ id: first + i, op: i % 2 === 0 ? "mul" as const : "plus" as const, a: first + i, b: 7 }))
          ),
          count
        ),
      numbers: ({ count, out }) =>
        Effect.gen(function*() {
          const batch = new Float64Array(4096)
          for (let i = 0; i < count; i += batch.length) {
            const n = Math.min(batch.length, count - i)
            for (let j = 0; j < n; j++) batch[j] = i + j
            yield* Channel.sendAll(out, batch.subarray(0, n))
          }
          return count
        }),
      signals: ({ count, length, out }) =>
        Effect.gen(function*() {
          for (let i = 0; i < count; i++) {
            const signal = new Float64Array(length)
            for (let j = 0; j < length; j++) signal[j] = i * Math.sin((Math.PI * j) / length)
            yield* Channel.send(out, signal) // one element, copied into its slot: the sender keeps it
          }
          return count
        })
    })
})
