/**
 * Runs one example: `npm run example -- <name>` runs `examples/<name>/main.ts` on the project's
 * Node (npm puts the pinned Node 24 first on `PATH`).
 *
 * With no name, lists the examples with the first sentence of each one's header comment; with a
 * name that is not an example, says so, lists them and exits with code 2.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"

const examplesDir = new URL("../examples/", import.meta.url)

const mainOf = (name: string): URL => new URL(`${name}/main.ts`, examplesDir)

const examples = (): ReadonlyArray<{ readonly name: string; readonly summary: string }> =>
  readdirSync(examplesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(mainOf(entry.name)))
    .map((entry) => ({ name: entry.name, summary: summaryOf(readFileSync(mainOf(entry.name), "utf8")) }))
    .sort((a, b) => a.name.localeCompare(b.name))

/**
 * The first sentence of a file's `/** … *\/` header, on one line; for a file that opens with a
 * `// main.ts — …` line instead (the quickstart, which must read as the README shows it), that line.
 */
const summaryOf = (text: string): string => {
  const line = /^\/\/ \S+ — (.+)/.exec(text)?.[1]
  if (line !== undefined) return line.charAt(0).toUpperCase() + line.slice(1).trim()
  const header = /^\/\*\*([\s\S]*?)\*\//.exec(text)?.[1] ?? ""
  const prose = header.split("\n").map((line) => line.replace(/^\s*\*\s?/, "").trim()).join(" ").trim()
  return /^(.*?[.!?])(\s|$)/.exec(prose)?.[1] ?? prose
}

const usage = (): string => {
  const list = examples()
  const width = Math.max(0, ...list.map((example) => example.name.length))
  return [
    "usage: npm run example -- <name>",
    "",
    "examples:",
    ...list.map((example) => `  ${example.name.padEnd(width)}  ${example.summary}`)
  ].join("\n")
}

const [name, ...rest] = process.argv.slice(2)
if (name === undefined || name === "--help" || name === "-h") {
  process.stdout.write(`${usage()}\n`)
} else if (rest.length > 0 || !examples().some((example) => example.name === name)) {
  const problem = rest.length > 0 ? `examples take no arguments: ${rest.join(" ")}` : `unknown example: ${name}`
  process.stderr.write(`${problem}\n\n${usage()}\n`)
  process.exitCode = 2
} else {
  await import(mainOf(name).href)
}
