/**
 * Per-task overhead: 100,000 tiny tasks (`{ a, b } -> a + b`) on every core.
 *
 * The work per task is nothing, so what is measured is what a pool costs per
 * task: submission, message passing, dispatch, result delivery. Every variant
 * submits all tasks at once, one task per input (no caller-side batching) and
 * runs in its own child process so its peak RSS is its own. Per variant:
 *
 * - throughput: tasks/s over the median of `repetitions` batches after an
 *   unmeasured warm-up (two batches in quick mode; otherwise one, and more
 *   until 0.5 s went on warming up: less left the first measured batches up to
 *   twice as slow, and observed variants' code still being optimized); `ratio` is throughput over
 *   piscina's (the baseline);
 * - latency: p50/p99 of sequential single-task round trips after
 *   `warmupRoundTrips` unmeasured ones, and `first 200`: the p50 of the first
 *   200 of those, right after the batches (see `lib/latency.ts`);
 * - first result: from `setup` resolving to the first task's result, which
 *   includes whatever worker start-up `setup` did not wait for;
 * - check: every output equals `a + b` (hence the sum matches too).
 *
 * `--quick`: 10,000 tasks and 300 round trips. Workers default to
 * `os.availableParallelism()`; `--workers 1,2` sweeps.
 * Latency figures go to `notes.latency[variant]`. When both ran, the peak RSS of
 * `effect-parallel/run` over `raw/postMessage`'s (100,000 concurrent calls each) is printed under
 * the table and recorded as `notes.concurrentRunsPeakRss`.
 */
import { type BenchOptions, cores } from "../lib/options.ts"
import { type Check, makeRecord, type Result, withRatios, writeRecord } from "../lib/record.ts"
import { keyed, loadVariants, problemNotes, sweep } from "../lib/sweep.ts"
import { type Column, fmt, printLegend, printTable } from "../lib/table.ts"
import type { Measurement, MeasureInput } from "./overhead/measure.ts"
import type { OverheadVariant } from "./overhead/variant.ts"

/**
 * Variant modules, in table order. Each exports
 * `variants: ReadonlyArray<OverheadVariant>` (see `overhead/variant.ts`);
 * registering a module registers all of its variants.
 */
const variantModules: ReadonlyArray<URL> = [
  new URL("./overhead/piscina.ts", import.meta.url),
  new URL("./overhead/tinypool.ts", import.meta.url),
  new URL("./overhead/workerpool.ts", import.meta.url),
  new URL("./overhead/raw.ts", import.meta.url),
  new URL("./overhead/raw-ipc.ts", import.meta.url),
  new URL("./overhead/effect-rpc.ts", import.meta.url),
  new URL("./overhead/effect-parallel.ts", import.meta.url)
]

const BASELINE = "piscina"

const sizes = (quick: boolean) =>
  quick
    ? { tasks: 10_000, warmupBatches: 2, warmupMillis: 0, repetitions: 3, roundTrips: 300, warmupRoundTrips: 300 }
    // At least 0.5 s of warm-up: one 100,000-task batch (0.1 s for the fastest variants) left
    // their observers' code still being optimized, and their rows ±20-30% from pass to pass.
    : { tasks: 100_000, warmupBatches: 1, warmupMillis: 500, repetitions: 5, roundTrips: 2_000, warmupRoundTrips: 3_000 }

