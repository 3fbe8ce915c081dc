/**
 * Expensive initialization: 10 rounds x one MLP instance per worker predicting 10,000 images.
 *
 * The model workload of Ray's "10x faster than Python multiprocessing" post
 * (`src/workloads/mlp.ts`): an MNIST-shaped MLP (784 -> 512 ReLU -> 10
 * softmax, generated ONNX file) run with onnxruntime-node, one intra-op
 * thread per session. One round = every model instance predicts the whole
 * batch of 10,000 random 28 x 28 images once; a repetition is 10 rounds, so
 * the work grows with the worker count (the post's `num_cpus` actors x 10
 * rounds) and `serial` does the same number of predictions at each count.
 *
 * Variants, each in its own child process so its peak RSS is its own:
 * - `serial` (baseline): one model loaded once, predictions one after another;
 * - `serial/reload`: the same, loading the model for every prediction;
 * - `raw-threads`: one raw `worker_threads` Worker per instance, model loaded
 *   at worker start — the best hand-written alternative;
 * - `piscina`: module-level model per thread, loaded on its first task;
 * - `reload-per-call`: Piscina where every task loads, predicts and releases
 *   the model (the post's `multiprocessing.Pool`);
 * - `effect-parallel/actors`: one `Classifier` actor per worker, model loaded
 *   in its scoped constructor.
 * The batch is handed to every worker once, in a `SharedArrayBuffer`.
 *
 * Per variant and worker count: `seconds` is the median of `repetitions`
 * timed repetitions after an untimed warm-up round (which is where lazy
 * variants load; eager ones load in setup, before the clock, as the post's
 * actors do); `ratio` is serial's seconds at the same worker count over the
 * variant's. `loads` counts model loads in the whole child (setup, warm-up
 * and measured rounds; `notes.modelLoadsByVariant`). `check` is `ok` when
 * every output of the run agrees with its first and that one with serial's
 * (same predicted classes, probabilities within 1e-6).
 *
 * `--quick`: 2,000 images, 3 rounds, 2 repetitions. Workers default to 1..cores.
 */
import { type BenchOptions, cores } from "../lib/options.ts"
import { type Check, makeRecord, type Result, writeRecord } from "../lib/record.ts"
import { keyed, loadVariants, problemNotes, sweep, type SweepRow, timedResults, upTo } from "../lib/sweep.ts"
import { type Column, fmt, printLegend, printTable } from "../lib/table.ts"
import { type Measurement, type MeasureInput, sameOutput } from "./model/measure.ts"
import type { ModelVariant } from "./model/variant.ts"

/**
 * Variant modules, in table order. Each exports
 * `variants: ReadonlyArray<ModelVariant>` (see `model/variant.ts`).
 */
const variantModules: ReadonlyArray<URL> = [
  new URL("./model/serial.ts", import.meta.url),
  new URL("./model/raw.ts", import.meta.url),
  new URL("./model/piscina.ts", import.meta.url),
  new URL("./model/effect-parallel.ts", import.meta.url)
]

const BASELINE = "serial"
/** The variant whose loads the issue asserts (`notes.modelLoads` = number of actors). */
const ACTORS = "effect-parallel/actors"

const sizes = (quick: boolean) =>
  quick
    ? { images: 2_000, seed: 7, rounds: 3, warmupRounds: 1, repetitions: 2 }
    : { images: 10_000, seed: 7, rounds: 10, warmupRounds: 1, repetitions: 3 }

type Row = SweepRow<ModelVariant, Measurement>

