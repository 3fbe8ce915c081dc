/**
 * The worker-count sweep that scenarios with one child process per variant share.
 *
 * Contains `loadVariants` (import variant modules, honour `--variants`, keep
 * the baseline), `sweep` (run every selected variant at every worker count,
 * each in its own child via `runInChild`, baseline first at each count so
 * every ratio has a baseline from the same worker count; with `passes`, the
 * whole sweep again and again, keeping each row's median pass) and `keyed`
 * (per-row notes keyed `variant` or `variant@workers`).
 */
import { runInChild } from "./child.ts"
import { UsageError } from "./options.ts"
import { type Check, type Result, withRatios } from "./record.ts"

/** What every variant has; scenarios extend it with their own `setup`. */
export interface NamedVariant {
  /** Unique; used in the table, the record and `--variants`. */
  readonly name: string
  /** How the variant is configured, copied into the record's notes. */
  readonly config: string
}

export interface Registered<V extends NamedVariant> {
  readonly variant: V
  /** The module that exports it, so the child can import it again. */
  readonly module: URL
}

/**
 * Imports every module (each exports `variants: ReadonlyArray<V>`) and keeps
 * those named in `wanted` (all when `undefined`) plus the baseline, in module
 * order. Unknown names fail loudly rather than silently measuring nothing.
 */
export const loadVariants = async <V extends NamedVariant>(
  modules: ReadonlyArray<URL>,
  baseline: string,
  wanted: ReadonlyArray<string> | undefined
): Promise<ReadonlyArray<Registered<V>>> => {
  const registered: Array<Registered<V>> = []
  for (const module of modules) {
    const mod = await import(module.href) as { variants: ReadonlyArray<V> }
    for (const variant of mod.variants) registered.push({ variant, module })
  }
  const names = new Set(registered.map((r) => r.variant.name))
  if (!names.has(baseline)) throw new Error(`baseline ${baseline} is not among the variants`)
  for (const name of wanted ?? []) {
    if (!names.has(name)) throw new UsageError(`unknown variant ${name}; known: ${[...names].join(", ")}`)
  }
  const selected = registered.filter((r) => wanted === undefined || wanted.includes(r.variant.name) || r.variant.name === baseline)
  // Baseline first, so a worker count's ratios never wait on a later child.
  return [...selected.filter((r) => r.variant.name === baseline), ...selected.filter((r) => r.variant.name !== baseline)]
}

/** In a measuring child: the variant named `name` among `module`'s exported `variants`. */
export const findVariant = async <V extends NamedVariant>(module: string, name: string): Promise<V> => {
  const mod = await import(module) as { variants: ReadonlyArray<V> }
  const variant = mod.variants.find((v) => v.name === name)
  if (variant === undefined) throw new Error(`${module} exports no variant named ${name}`)
  return variant
}

export interface SweepRow<V extends NamedVariant, M> {
  readonly variant: V
  readonly workers: number
  /** `undefined` when the child failed (see `error`). */
  readonly measurement: M | undefined
  readonly peakRssMB: number | null
  readonly error: string | undefined
  readonly exitedByItself: boolean
}

/**
 * Runs `measure.export(input(r, workers))` in a fresh child for every worker
 * count and every registered variant, printing one progress line each; a
 * failing child becomes a row with `error` instead of ending the sweep.
 *
 * With `passes` > 1 the whole sweep runs that many times, one pass after the
 * other, and each row is its median pass by `seconds` (a failure in any pass is
 * kept). Passes interleave the variants: this machine's memory bandwidth drops
 * in streaks lasting seconds, which one run per variant in a row would charge to
 * whichever variant ran then.
 */
export interface SweepOptions<V extends NamedVariant, M> {
  readonly registered: ReadonlyArray<Registered<V>>
  readonly workerCounts: ReadonlyArray<number>
  readonly measure: { readonly module: URL; readonly export: string }
  readonly input: (registered: Registered<V>, workers: number) => unknown
  /** A short summary of a measurement for the progress line. */
  readonly describe: (measurement: M) => string
  /** Default 1. */
  readonly passes?: number | undefined
}

export const sweep = async <V extends NamedVariant, M extends { readonly seconds: number }>(
  options: SweepOptions<V, M>
): Promise<ReadonlyArray<SweepRow<V, M>>> => {
  const passes = options.passes ?? 1
  const runs = new Map<string, Array<SweepRow<V, M>>>()
  for (let pass = 1; pass <= passes; pass++) {
    const label = passes === 1 ? "" : `pass ${pass}/${passes}: `
    for (const workers of options.workerCounts) {
      for (const registered of options.registered) {
        const row = await measureRow(options, registered, workers, label)
        const key = `${row.variant.name}@${workers}`
        const rows = runs.get(key)
        if (rows === undefined) runs.set(key, [row])
        else rows.push(row)
      }
    }
  }
  return [...runs.values()].map(medianPass)
}

