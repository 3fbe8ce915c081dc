/**
 * Numerical: a 3000×3000 image convolved with one 4×4 filter per worker, [::5, ::5], 10 rounds.
 *
 * The numerical workload of Ray's "10x faster than Python multiprocessing" post
 * (`src/workloads/numerical.ts`): each round makes a new 3000×3000 image (72 MB of doubles:
 * random, or with `--image zero` zero as the post's loop makes it) and convolves it with one
 * random 4×4 filter per worker, in parallel, keeping every 5th row and column. What matters is
 * how the image is made and reaches the workers: by handle over shared memory, or copied into
 * every task.
 *
 * Variants, each in its own child process so its peak RSS is its own:
 * - `serial` (baseline): one thread, the same kernel, filters one after the other;
 * - `effect-parallel/shared`: image in `SharedArray` memory, scoped per round (the arena reuses
 *   it), results in shared memory;
 * - `effect-parallel/clone`: the same pool with a plain image, copied into every task;
 * - `piscina/clone`: Piscina with the image in each task (copied);
 * - `piscina/shared`: Piscina with one hand-made `SharedArrayBuffer`, refilled every round;
 * - `raw-threads/shared`: no library, one `worker_threads` Worker per filter over a hand-made
 *   `SharedArrayBuffer`, outputs lent once: the floor a hand-written program can reach.
 *
 * Per variant and worker count: `seconds` is the median over `repetitions` runs of the sum of
 * whole rounds, as the Ray post's loop times them: making the image (in the variant's own memory,
 * the way its users would) and convolving it. `compute s` is the convolution phases alone (from
 * handing over the image and filters to having every result; `notes.computeSeconds`). The pool is
 * warm: start-up (`setup ms`) and the first round (`first ms`) are reported separately. `ratio`
 * is serial's seconds over the variant's at the same worker count. `round ms` is the median of
 * every measured round's convolution phase (a typical round, which the rounds this VM slows down
 * in streaks do not move). `check` is `ok` when every output of every round is bit-identical
 * to serial's. Peak RSS growth from 1 worker to 2 shows per-worker copies (`notes.imageMB` is one
 * image, in the same MiB as `peakRssMB`).
 *
 * `--quick`: a 1000×1000 image, 5 rounds. Workers default to 1..cores. With `--image zero` the
 * record is `numerical-zero`.
 */
import { type BenchOptions, cores } from "../lib/options.ts"
import { type Check, makeRecord, type Result, writeRecord } from "../lib/record.ts"
import { round } from "../lib/stats.ts"
import { keyed, loadVariants, problemNotes, sweep, type SweepRow, timedResults, upTo } from "../lib/sweep.ts"
import { type Column, fmt, printLegend, printTable } from "../lib/table.ts"
import type { Measurement, MeasureInput } from "./numerical/measure.ts"
import type { NumericalVariant } from "./numerical/variant.ts"

/** Variant modules, in table order; each exports `variants: ReadonlyArray<NumericalVariant>`. */
const variantModules: ReadonlyArray<URL> = [
  new URL("./numerical/serial.ts", import.meta.url),
  new URL("./numerical/effect-parallel.ts", import.meta.url),
  new URL("./numerical/piscina.ts", import.meta.url),
  new URL("./numerical/raw.ts", import.meta.url)
]

const BASELINE = "serial"

const sizes = (quick: boolean) =>
  quick
    ? { rows: 1_000, cols: 1_000, rounds: 5, repetitions: 2, warmupRounds: 1 }
    : { rows: 3_000, cols: 3_000, rounds: 10, repetitions: 5, warmupRounds: 3 }

type Row = SweepRow<NumericalVariant, Measurement>

