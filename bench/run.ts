/**
 * Benchmark entry point: `npm run bench -- <scenario> [--quick] [--workers 1,2] [--variants a,b]`.
 *
 * Dispatches to `bench/scenarios/<scenario>.ts`, whose `run(options)` prints a
 * table and writes `bench/results/<scenario>.json` (DESIGN.md §5). With no
 * scenario, lists the available ones with the first line of their header
 * comment. Options are described in `lib/options.ts`.
 */
import * as fs from "node:fs/promises"
import { type BenchOptions, parseOptions } from "./lib/options.ts"

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
  const width = Math.max(0, ...scenarios.map((s) => s.name.length))
  return [
    "usage: npm run bench -- <scenario> [--quick] [--workers 1,2] [--variants a,b]",
    "",
    "scenarios:",
    ...scenarios.map((s) => `  ${s.name.padEnd(width)}  ${s.summary}`)
  ].join("\n")
}

const main = async (): Promise<void> => {
  const [name, ...rest] = process.argv.slice(2)
  if (name === undefined || name === "--help" || name === "-h" || name.startsWith("--")) {
    process.stdout.write((await usage()) + "\n")
    return
  }
  const scenarios = await listScenarios()
  if (!scenarios.some((s) => s.name === name)) {
    process.stderr.write(`unknown scenario: ${name}\n\n${await usage()}\n`)
    process.exitCode = 2
    return
  }
  const options = parseOptions(rest)
  const scenario = await import(new URL(`${name}.ts`, scenariosDir).href) as Scenario
  await scenario.run(options)
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
})