export const run = async (options: BenchOptions): Promise<void> => {
  const size = sizes(options.quick)
  const workerCounts = options.workers ?? upTo(cores())
  const registered = await loadVariants<ModelVariant>(variantModules, BASELINE, options.variants)

  const columns: ReadonlyArray<Column> = [
    { header: "variant", meaning: "what runs the work: a library, hand-written worker_threads, or one thread (serial); each in its own process" },
    { header: "workers", align: "right", meaning: "worker threads, one model instance on each (serial: that many instances' work in one thread)" },
    {
      header: "seconds",
      align: "right",
      meaning: `one repetition: ${size.rounds} rounds of every instance predicting ${fmt(size.images)} images (median of ${size.repetitions}, after a warm-up round)`
    },
    { header: `vs ${BASELINE}`, align: "right", meaning: "serial's seconds over the variant's, same worker count (higher is better)" },
    { header: "loads", align: "right", meaning: "model loads in the variant's process: setup, warm-up and measured rounds" },
    { header: "peak MB", align: "right", meaning: "peak resident memory of the variant's process, worker threads included" },
    { header: "check", meaning: "ok when every prediction agrees with serial's: same classes, probabilities within 1e-6" }
  ]

  process.stdout.write(
    `model: ${fmt(size.images)} images x ${size.rounds} rounds x ${size.repetitions} repetitions, ` +
      `workers ${workerCounts.join(",")}, ${options.passes} pass${options.passes === 1 ? "" : "es"}, ${cores()} cores, node ${process.version}\n`
  )
  printLegend(columns)

  const rows = await sweep<ModelVariant, Measurement>({
    registered,
    workerCounts,
    measure: { module: new URL("./model/measure.ts", import.meta.url), export: "measureVariant" },
    input: ({ variant, module }, workers): MeasureInput => ({ module: module.href, variant: variant.name, workers, ...size }),
    describe: (m) => `${fmt(m.seconds, 3)} s, ${m.modelLoads} loads`,
    passes: options.passes
  })

  // The output does not depend on the worker count: any serial run is the reference.
  const reference = rows.find((r) => r.variant.name === BASELINE && r.measurement !== undefined)?.measurement
  const checkOf = (r: Row): { check: Check; why?: string } => {
    const m = r.measurement
    if (m === undefined) return { check: "error" }
    if (m.mismatch !== undefined) return { check: "mismatch", why: m.mismatch }
    if (reference === undefined) return { check: "error", why: "no serial run to compare with" }
    const why = sameOutput(m.digest, reference.digest)
    return why === undefined ? { check: "ok" } : { check: "mismatch", why }
  }
  const checks = rows.map(checkOf)

  const results: ReadonlyArray<Result> = timedResults(rows, checks.map((c) => c.check), BASELINE)

  const notes: Record<string, unknown> = {
    workload: "MLP 784-512-10 (onnxruntime-node, 1 intra-op thread per session); each round every instance predicts the batch",
    ...size,
    passes: options.passes,
    modelLoadsByVariant: keyed(rows, workerCounts, (r) => r.measurement?.modelLoads),
    predictions: keyed(rows, workerCounts, (r) => r.measurement?.predictions),
    setupMs: keyed(rows, workerCounts, (r) => r.measurement?.setupMs),
    warmupMs: keyed(rows, workerCounts, (r) => r.measurement?.warmupMs),
    seconds: keyed(rows, workerCounts, (r) => r.measurement?.samples),
    config: Object.fromEntries(registered.map(({ variant }) => [variant.name, variant.config])),
    isolation: "each variant in its own child process; peakRssMB is that process's maxRSS (main + worker threads)"
  }
  // DESIGN §5 / issue 4: loads and actor count of the actor variant at its largest worker count.
  const actors = rows.filter((r) => r.variant.name === ACTORS && r.measurement !== undefined).at(-1)
  if (actors?.measurement !== undefined) {
    notes["modelLoads"] = actors.measurement.modelLoads
    notes["actors"] = actors.workers
  }
  Object.assign(notes, problemNotes(rows, workerCounts, (_r, i) => checks[i]!.why))

  const path = await writeRecord(makeRecord({ scenario: "model", baseline: BASELINE, results, notes }))

  process.stdout.write("\n")
  printTable(
    columns,
    results.map((r, i) => {
      const row = rows[i]!
      return [
        r.variant,
        String(r.workers),
        fmt(r.seconds, 3),
        r.ratio === null ? "-" : `${fmt(r.ratio, 2)}x`,
        fmt(row.measurement?.modelLoads),
        fmt(r.peakRssMB),
        r.check + (row.exitedByItself ? "" : " (killed: did not exit after close)")
      ]
    })
  )
  process.stdout.write(`\nwrote ${path}\n`)
}