const measureRow = async <V extends NamedVariant, M>(
  options: Pick<SweepOptions<V, M>, "measure" | "input" | "describe">,
  registered: Registered<V>,
  workers: number,
  label: string
): Promise<SweepRow<V, M>> => {
  const { variant } = registered
  process.stdout.write(`  ${label}${variant.name}, ${workers} worker${workers === 1 ? "" : "s"}...`)
  try {
    const outcome = await runInChild<M>({
      module: options.measure.module,
      export: options.measure.export,
      input: options.input(registered, workers)
    })
    process.stdout.write(` ${options.describe(outcome.value)}\n`)
    return {
      variant,
      workers,
      measurement: outcome.value,
      peakRssMB: outcome.peakRssMB,
      error: undefined,
      exitedByItself: outcome.exitedByItself
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    process.stdout.write(` failed: ${message.split("\n")[0]}\n`)
    return { variant, workers, measurement: undefined, peakRssMB: null, error: message, exitedByItself: true }
  }
}

/** The pass with the median `seconds` (the lower one of an even count), or a failed one. */
const medianPass = <V extends NamedVariant, M extends { readonly seconds: number }>(
  rows: ReadonlyArray<SweepRow<V, M>>
): SweepRow<V, M> => {
  const failed = rows.find((row) => row.measurement === undefined)
  if (failed !== undefined) return failed
  const sorted = [...rows].sort((a, b) => a.measurement!.seconds - b.measurement!.seconds)
  return sorted[(sorted.length - 1) >> 1]!
}

/**
 * `{ [key]: f(row) }` over the rows where `f` is defined; the key is the
 * variant name when one worker count was swept, else `variant@workers`.
 */
export const keyed = <V extends NamedVariant, M, A>(
  rows: ReadonlyArray<SweepRow<V, M>>,
  workerCounts: ReadonlyArray<number>,
  f: (row: SweepRow<V, M>) => A | undefined
): Record<string, A> => {
  const out: Record<string, A> = {}
  for (const row of rows) {
    const value = f(row)
    if (value !== undefined) out[rowKey(row, workerCounts)] = value
  }
  return out
}

export const rowKey = (row: { readonly variant: NamedVariant; readonly workers: number }, workerCounts: ReadonlyArray<number>): string =>
  workerCounts.length === 1 ? row.variant.name : `${row.variant.name}@${row.workers}`

/** Worker counts 1..`cores`: the default sweep of the scaling scenarios. */
export const upTo = (cores: number): ReadonlyArray<number> => Array.from({ length: cores }, (_, i) => i + 1)

/**
 * The record's results of a timed sweep: each row's median seconds and peak RSS, its check, and
 * its ratio to the baseline at the same worker count.
 */
export const timedResults = <V extends NamedVariant, M extends { readonly seconds: number }>(
  rows: ReadonlyArray<SweepRow<V, M>>,
  checks: ReadonlyArray<Check>,
  baseline: string
): ReadonlyArray<Result> =>
  withRatios(
    rows.map((r, i) => ({
      variant: r.variant.name,
      workers: r.workers,
      seconds: r.measurement?.seconds ?? null,
      throughput: null,
      peakRssMB: r.peakRssMB,
      check: checks[i]!
    })),
    baseline,
    "time"
  )

/**
 * Notes on what went wrong, only when something did: `mismatches` (why a check failed), `errors`
 * (the first lines of a failed child's error), `killedAfterClose` (children that left something
 * running and had to be killed).
 */
export const problemNotes = <V extends NamedVariant, M>(
  rows: ReadonlyArray<SweepRow<V, M>>,
  workerCounts: ReadonlyArray<number>,
  mismatch: (row: SweepRow<V, M>, index: number) => string | undefined = () => undefined
): Record<string, unknown> => {
  const notes: Record<string, unknown> = {}
  const mismatches = keyed(rows, workerCounts, (r) => mismatch(r, rows.indexOf(r)))
  if (Object.keys(mismatches).length > 0) notes["mismatches"] = mismatches
  const errors = keyed(rows, workerCounts, (r) => r.error?.split("\n").slice(0, 5).join("\n"))
  if (Object.keys(errors).length > 0) notes["errors"] = errors
  const lingered = rows.filter((r) => !r.exitedByItself).map((r) => rowKey(r, workerCounts))
  if (lingered.length > 0) notes["killedAfterClose"] = lingered
  return notes
}
