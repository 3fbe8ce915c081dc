/**
 * Draws the benchmarks' main ratios as an SVG chart: `npm run bench:chart` reads every record in
 * `bench/results/*.json` and writes `docs/bench.svg`.
 *
 * One panel per scenario, one bar per variant at the largest worker count the record has: its
 * `ratio`, the baseline's time over the variant's (the variant's throughput over the baseline's
 * for `overhead`), so higher is better and the line at 1 is the baseline. effect-parallel's bars
 * stand out. The chart is a Vega-Lite spec rendered to SVG by Vega in this process: no browser,
 * nothing downloaded. The same records always give the same file.
 *
 * Usage: `npm run bench:chart [-- --results <dir>] [--out <file.svg>]`.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as vega from "vega"
import * as vegaLite from "vega-lite"
import type { BenchRecord } from "./lib/record.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
const defaultResultsDir = fileURLToPath(new URL("./results/", import.meta.url))

/** What each scenario's ratio compares, as a panel title. */
const titles: Record<string, string> = {
  overhead: "overhead: 100,000 tiny tasks, throughput over piscina's",
  numerical: "numerical: shared-array convolution, time over serial's",
  stateful: "stateful: prefix-counting actors, time over serial's",
  model: "model: a model loaded once per actor, time over serial's",
  serving: "serving: wide model at saturation, items/s over node:http on the main thread's"
}
const order = ["overhead", "numerical", "stateful", "model", "serving"]

/** Rows drawn: the serving record has one per model and rate, and its panel shows the headline one. */
const drawn = (r: BenchRecord["results"][number]): boolean => {
  const { model, rate } = r as { model?: string; rate?: number | string }
  return (model === undefined || model === "wide") && (rate === undefined || rate === "saturation")
}

interface Bar {
  readonly variant: string
  readonly ratio: number
  readonly label: string
  readonly ours: boolean
}

const readRecords = (resultsDir: string): ReadonlyArray<BenchRecord> => {
  let files: Array<string>
  try {
    files = readdirSync(resultsDir).filter((file) => file.endsWith(".json"))
  } catch {
    files = []
  }
  const records = files.map((file) => JSON.parse(readFileSync(resolve(resultsDir, file), "utf8")) as BenchRecord)
  return records.sort((a, b) => rank(a.scenario) - rank(b.scenario) || a.scenario.localeCompare(b.scenario))
}

const rank = (scenario: string): number => {
  const i = order.indexOf(scenario)
  return i === -1 ? order.length : i
}

/** The record's rows at its largest worker count, baseline left out (it is the line at 1). */
const barsOf = (record: BenchRecord): { readonly workers: number; readonly bars: ReadonlyArray<Bar> } => {
  const workers = Math.max(...record.results.map((r) => r.workers))
  const bars = record.results
    .filter((r) => r.workers === workers && r.variant !== record.baseline && r.ratio !== null && drawn(r))
    .map((r) => ({
      variant: r.variant,
      ratio: r.ratio!,
      label: `${r.ratio!.toFixed(2)}×${r.check === "ok" ? "" : ` (${r.check})`}`,
      ours: r.variant.startsWith("effect-parallel")
    }))
  return { workers, bars }
}

/** A panel of a Vega-Lite `vconcat` (vega-lite exports only the top-level spec's type). */
type Panel = Extract<vegaLite.TopLevelSpec, { vconcat: unknown }>["vconcat"][number]

const variantAxis = { field: "variant", type: "nominal", sort: null, title: null, axis: { labelLimit: 260 } } as const

/** One scenario's panel: a Vega-Lite layer of bars, their labels and the baseline's line. */
const panel = (record: BenchRecord): Panel => {
  const { bars, workers } = barsOf(record)
  const title = `${titles[record.scenario] ?? `${record.scenario}: ratio over ${record.baseline}`}, ${workers} worker${workers === 1 ? "" : "s"}`
  const max = Math.max(1, ...bars.map((bar) => bar.ratio))
  return {
    title: { text: title, anchor: "start", fontSize: 12 },
    data: { values: bars },
    width: 420,
    height: { step: 18 },
    layer: [
      {
        mark: { type: "bar" },
        encoding: {
          y: variantAxis,
          x: {
            field: "ratio",
            type: "quantitative",
            title: `× ${record.baseline} (higher is better)`,
            scale: { domain: [0, max * 1.2] }
          },
          color: {
            field: "ours",
            type: "nominal",
            scale: { domain: [true, false], range: ["#1f6feb", "#b8c2cc"] },
            legend: null
          }
        }
      },
      {
        mark: { type: "text", align: "left", dx: 3, fontSize: 10 },
        encoding: { y: variantAxis, x: { field: "ratio", type: "quantitative" }, text: { field: "label" } }
      },
      {
        mark: { type: "rule", strokeDash: [4, 3], color: "#444" },
        encoding: { x: { datum: 1 } }
      }
    ]
  }
}

const usage = "usage: npm run bench:chart [-- --results <dir>] [--out <file.svg>]"

/** `--results <dir>` (default `bench/results/`) and `--out <file.svg>` (default `docs/bench.svg`). */
const parseArgs = (args: ReadonlyArray<string>): { readonly results: string; readonly out: string } | undefined => {
  let results = defaultResultsDir
  let out = resolve(root, "docs/bench.svg")
  for (let i = 0; i < args.length; i += 2) {
    const value = args[i + 1]
    if (value === undefined) return undefined
    if (args[i] === "--results") results = resolve(value)
    else if (args[i] === "--out") out = resolve(value)
    else return undefined
  }
  return { results, out }
}

const main = async (): Promise<void> => {
  const parsed = parseArgs(process.argv.slice(2))
  if (parsed === undefined) {
    process.stderr.write(`${usage}\n`)
    process.exitCode = 2
    return
  }
  const { out, results: resultsDir } = parsed
  const records = readRecords(resultsDir)
  if (records.length === 0) {
    process.stderr.write(`no records in ${relative(process.cwd(), resultsDir)}: run \`npm run bench -- <scenario>\` first\n`)
    process.exitCode = 1
    return
  }
  const first = records[0]!
  const dates = records.map((r) => r.date.slice(0, 10)).sort()
  const when = dates[0] === dates.at(-1) ? dates[0] : `${dates[0]} to ${dates.at(-1)}`
  const spec: vegaLite.TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "effect-parallel benchmarks: speed-up over each scenario's baseline",
      subtitle: `${first.cores} cores, Node ${first.node}, ${when}; dashed line: the baseline; blue: effect-parallel`,
      anchor: "start"
    },
    background: "white",
    padding: 12,
    config: { font: "Helvetica, Arial, sans-serif", view: { stroke: null } },
    vconcat: records.map(panel),
    spacing: 24
  }
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" })
  const svg = await view.toSVG()
  view.finalize()
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, svg.endsWith("\n") ? svg : `${svg}\n`)
  process.stdout.write(
    `wrote ${relative(process.cwd(), out)} from ${records.map((r) => `${r.scenario} (${r.date.slice(0, 10)})`).join(", ")}\n`
  )
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
})
