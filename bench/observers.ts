/**
 * What the insights and metrics observers cost the caller per settled task, in one thread, without
 * workers: the pool's event hub fans 100,000 settlements (one submission, messages of 256 tasks
 * alternating between two workers, run times of 0.9–1.5 µs) out to the observers, as the scheduler
 * does when a map's answers arrive. The tiny-task `map` spends ~0.6–0.9 µs of the caller's thread
 * per task, so every 10 ns here is ~1–1.5% of its throughput (`npm run bench -- overhead`, the
 * `+insights`, `+metrics` and `+all` rows, where thread scheduling makes single passes vary ±20%).
 * Prints the fastest and the median of 7 blocks of 10 runs, after 20 warm-up runs.
 *
 * `clock`: instead, what a worker spends per task to time it at all: one read of the pool's clock
 * (`poolClock`, as `WorkerRuntime` rule 7 reads it once per timed task), 100,000 reads a run;
 * `hrtime`: the same with `process.hrtime.bigint()`, the other clock Node offers at that resolution.
 *
 *   node --conditions=effect-parallel-source bench/observers.ts none|insights|metrics|both|clock|hrtime
 */
import * as Context from "effect/Context"
import type { PoolEvent } from "../src/core/PoolEvent.ts"
import { EventHub } from "../src/runtime/observe/EventHub.ts"
import { Insights } from "../src/runtime/observe/Insights.ts"
import { PoolMetrics } from "../src/runtime/observe/Metrics.ts"
import { poolClock } from "../src/runtime/protocol/protocol.ts"

const mode = process.argv[2] ?? "both"
if (!["none", "insights", "metrics", "both", "clock", "hrtime"].includes(mode)) {
  throw new Error(`unknown mode ${mode}: none|insights|metrics|both|clock|hrtime`)
}
const hub = new EventHub(() => performance.now())
if (mode === "insights" || mode === "both") hub.subscribe(new Insights(() => performance.now()))
if (mode === "metrics" || mode === "both") {
  const readings = { stats: () => ({ queued: 0, inFlight: 0, workers: 2, readyWorkers: 2, workersStarted: 2 }), size: 2 }
  hub.subscribe(new PoolMetrics("bench", readings as never, Context.empty() as Context.Context<never>))
}
// The baseline: a listener that takes settlements and does nothing with them.
if (mode === "none") hub.subscribe({ onEvent: () => {}, onSettled: () => {}, onDispatched: () => {}, timings: true })
for (const workerId of [0, 1]) hub.emit({ _tag: "WorkerStarting", at: 0, workerId, replacement: false })

const tasks = 100_000
let nextSubmission = 0
let clockSum = 0
const run = mode === "hrtime" ? () => {
  let sum = 0n
  for (let i = 0; i < tasks; i++) sum += process.hrtime.bigint() & 0xffn
  clockSum += Number(sum)
} : mode === "clock" ? () => {
  let sum = 0
  for (let i = 0; i < tasks; i++) sum += poolClock()
  clockSum += sum
} : () => {
  const submission = nextSubmission++
  hub.emit({ _tag: "Submitted", at: 0, submission, taskName: "Add", count: tasks, chunkSize: 256, payloads: [] } satisfies PoolEvent)
  let messageAt = 1000
  for (let first = 0; first < tasks; first += 256) {
    const workerId = (first / 256) & 1
    hub.dispatched(workerId, 256, () => [])
    for (let k = 0; k < 256 && first + k < tasks; k++) {
      const startedAt = messageAt + k * 0.0011
      hub.settled(submission, first + k, first + k, workerId, 1, "Success", startedAt, startedAt + 0.0009 + (k % 7) * 0.0001)
    }
    messageAt += 0.3
  }
}

for (let r = 0; r < 20; r++) run()
const blocks: Array<number> = []
for (let b = 0; b < 7; b++) {
  const start = performance.now()
  for (let r = 0; r < 10; r++) run()
  blocks.push(((performance.now() - start) * 1e6) / (10 * tasks))
}
blocks.sort((x, y) => x - y)
console.log(`${mode}: fastest ${blocks[0]!.toFixed(1)} ns, median ${blocks[3]!.toFixed(1)} ns per ${mode === "clock" || mode === "hrtime" ? "clock read" : "settled task"}`)
if (clockSum < 0) console.log(clockSum)
