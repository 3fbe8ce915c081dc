/**
 * Benchmark entry point: `npm run bench -- <scenario> [--quick] [--workers 1,2] [--variants a,b] [--passes n]`.
 *
 * Dispatches to `bench/scenarios/<scenario>.ts`, whose `run(options)` explains its columns, prints
 * a table and writes `bench/results/<scenario>.json`. With no scenario or `--help`, lists the
 * scenarios (the first line of each one's header comment) and the options (`lib/options.ts`). An
 * unknown scenario, option or variant is reported with the usage and exit code 2.
 */
import * as fs from "node:fs/promises"
import { type BenchOptions, optionHelp, parseOptions, UsageError } from "./lib/options.ts"

export interface Scenario {
  readonly run: (options: BenchOptions) => Promise<void>
}

const scenariosDir = new URL("./scenarios/", import.meta.url)

const listScenarios = async (): Promise<ReadonlyArray<{ name: string; summary: string }>> => {
  const entries = await fs.readdir(scenariosDir, { withFileTypes: true })
  const names = entries.filter((e) => e.isFile() && e.name.endsWith(".ts")).map((e) => e.name.slice(0, -3)).sort()
  return Promise.all(names.map(async (name) => {
    const text = await fs.readFile(new URL(`${name}.ts`, scenariosDir), "utf8")
    // First line of the `/** ... */` header.
    const summary = /^\/\*\*\s*\n\s*\*\s*(.+)/.exec(text)?.[1]?.trim() ?? ""
    return { name, summary }
  }))
}

const usage = async (): Promise<string> => {
  const scenarios = await listScenarios()
  const width = Math.max(0, ...scenarios.map((s) => s.name.length), ...optionHelp.map((o) => o.flag.length))
  return [
    "usage: npm run bench -- <scenario> [options]",
    "",
    "scenarios:",
    ...scenarios.map((s) => `  ${s.name.padEnd(width)}  ${s.summary}`),
    "",
    "options:",
    ...optionHelp.map((o) => `  ${o.flag.padEnd(width)}  ${o.text}`),
    "",
    "Each scenario explains its columns, prints its table and writes bench/results/<scenario>.json;",
    "`npm run bench:chart` draws docs/bench.svg from those records."
  ].join("\n")
}

const main = async (): Promise<void> => {
  const args = process.argv.slice(2)
  if (args.length === 0 || args.includes("--help") || args.includes("-h")) {
    process.stdout.write((await usage()) + "\n")
    return
  }
  const [name, ...rest] = args as [string, ...Array<string>]
  if (name.startsWith("-")) throw new UsageError(`no scenario given before ${name}`)
  const scenarios = await listScenarios()
  if (!scenarios.some((s) => s.name === name)) throw new UsageError(`unknown scenario: ${name}`)
  const options = parseOptions(rest)
  const scenario = await import(new URL(`${name}.ts`, scenariosDir).href) as Scenario
  await scenario.run(options)
}

main().catch(async (error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\n\n${await usage()}\n`)
    process.exitCode = 2
    return
  }
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
})
