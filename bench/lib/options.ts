/**
 * Command-line options shared by every scenario.
 *
 * `npm run bench -- <scenario> [--quick] [--workers 1,2] [--variants a,b] [--passes n]`
 *
 * Contains the options' descriptions (`optionHelp`, what `--help` prints), their parser, and
 * `UsageError`, which `run.ts` reports as a usage mistake (message and exit code 2, no stack).
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
  /** numerical: what each round's image is (the Ray post makes a zero image per round). */
  readonly image: "random" | "zero"
  /** stateful: the counter's shape (a radix tree, or the Ray post's Map of prefix strings). */
  readonly counter: "radix" | "map"
  /** serving: only this model's rows (`wide` or `mnist`), or both. */
  readonly model: string | undefined
  /** serving: only these rates (offered requests/s, or `saturation`); the overload row follows saturation. */
  readonly rates: ReadonlyArray<number | "saturation"> | undefined
}

/** A mistake in the command line: reported with the usage, not as a crash. */
export class UsageError extends Error {
  override readonly name = "UsageError"
}

/** Every option, as `--help` lists it. */
export const optionHelp: ReadonlyArray<{ readonly flag: string; readonly text: string }> = [
  { flag: "--quick", text: "smaller sizes, for a smoke run; the README's tables come from full runs" },
  {
    flag: "--workers 1,2",
    text: "the worker counts to sweep (default: the scenario's, 1 up to the cores; overhead: the cores)"
  },
  {
    flag: "--variants a,b",
    text: "run only these variants (exact names); the baseline always runs, so that ratios stay defined"
  },
  {
    flag: "--passes n",
    text: "run the whole sweep n times, variants interleaved, and report each row's median pass (default 1)"
  },
  {
    flag: "--image random|zero",
    text: "numerical only: each round makes a random image (default) or a zero one, as the Ray post's loop does"
  },
  {
    flag: "--counter radix|map",
    text: "stateful only: a radix-tree counter (default) or the Ray post's Map of prefix strings (a large live heap)"
  },
  { flag: "--model wide|mnist", text: "serving only: only this model's rows" },
  {
    flag: "--rates 1000,saturation",
    text: "serving only: only these rows (offered requests/s, or saturation, which the overload row follows)"
  },
  { flag: "--help, -h", text: "print this help" }
]

export const cores = (): number => os.availableParallelism()

export const parseOptions = (argv: ReadonlyArray<string>): BenchOptions => {
  let quick = false
  let workers: ReadonlyArray<number> | undefined
  let variants: ReadonlyArray<string> | undefined
  let passes = 1
  let image: BenchOptions["image"] = "random"
  let counter: BenchOptions["counter"] = "radix"
  let model: string | undefined
  let rates: BenchOptions["rates"]
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const [flag, inline] = arg.includes("=") ? arg.split("=", 2) as [string, string] : [arg, undefined]
    const value = (): string => {
      const v = inline ?? argv[++i]
      if (v === undefined) throw new UsageError(`${flag} needs a value`)
      return v
    }
    switch (flag) {
      case "--quick":
        quick = true
        break
      case "--workers":
        workers = value().split(",").map((s) => {
          const n = Number(s)
          if (!Number.isInteger(n) || n < 1) throw new UsageError(`--workers: not a positive integer: ${s}`)
          return n
        })
        break
      case "--variants":
        variants = value().split(",").map((s) => s.trim()).filter((s) => s.length > 0)
        break
      case "--passes": {
        const v = value()
        passes = Number(v)
        if (!Number.isInteger(passes) || passes < 1) throw new UsageError(`--passes: not a positive integer: ${v}`)
        break
      }
      case "--image": {
        const v = value()
        if (v !== "random" && v !== "zero") throw new UsageError(`--image: random or zero, got ${v}`)
        image = v
        break
      }
      case "--counter": {
        const v = value()
        if (v !== "radix" && v !== "map") throw new UsageError(`--counter: radix or map, got ${v}`)
        counter = v
        break
      }
      case "--model":
        model = value()
        break
      case "--rates":
        rates = value().split(",").map((s) => {
          if (s === "saturation") return s
          const n = Number(s)
          if (!Number.isInteger(n) || n < 1) throw new UsageError(`--rates: not a positive integer or saturation: ${s}`)
          return n
        })
        break
      default:
        throw new UsageError(`unknown option: ${arg}`)
    }
  }
  return { quick, workers, variants, passes, image, counter, model, rates }
}
