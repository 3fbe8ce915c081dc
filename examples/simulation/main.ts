/**
 * Property-testing your own pipeline on the simulated backend, and replaying a failing seed.
 *
 * The property: whatever the schedule and whichever worker crashes, `indexAll` indexes every
 * document once and in order. Each case is a seed (latencies, interleavings, task durations) and
 * a fault plan (workers crashing mid-task or at some moment, slow workers), run on virtual time.
 *
 * 1. With the pool's default `retries: 0` the property fails: a crash loses a task and the
 *    pipeline fails with `WorkerLost`. The checker shrinks the case to a minimal fault plan and
 *    prints it with its seed.
 * 2. Running that seed and plan again replays the same schedule, step by step: the two traces are
 *    identical, and the trace shows what happened.
 * 3. With `retries: 2` the property holds over every generated case.
 *
 * Run with `npm run example -- simulation`.
 */
import * as Arbitrary from "effect/Arbitrary"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { Simulation } from "effect-parallel"
import { indexAll } from "./pipeline.ts"
import { IndexTasks } from "./tasks.ts"
import entry from "./worker.ts"

const docs = Array.from({ length: 12 }, (_, i) => `document ${i} ${"word ".repeat(i % 5)}`.trim())

const pool = (retries: number) => Simulation.layer(IndexTasks, { entry, size: 3, retries })

const cases = Arbitrary.all({
  seed: Arbitrary.schema(Schema.Int),
  faults: Simulation.faultPlan({ workers: 6, tasks: 6, kinds: ["CrashOnTask", "Slow"] })
})

/** One case: run the pipeline in a simulated world, then check what came out. */
const property = (retries: number) => ({ seed, faults }: { seed: number; faults: Simulation.FaultPlan }) =>
  Simulation.run(indexAll(docs).pipe(Effect.provide(pool(retries))), { seed, faults }).pipe(
    Effect.flatMap((report) =>
      Simulation.check(report, ({ exit }) => {
        if (Exit.isFailure(exit)) throw new Error(`the pipeline failed: ${Cause.pretty(exit.cause).split("\n")[0]}`)
        const indexed = exit.value.map((entry) => entry.doc)
        if (JSON.stringify(indexed) !== JSON.stringify(docs)) throw new Error(`indexed ${JSON.stringify(indexed)}`)
      })
    ),
    Effect.as(true)
  )

const program = Effect.gen(function*() {
  console.log(
    [
      "Property-testing a pipeline on simulated workers. The property: every document is indexed once, in",
      "order, whatever the schedule and whichever worker crashes. Each case is a seed (message delays,",
      "interleavings, task durations) and a fault plan (which worker crashes or slows down, and when), run",
      "in one thread on virtual time: 300 cases take about a second.",
      "",
      "Step 1 FAILS ON PURPOSE. With the pool's default `retries: 0` a task whose worker crashes is lost",
      "(delivery is at most once), so the property is false, and the checker finds a case that shows it.",
      "The failure printed below is what this example demonstrates, not a bug in it.",
      "",
      "A replay: the seed and fault plan decide everything that happens in a simulated run, so running the",
      "same pair again repeats the run exactly, event by event. A failure found among hundreds of random",
      "cases can then be re-run, stepped through and kept as a regression test.",
      ""
    ].join("\n")
  )
  console.log("1. retries: 0 — checking 300 generated schedules and fault plans (expected to fail)…")
  const fragile = yield* Arbitrary.checkEffect(cases, property(0), { runs: 300, seed: 1 })
  if (fragile._tag !== "Falsified" || fragile.failure._tag !== "PropertyError") {
    return yield* Effect.die(new Error(`expected a counterexample, got ${fragile._tag}`))
  }
  console.log(`   falsified, as expected, after ${fragile.runs} cases; shrunk ${fragile.shrinks} times to:`)
  console.log(`   ${fragile.failure.error.message.split("\n").slice(0, 2).join("\n   ")}`)

  const { seed, faults } = fragile.shrunkInput
  console.log(`\n2. The replay: seed ${seed} with fault plan ${JSON.stringify(faults)}, run twice:`)
  const run = Simulation.run(indexAll(docs).pipe(Effect.provide(pool(0))), { seed, faults })
  const first = yield* run
  const second = yield* run
  const same = JSON.stringify(first.trace) === JSON.stringify(second.trace)
  console.log(`   ${first.trace.length} events each, identical: ${same}. Around the crash (time is virtual):`)
  const crash = first.trace.findIndex((event) => event._tag === "Crash")
  const lost = first.trace.findIndex((event) => event._tag === "Settle" && event.outcome === "Lost")
  for (const event of first.trace.slice(Math.max(0, crash - 4), lost + 1)) console.log(`   ${Simulation.formatEvent(event)}`)

  console.log("\n3. The fix, retries: 2 (a task lost with its worker is sent again, at most twice) — checking the same 300 cases…")
  const robust = yield* Arbitrary.checkEffect(cases, property(2), { runs: 300, seed: 1 })
  console.log(`   ${robust._tag}${robust._tag === "Passed" ? ` (${robust.runs} cases)` : `\n${Arbitrary.formatCheckFailure(robust)}`}`)
  const running = [first, second].flatMap((report) => report.pools.flatMap((pool) => pool.workers))
    .filter((worker) => worker.fate === "running").length
  console.log(
    robust._tag === "Passed" && same
      ? "\nAs intended: the property fails without retries, the failing case replays exactly, and it holds with retries."
      : "\nNot as intended: see above."
  )
  console.log(`workers left running: ${running}`)
  if (!same || robust._tag !== "Passed") process.exitCode = 1
})

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
