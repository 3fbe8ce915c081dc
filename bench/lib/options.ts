/**
 * Command-line options shared by every scenario.
 *
 * `npm run bench -- <scenario> [--quick] [--workers 1,2] [--variants a,b] [--passes n]`
 *
 * - `--quick`: a smaller size for smoke runs; the README's tables come from full runs.
 * - `--workers`: the worker counts to sweep (default: the scenario's choice,
 *   usually `os.availableParallelism()`).
 * - `--variants`: run only these variants (comma separated, exact names). The
 *   baseline is always kept so ratios stay defined.
 * - `--passes`: run the whole sweep this many times, interleaving the
 *   variants, and report each row's median pass (default 1).
 */
import * as os from "node:os"

export interface BenchOptions {
  readonly quick: boolean
  /** Worker counts given with `--workers`, or `undefined` for the scenario's default. */
  readonly workers: ReadonlyArray<number> | undefined
  /** Variant names given with `--variants`, or `undefined` for all of them. */
  readonly variants: ReadonlyArray<string> | undefined
  /** Sweeps to run, each row reported from its median pass. */
  readonly passes: number
}

export const cores = (): number => os.availableParallelism()

export const parseOptions = (argv: ReadonlyArray<string>): BenchOptions => {
  let quick = false
  let workers: ReadonlyArray<number> | undefined
  let variants: ReadonlyArray<string> | undefined
  let passes = 1
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
      case "--passes": {
        const v = value()
        passes = Number(v)
        if (!Number.isInteger(passes) || passes < 1) throw new Error(`--passes: not a positive integer: ${v}`)
        break
      }
      default:
        throw new Error(`unknown option: ${arg}`)
    }
  }
  return { quick, workers, variants, passes }
}