export const run = async (options: BenchOptions): Promise<void> => {
  const size = sizes(options.quick)
  const workerCounts = options.workers ?? upTo(cores())
  const registered = await loadVariants<NumericalVariant>(variantModules, BASELINE, options.variants)
  const imageMB = round(size.rows * size.cols * 8 / 1024 / 1024, 3)

  const columns: ReadonlyArray<Column> = [
    { header: "variant", meaning: "what runs the work: a library, hand-written worker_threads, or one thread (serial); each in its own process" },
    { header: "workers", align: "right", meaning: "worker threads, and filters per round (serial: that many filters, one after the other)" },
    {
      header: "seconds",
      align: "right",
      meaning: `sum of the ${size.rounds} whole rounds (make the ${options.image} image, convolve), pool warm, median of ${size.repetitions} runs`
    },
    { header: `vs ${BASELINE}`, align: "right", meaning: "serial's seconds over the variant's, same worker count (higher is better)" },
    { header: "compute s", align: "right", meaning: "the rounds' convolution phases alone (making the image left out)" },
    { header: "compute vs", align: "right", meaning: "serial's compute s over the variant's" },
    { header: "round ms", align: "right", meaning: "the median round's convolution phase: a typical round, which slow spells of the machine move less" },
    { header: "setup ms", align: "right", meaning: "starting the pool or threads, before the first round" },
    { header: "first ms", align: "right", meaning: "the first round, cold, not in seconds" },
    { header: "peak MB", align: "right", meaning: "peak resident memory of the variant's process, worker threads included" },
    { header: "check", meaning: "ok when every output of every round is bit-identical to serial's" }
  ]

  process.stdout.write(
    `numerical: ${size.rows}x${size.cols} ${options.image} image (${imageMB} MiB), 4x4 filters, ${size.rounds} rounds x ` +
      `${size.repetitions} repetitions after ${size.warmupRounds} warm-up rounds, workers ${workerCounts.join(",")}, ${options.passes} pass${options.passes === 1 ? "" : "es"}, ${cores()} cores, node ${process.version}\n`
  )
  printLegend(columns)

  const rows = await sweep<NumericalVariant, Measurement>({
    registered,
    workerCounts,
    measure: { module: new URL("./numerical/measure.ts", import.meta.url), export: "measureVariant" },
    input: ({ module, variant }, workers): MeasureInput => ({
      module: module.href,
      variant: variant.name,
      workers,
      image: options.image,
      ...size
    }),
    describe: (m) => `${fmt(m.seconds * 1000, 1)} ms (compute ${fmt(m.computeSeconds * 1000, 1)})`,
    passes: options.passes
  })

  const serialDigest = (workers: number) => rows.find((r) => r.variant.name === BASELINE && r.workers === workers)?.measurement?.digest
  const checkOf = (r: Row): Check => {
    if (r.measurement === undefined) return "error"
    const expected = serialDigest(r.workers)
    return expected !== undefined && r.measurement.digest === expected ? "ok" : "mismatch"
  }
  const results: ReadonlyArray<Result> = timedResults(rows, rows.map(checkOf), BASELINE)

  const notes: Record<string, unknown> = {
    workload: `${options.image === "zero" ? "a zero image" : "randomImage(rows, cols)"} per round; one randomFilter(4) per worker; convolve2d full [::5, ::5]`,
    image: options.image,
    ...size,
    passes: options.passes,
    imageMB,
    timed: "seconds = sum of whole rounds (make the image, convolve); computeSeconds = the convolution phases alone",
    computeSeconds: keyed(rows, workerCounts, (r) => r.measurement?.computeSeconds),
    roundMedianMs: keyed(rows, workerCounts, (r) => r.measurement?.roundMedianMs),
    coldStart: keyed(rows, workerCounts, (r) =>
      r.measurement === undefined ? undefined : { setupMs: r.measurement.setupMs, firstRoundMs: r.measurement.firstRoundMs }),
    runSeconds: keyed(rows, workerCounts, (r) => r.measurement?.samples),
    rssGrowthMB: rssGrowth(rows, workerCounts),
    config: Object.fromEntries(registered.map(({ variant }) => [variant.name, variant.config])),
    isolation: "each variant in its own child process; peakRssMB is that process's maxRSS (main + worker threads)"
  }
  Object.assign(notes, problemNotes(rows, workerCounts))

  const record = makeRecord({
    scenario: options.image === "zero" ? "numerical-zero" : "numerical",
    baseline: BASELINE,
    results,
    notes
  })
  const path = await writeRecord(record)

  process.stdout.write("\n")
  printTable(
    columns,
    results.map((r, i) => {
      const m = rows[i]!.measurement
      const serialCompute = rows.find((b) => b.variant.name === BASELINE && b.workers === r.workers)?.measurement
        ?.computeSeconds
      return [
        r.variant,
        String(r.workers),
        fmt(r.seconds, 3),
        r.ratio === null ? "-" : `${fmt(r.ratio, 2)}x`,
        fmt(m?.computeSeconds, 3),
        m === undefined || serialCompute === undefined ? "-" : `${fmt(serialCompute / m.computeSeconds, 2)}x`,
        fmt(m?.roundMedianMs, 2),
        fmt(m?.setupMs),
        fmt(m?.firstRoundMs, 1),
        fmt(r.peakRssMB),
        r.check + (rows[i]!.exitedByItself ? "" : " (killed: did not exit after close)")
      ]
    })
  )
  process.stdout.write(`\nwrote ${path}\n`)
}

/** Peak RSS at the most workers minus at 1 worker, per variant: what each extra worker costs. */
const rssGrowth = (rows: ReadonlyArray<Row>, workerCounts: ReadonlyArray<number>): Record<string, number> => {
  const out: Record<string, number> = {}
  const most = Math.max(...workerCounts)
  if (most === 1 || !workerCounts.includes(1)) return out
  for (const r of rows) {
    if (r.workers !== most || r.peakRssMB === null) continue
    const one = rows.find((o) => o.variant.name === r.variant.name && o.workers === 1)?.peakRssMB
    if (one !== null && one !== undefined) out[`${r.variant.name}@1→${most}`] = r.peakRssMB - one
  }
  return out
}
