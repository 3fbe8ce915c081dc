/**
 * Measures one `model` variant; runs in its own child process (`runInChild`)
 * so that the peak RSS it reports belongs to this variant alone.
 *
 * Order: write/verify the model file, make the batch (in a
 * `SharedArrayBuffer`) -> setup -> warm-up rounds (untimed; lazy variants
 * load here) -> `repetitions` x (`rounds` timed rounds) -> close, then read
 * the load counter.
 *
 * Every output of every round is compared with the first one (same images,
 * same model: they must agree to 1e-6); a fingerprint of the first goes back
 * to the parent, which compares it with the serial run's.
 */
import { CLASSES, ensureMlpModel, IMAGE_SIZE, makeImages } from "../../../src/workloads/mlp.ts"
import { fnv1aBytes } from "../../lib/digest.ts"
import { median, round, timed } from "../../lib/stats.ts"
import { findVariant } from "../../lib/sweep.ts"
import type { ModelSetup, ModelVariant } from "./variant.ts"

export interface MeasureInput {
  /** `file:` URL of the variant module. */
  readonly module: string
  readonly variant: string
  readonly workers: number
  readonly images: number
  readonly seed: number
  readonly rounds: number
  readonly warmupRounds: number
  readonly repetitions: number
}

/** What the parent compares across variants. */
export interface OutputDigest {
  /** FNV-1a of every image's most probable class. */
  readonly argmax: string
  /** Sum of all probabilities (≈ the image count). */
  readonly sum: number
  /** The first image's probabilities. */
  readonly first: ReadonlyArray<number>
}

export interface Measurement {
  readonly setupMs: number
  /** Warm-up rounds, in ms (lazy variants load the model here). */
  readonly warmupMs: ReadonlyArray<number>
  /** Seconds of each measured repetition (`rounds` rounds each). */
  readonly samples: ReadonlyArray<number>
  /** Median of `samples`. */
  readonly seconds: number
  readonly closeMs: number
  /** Model loads in the whole run (setup, warm-up, measured rounds), every thread counted. */
  readonly modelLoads: number
  /** Predictions of the whole batch in the whole run. */
  readonly predictions: number
  readonly digest: OutputDigest
  /** `undefined` when every output agreed with the first, else what differed. */
  readonly mismatch: string | undefined
}

export const measureVariant = async (input: MeasureInput): Promise<Measurement> => {
  const variant = await findVariant<ModelVariant>(input.module, input.variant)

  const modelPath = ensureMlpModel()
  const images = new Float32Array(new SharedArrayBuffer(input.images * IMAGE_SIZE * 4))
  images.set(makeImages(input.images, input.seed))
  const loads = new Int32Array(new SharedArrayBuffer(4))
  const setupArgs: ModelSetup = { modelPath, images, count: input.images, loads }

  let reference: Float32Array | undefined
  let predictions = 0
  const mismatches: Array<string> = []
  const check = (outputs: ReadonlyArray<Float32Array>, where: string) => {
    if (outputs.length !== input.workers) mismatches.push(`${where}: ${outputs.length} outputs for ${input.workers} instances`)
    for (const output of outputs) {
      predictions++
      reference ??= output.slice()
      const diff = maxAbsDiff(output, reference)
      if (!(diff <= 1e-6)) mismatches.push(`${where}: an output differs from the first by up to ${diff}`)
    }
  }

  const setup = await timed(() => variant.setup(input.workers, setupArgs))
  const handle = setup.value
  try {
    const warmupMs: Array<number> = []
    for (let r = 0; r < input.warmupRounds; r++) {
      const { ms, value } = await timed(() => handle.round())
      warmupMs.push(round(ms))
      check(value, `warm-up round ${r}`)
    }
    const samples: Array<number> = []
    for (let rep = 0; rep < input.repetitions; rep++) {
      // Outputs are kept and checked after the clock stops; a repetition's
      // outputs are a few MB.
      const outputs: Array<ReadonlyArray<Float32Array>> = []
      const { ms } = await timed(async () => {
        for (let r = 0; r < input.rounds; r++) outputs.push(await handle.round())
      })
      samples.push(ms / 1000)
      outputs.forEach((o, r) => check(o, `repetition ${rep} round ${r}`))
    }
    const closed = await timed(() => handle.close())
    if (reference === undefined) throw new Error(`${variant.name}: no output to check`)
    return {
      setupMs: round(setup.ms),
      warmupMs,
      samples: samples.map((s) => round(s)),
      seconds: round(median(samples)),
      closeMs: round(closed.ms),
      modelLoads: Atomics.load(loads, 0),
      predictions,
      digest: digestOf(reference, input.images),
      mismatch: mismatches.length === 0 ? undefined : mismatches.slice(0, 3).join("; ")
    }
  } catch (error) {
    await handle.close().catch(() => undefined)
    throw error
  }
}

/** Whether two runs' outputs agree: same classes, probabilities within float32 accumulation noise. */
export const sameOutput = (a: OutputDigest, b: OutputDigest): string | undefined => {
  if (a.argmax !== b.argmax) return `predicted classes differ (${a.argmax} vs ${b.argmax})`
  if (Math.abs(a.sum - b.sum) > 1e-3) return `probability sums differ (${a.sum} vs ${b.sum})`
  const diff = Math.max(...a.first.map((p, i) => Math.abs(p - (b.first[i] ?? Number.NaN))))
  if (!(diff <= 1e-6)) return `first image's probabilities differ by ${diff}`
  return undefined
}

const digestOf = (output: Float32Array, count: number): OutputDigest => {
  const classes = new Uint8Array(count)
  let sum = 0
  for (let n = 0; n < count; n++) {
    let best = 0
    for (let c = 0; c < CLASSES; c++) {
      const p = output[n * CLASSES + c]!
      sum += p
      if (p > output[n * CLASSES + best]!) best = c
    }
    classes[n] = best
  }
  return { argmax: fnv1aBytes(classes), sum: round(sum, 10), first: Array.from(output.subarray(0, CLASSES)) }
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY
  let max = 0
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!))
  return max
}
