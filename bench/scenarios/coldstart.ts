/**
 * Worker cold start: from asking for a one-worker pool to its worker being ready (spawn, load
 * the entry module and everything it imports, build its per-worker Layer, say ready).
 *
 * Variants: `bare` — a worker thread that imports nothing (the floor); `full` — an entry whose
 * definitions import `effect-parallel` (pools, simulation, progress bar and all); `light` — the
 * same entry importing only `effect-parallel/worker`. Each sample runs in a fresh process (the
 * disk compile cache is warm after the first, as for a user's second run); the table shows the
 * median and the range of `--samples` samples (default 15, 5 with `--quick`), and the first round
 * trip after ready.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { BenchOptions } from "../lib/options.ts"
import { makeRecord, writeRecord } from "../lib/record.ts"
import { type Column, printLegend, printTable } from "../lib/table.ts"

const child = fileURLToPath(new URL("./coldstart/child.ts", import.meta.url))

const sample = (variant: string) =>
  new Promise<{ readyMillis: number; firstCallMillis: number }>((resolve, reject) =>
    execFile(process.execPath, [child, variant], { timeout: 60_000 }, (error, stdout, stderr) =>
      error === null ? resolve(JSON.parse(stdout.trim().split("\n").at(-1)!)) : reject(new Error(`${variant}: ${stderr}`))))

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

export const run = async (options: BenchOptions): Promise<void> => {
  const samples = options.quick ? 5 : 15
  const variants = options.variants ?? ["bare", "full", "light"]
  const collected = new Map<string, Array<{ readyMillis: number; firstCallMillis: number }>>(variants.map((v) => [v, []]))
  // Interleaved, so that a slow stretch of the machine is shared by every variant.
  for (let i = 0; i < samples; i++) for (const variant of variants) collected.get(variant)!.push(await sample(variant))
  const columns: ReadonlyArray<Column> = [
    { header: "variant", meaning: "bare: a thread importing nothing; full: an entry on effect-parallel; light: on effect-parallel/worker" },
    { header: "ready ms (median)", meaning: "from asking for a one-worker pool (or thread) to its worker being ready", align: "right" },
    { header: "range ms", meaning: "the fastest and slowest sample", align: "right" },
    { header: "first call ms", meaning: "the first round trip after ready (median)", align: "right" }
  ]
  printLegend(columns)
  const rows = variants.map((variant) => {
    const ready = collected.get(variant)!.map((s) => s.readyMillis)
    const first = collected.get(variant)!.map((s) => s.firstCallMillis)
    return [variant, median(ready).toFixed(1), `${Math.min(...ready).toFixed(0)}–${Math.max(...ready).toFixed(0)}`, median(first).toFixed(2)]
  })
  process.stdout.write(`coldstart: ${samples} samples per variant, each in a fresh process, node ${process.version}\n`)
  printTable(columns, rows)
  await writeRecord(makeRecord({
    scenario: "coldstart",
    baseline: "bare",
    results: variants.map((variant) => ({
      variant,
      workers: 1,
      seconds: median(collected.get(variant)!.map((s) => s.readyMillis)) / 1000,
      throughput: null,
      peakRssMB: null,
      ratio: null,
      check: "ok" as const
    })),
    notes: { samples }
  }))
}
