/**
 * Measures one `numerical` variant; runs in its own child process (`runInChild`) so that the
 * peak RSS it reports belongs to this variant alone.
 *
 * Order: setup (cold start) -> `warmupRounds` warm-up rounds (the first reported, none counted)
 * -> `repetitions` runs
 * of `rounds` rounds -> close. A run's time is the sum of its whole rounds: making the image and
 * convolving it; the convolution phases alone are kept beside it (see `numerical.ts`). The outputs
 * of the last run are fingerprinted so the parent can compare them with serial's.
 */
import { fnv1aStream } from "../../lib/digest.ts"
import { median, round as roundTo } from "../../lib/stats.ts"
import { findVariant } from "../../lib/sweep.ts"
import { imageSeed, type NumericalVariant, roundFilters } from "./variant.ts"

export interface MeasureInput {
  /** `file:` URL of the variant module. */
  readonly module: string
  readonly variant: string
  readonly workers: number
  readonly rows: number
  readonly cols: number
  readonly rounds: number
  readonly repetitions: number
  /**
   * Untimed rounds before the runs, the same for every variant: each worker's kernel runs once per
   * round where serial's runs once per filter, so a single round would leave workers less warm.
   */
  readonly warmupRounds: number
  readonly image: "random" | "zero"
}

export interface Measurement {
  readonly setupMs: number
  /** The first warm-up round's convolution phase: the pool's first work. */
  readonly firstRoundMs: number
  /** Seconds of each run's whole rounds (making the image, then convolving it). */
  readonly samples: ReadonlyArray<number>
  /** Median run seconds, whole rounds. */
  readonly seconds: number
  /** Median run seconds of the convolution phases alone. */
  readonly computeSeconds: number
  /**
   * The median of every measured round's convolution phase, in ms: a typical round. Unlike a run's
   * sum, it is not moved by the rounds this VM slows down in streaks (both threads' kernels at once,
   * a quarter to a third of all rounds on a bad day, raw threads alike).
   */
  readonly roundMedianMs: number
  /** FNV-1a of every output of the last run, in round and filter order. */
  readonly digest: string
  readonly closeMs: number
}

export const measureVariant = async (input: MeasureInput): Promise<Measurement> => {
  const variant = await findVariant<NumericalVariant>(input.module, input.variant)

  const t0 = performance.now()
  const handle = await variant.setup(input.workers)
  const setupMs = performance.now() - t0
  try {
    const roundInput = (round: number) => ({
      rows: input.rows,
      cols: input.cols,
      image: input.image,
      imageSeed: imageSeed(round),
      filters: roundFilters(round, input.workers)
    })
    const firstRoundMs = (await handle.round(roundInput(-1))).convolveMs
    for (let round = 1; round < input.warmupRounds; round++) await handle.round(roundInput(-1 - round))

    const samples: Array<number> = []
    const compute: Array<number> = []
    const roundMs: Array<number> = []
    let digest = fnv1aStream()
    for (let repetition = 0; repetition < input.repetitions; repetition++) {
      let convolveMs = 0
      let imageMs = 0
      // Hashed as they come (a round's outputs stay valid until the next round): no copies kept.
      digest = fnv1aStream()
      for (let round = 0; round < input.rounds; round++) {
        const out = await handle.round(roundInput(round))
        convolveMs += out.convolveMs
        imageMs += out.imageMs
        roundMs.push(out.convolveMs)
        for (const o of out.outputs) digest.update(new Uint8Array(o.data.buffer, o.data.byteOffset, o.data.byteLength))
      }
      samples.push((convolveMs + imageMs) / 1000)
      compute.push(convolveMs / 1000)
    }
    const c0 = performance.now()
    await handle.close()
    return {
      setupMs: roundTo(setupMs),
      firstRoundMs: roundTo(firstRoundMs),
      samples: samples.map((s) => roundTo(s)),
      seconds: roundTo(median(samples)),
      computeSeconds: roundTo(median(compute)),
      roundMedianMs: roundTo(median(roundMs)),
      digest: digest.digest(),
      closeMs: roundTo(performance.now() - c0)
    }
  } catch (error) {
    await handle.close()
    throw error
  }
}
