/**
 * The benchmark record (DESIGN.md §5): `bench/results/<scenario>.json`.
 *
 * Contains the record's types, ratio computation against the baseline variant,
 * and writing the file. Any script can read the outcome of the last run from
 * that file, so its shape is a contract: change it only together with §5.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import { pathToFileURL } from "node:url"
import { round } from "./stats.ts"

/**
 * `ok`: the variant's output matched the expected output. `mismatch`: it did
 * not. `error`: the variant failed before producing a comparable output (the
 * reason is in the record's `notes.errors[variant]`).
 */
export type Check = "ok" | "mismatch" | "error"

export interface Result {
  readonly variant: string
  readonly workers: number
  /** Median wall-clock seconds of the measured work, `null` if it did not run. */
  readonly seconds: number | null
  /** Items per second for throughput scenarios, else `null`. */
  readonly throughput: number | null
  /** Peak resident set size of the process that ran the variant, in MB. */
  readonly peakRssMB: number | null
  /** See `withRatios`. `null` when the baseline did not run. */
  readonly ratio: number | null
  readonly check: Check
}

export interface BenchRecord {
  readonly scenario: string
  readonly cores: number
  readonly node: string
  readonly date: string
  readonly baseline: string
  readonly results: ReadonlyArray<Result>
  readonly notes: Record<string, unknown>
}

/**
 * Fills in `ratio` for every result: the baseline's time over the variant's
 * (`"time"`), or the variant's throughput over the baseline's
 * (`"throughput"`); higher is better either way. Each result is compared with
 * the baseline run at the same worker count, else with the baseline's first
 * successful row.
 */
export const withRatios = (
  results: ReadonlyArray<Omit<Result, "ratio">>,
  baseline: string,
  mode: "time" | "throughput"
): ReadonlyArray<Result> => {
  const baselineRows = results.filter((r) => r.variant === baseline && r.check !== "error")
  return results.map((r) => {
    const base = baselineRows.find((b) => b.workers === r.workers) ?? baselineRows[0]
    let ratio: number | null = null
    if (base !== undefined && r.check !== "error") {
      if (mode === "time" && base.seconds !== null && r.seconds !== null && r.seconds > 0) {
        ratio = round(base.seconds / r.seconds, 3)
      } else if (mode === "throughput" && base.throughput !== null && r.throughput !== null && base.throughput > 0) {
        ratio = round(r.throughput / base.throughput, 3)
      }
    }
    // Spelled out to keep the key order of DESIGN.md §5.
    return {
      variant: r.variant,
      workers: r.workers,
      seconds: r.seconds,
      throughput: r.throughput,
      peakRssMB: r.peakRssMB,
      ratio,
      check: r.check
    }
  })
}

export const makeRecord = (fields: {
  readonly scenario: string
  readonly baseline: string
  readonly results: ReadonlyArray<Result>
  readonly notes: Record<string, unknown>
}): BenchRecord => ({
  scenario: fields.scenario,
  cores: os.availableParallelism(),
  node: process.version,
  date: new Date().toISOString(),
  baseline: fields.baseline,
  results: fields.results,
  notes: fields.notes
})

/** `bench/results/`, or `$BENCH_RESULTS_DIR` (a test's smoke run writes there, not over a full run's record). */
export const resultsDir = process.env.BENCH_RESULTS_DIR !== undefined
  ? pathToFileURL(`${process.env.BENCH_RESULTS_DIR.replace(/\/$/, "")}/`)
  : new URL("../results/", import.meta.url)

/** Writes `bench/results/<scenario>.json` and returns its path. */
export const writeRecord = async (record: BenchRecord): Promise<string> => {
  await fs.mkdir(resultsDir, { recursive: true })
  const file = new URL(`${record.scenario}.json`, resultsDir)
  await fs.writeFile(file, JSON.stringify(record, null, 2) + "\n")
  return file.pathname
}