export const run = async (options: BenchOptions): Promise<void> => {
  const size = sizes(options.quick)
  const workerCounts = options.workers ?? [cores()]
  const registered = await loadVariants<OverheadVariant>(variantModules, BASELINE, options.variants)

  const columns: ReadonlyArray<Column> = [
    { header: "variant", meaning: "what runs the work: a library, hand-written worker_threads, or one thread (serial); each in its own process" },
    { header: "workers", align: "right", meaning: "worker threads" },
    {
      header: "tasks/s",
      align: "right",
      meaning: `tiny tasks per second, ${fmt(size.tasks)} submitted at once (median of ${size.repetitions} batches after warm-up)`
    },
    { header: `vs ${BASELINE}`, align: "right", meaning: `tasks/s over ${BASELINE}'s (higher is better)` },
    {
      header: "p50 µs",
      align: "right",
      meaning: `median round trip of one task at a time (${fmt(size.roundTrips)} calls after ${fmt(size.warmupRoundTrips)} unmeasured)`
    },
    { header: "p99 µs", align: "right", meaning: "99th percentile of the same round trips" },
    {
      header: "first 200 µs",
      align: "right",
      meaning: "median of the first 200 of those, right after the batches, while V8's compiler and GC threads are still busy"
    },
    { header: "first ms", align: "right", meaning: "from a built pool to the first task's result" },
    { header: "peak MB", align: "right", meaning: "peak resident memory of the variant's process, worker threads included" },
    { header: "check", meaning: "ok when every result equals a + b" }
  ]

  process.stdout.write(
    `overhead: ${fmt(size.tasks)} tasks x ${size.repetitions} repetitions, ` +
      `${fmt(size.roundTrips)} round trips, workers ${workerCounts.join(",")}, ${options.passes} pass${options.passes === 1 ? "" : "es"}, ${cores()} cores, node ${process.version}\n`
  )
  printLegend(columns)

  const rows = await sweep<OverheadVariant, Measurement>({
    registered,
    workerCounts,
    measure: { module: new URL("./overhead/measure.ts", import.meta.url), export: "measureVariant" },
    input: ({ module, variant }, workers): MeasureInput => ({ module: module.href, variant: variant.name, workers, ...size }),
    describe: (m) => `${fmt(m.throughput)} tasks/s`,
    passes: options.passes
  })

  const results: ReadonlyArray<Result> = withRatios(
    rows.map((r) => {
      const m = r.measurement
      const check: Check = m === undefined ? "error" : m.mismatch === undefined ? "ok" : "mismatch"
      return {
        variant: r.variant.name,
        workers: r.workers,
        seconds: m?.seconds ?? null,
        throughput: m?.throughput ?? null,
        peakRssMB: r.peakRssMB,
        check
      }
    }),
    BASELINE,
    "throughput"
  )

  const notes: Record<string, unknown> = {
    workload: "{ a, b } -> a + b, one task per input, all submitted at once",
    ...size,
    passes: options.passes,
    latency: keyed(rows, workerCounts, (r) =>
      r.measurement === undefined ? undefined : {
        ...r.measurement.latency,
        firstResultMs: r.measurement.firstResultMs,
        setupMs: r.measurement.setupMs,
        closeMs: r.measurement.closeMs
      }
    ),
    batchSeconds: keyed(rows, workerCounts, (r) => r.measurement?.samples),
    config: Object.fromEntries(registered.map(({ variant }) => [variant.name, variant.config])),
    isolation: "each variant in its own child process; peakRssMB is that process's maxRSS (main + worker threads)"
  }
  Object.assign(notes, problemNotes(rows, workerCounts, (r) => r.measurement?.mismatch))
  const memory = concurrentRunsMemory(results, workerCounts)
  if (memory.length > 0) notes.concurrentRunsPeakRss = memory

  const record = makeRecord({ scenario: "overhead", baseline: BASELINE, results, notes })
  const path = await writeRecord(record)

  process.stdout.write("\n")
  printTable(
    columns,
    results.map((r, i) => {
      const m = rows[i]!.measurement
      return [
        r.variant,
        String(r.workers),
        fmt(r.throughput),
        r.ratio === null ? "-" : `${fmt(r.ratio, 2)}x`,
        fmt(m?.latency.p50us, 1),
        fmt(m?.latency.p99us, 1),
        fmt(m?.latency.afterLoadP50us, 1),
        fmt(m?.firstResultMs, 1),
        fmt(r.peakRssMB),
        r.check + (rows[i]!.exitedByItself ? "" : " (killed: did not exit after close)")
      ]
    })
  )
  for (const m of memory) {
    process.stdout.write(
      `\n${fmt(size.tasks)} concurrent Task.runs (${RUNS}), ${m.workers} workers: peak RSS ${fmt(m.runMB)} MB against ` +
        `${fmt(m.rawMB)} MB for ${RAW} (${fmt(m.ratio, 2)}x; target <= 1.5x)\n`
    )
  }
  process.stdout.write(`\nwrote ${path}\n`)
}

const RUNS = "effect-parallel/run"
const RAW = "raw/postMessage"

/**
 * Issue 20's memory target: the peak RSS of `RUNS` (all tasks as concurrent `Task.run`s) over
 * `RAW`'s (one promise and one message per task), per worker count where both ran. Each is its own
 * process's peak, reached during its batches of concurrent calls.
 */
const concurrentRunsMemory = (results: ReadonlyArray<Result>, workerCounts: ReadonlyArray<number>) =>
  workerCounts.flatMap((workers) => {
    const run = results.find((r) => r.variant === RUNS && r.workers === workers)?.peakRssMB
    const raw = results.find((r) => r.variant === RAW && r.workers === workers)?.peakRssMB
    return run == null || raw == null || raw === 0 ? [] : [{ workers, runMB: run, rawMB: raw, ratio: run / raw }]
  })
