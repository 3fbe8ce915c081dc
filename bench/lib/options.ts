/**
 * Command-line options shared by every scenario.
 *
 * `npm run bench -- <scenario> [--quick] [--workers 1,2] [--variants a,b]`
 *
 * - `--quick`: a smaller size for smoke runs; the README's tables come from full runs.
 * - `--workers`: the worker counts to sweep (default: the scenario's choice,
 *   usually `os.availableParallelism()`).
 * - `--variants`: run only these variants (comma separated, exact names). The
 *   baseline is always kept so ratios stay defined.
 */
import * as os from "node:os"

export interface BenchOptions {
  readonly quick: boolean
  /** Worker counts given with `--workers`, or `undefined` for the scenario's default. */
  readonly workers: ReadonlyArray<number> | undefined
  /** Variant names given with `--variants`, or `undefined` for all of them. */
  readonly variants: ReadonlyArray<string> | undefined
}

export const cores = (): number => os.availableParallelism()

export const parseOptions = (argv: ReadonlyArray<string>): BenchOptions => {
  let quick = false
  let workers: ReadonlyArray<number> | undefined
  let variants: ReadonlyArray<string> | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const [flag, inline] = arg.includes("=") ? arg.split("=", 2) as [string, string] : [arg, undefined]
    const value = (): string => {
      const v = inline ?? argv[++i]
      if (v === undefined) throw new Error(`${flag} needs a value`)
      return v
    }
    switch (flag) {
      case "--quick":
        quick = true
        break
      case "--workers":
        workers = value().split(",").map((s) => {
          const n = Number(s)
          if (!Number.isInteger(n) || n < 1) throw new Error(`--workers: not a positive integer: ${s}`)
          return n
        })
        break
      case "--variants":
        variants = value().split(",").map((s) => s.trim()).filter((s) => s.length > 0)
        break
      default:
        throw new Error(`unknown option: ${arg}`)
    }
  }
  return { quick, workers, variants }
}
