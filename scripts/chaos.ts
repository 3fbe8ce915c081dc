/**
 * The chaos soak: `npm run chaos -- [--seed N] [--tasks 10000] [--backend threads] [--size 2]`.
 *
 * Runs tasks and actor calls on a pool while a seeded chaos kills workers, makes replacements fail
 * or hang as they start, slows, fails, crashes and interrupts work; then prints what happened and
 * each check as a table (`chaos/harness.ts` says what is checked). Exits 0 when every check
 * passed, 1 when one failed (the table ends with the command that replays the seed), 2 for a
 * usage mistake (an unknown option or backend). Without `--seed`, a new seed is drawn and shown.
 */
import { backends, formatReport, runChaos, UnknownBackend } from "./chaos/harness.ts"

const usage = `usage: npm run chaos -- [--seed N] [--tasks N] [--backend ${Object.keys(backends).join("|")}] [--size N] [--quiet]`

const parse = (args: ReadonlyArray<string>) => {
  const options = { seed: Math.floor(Math.random() * 2 ** 31), tasks: 10_000, backend: "threads", size: 2, quiet: false }
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!
    if (flag === "--quiet") {
      options.quiet = true
      continue
    }
    const value = args[++i]
    if (flag === "--backend" && value !== undefined) {
      options.backend = value
      continue
    }
    const n = Number(value)
    if ((flag === "--seed" || flag === "--tasks" || flag === "--size") && value !== undefined && Number.isSafeInteger(n) && n >= (flag === "--seed" ? 0 : 1)) {
      options[flag.slice(2) as "seed" | "tasks" | "size"] = n
      continue
    }
    throw new UsageError(value === undefined ? `${flag} needs a value, or is not an option` : `bad value for ${flag}: ${value}`)
  }
  return options
}

class UsageError extends Error {}

const main = async (): Promise<number> => {
  const options = parse(process.argv.slice(2))
  if (typeof (globalThis as { gc?: unknown }).gc !== "function") {
    process.stderr.write("note: run with --expose-gc (npm run chaos does) for the RSS check to collect garbage first\n")
  }
  const report = await runChaos({
    seed: options.seed,
    tasks: options.tasks,
    backend: options.backend,
    size: options.size,
    log: options.quiet ? undefined : (line) => process.stderr.write(`${line}\n`)
  })
  process.stdout.write(`${formatReport(report)}\n`)
  return report.ok ? 0 : 1
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    if (error instanceof UsageError || error instanceof UnknownBackend) {
      process.stderr.write(`${error.message}\n${usage}\n`)
      process.exitCode = 2
    } else {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
      process.exitCode = 1
    }
  }
)
