/**
 * Measures one `overhead` variant; runs in its own child process (`runInChild`)
 * so that the peak RSS it reports belongs to this variant alone.
 *
 * Order: setup -> first result -> throughput (warm-up batches, then the median
 * of `repetitions` batches) -> latency (warm-up, then `roundTrips` sequential
 * round trips) -> close. Every output is checked against `a + b`.
 */
import { measureRoundTrips, type RoundTrips } from "../../lib/latency.ts"
import { repeat, round, timed } from "../../lib/stats.ts"
import { findVariant } from "../../lib/sweep.ts"
import { type AddInput, firstMismatch, makeInputs, type OverheadVariant, sum } from "./variant.ts"

export interface MeasureInput {
  /** `file:` URL of the variant module. */
  readonly module: string
  readonly variant: string
  readonly workers: number
  readonly tasks: number
  /** Unmeasured full batches before the measured ones. */
  readonly warmupBatches: number
  /** …and warm-up batches until this long was spent warming up. */
  readonly warmupMillis: number
  readonly repetitions: number
  readonly roundTrips: number
  readonly warmupRoundTrips: number
}

export interface Measurement {
  readonly setupMs: number
  readonly firstResultMs: number
  /** Seconds of each measured batch. */
  readonly samples: ReadonlyArray<number>
  /** Median batch seconds. */
  readonly seconds: number
  readonly throughput: number
  /** One `Add` round trip with nothing else in flight (see `lib/latency.ts`). */
  readonly latency: RoundTrips
  readonly closeMs: number
  /** `undefined` when every output was right, else what went wrong first. */
  readonly mismatch: string | undefined
}

export const measureVariant = async (input: MeasureInput): Promise<Measurement> => {
  const variant = await findVariant<OverheadVariant>(input.module, input.variant)

  const mismatches: Array<string> = []
  const check = (what: string, inputs: ReadonlyArray<AddInput>, outputs: ReadonlyArray<number>) => {
    const i = firstMismatch(inputs, outputs)
    if (i >= 0) {
      const expected = sum(inputs.map(({ a, b }) => a + b))
      mismatches.push(
        `${what}: output ${i} is ${outputs[i]} (want ${inputs[i] === undefined ? "none" : inputs[i].a + inputs[i].b}); ` +
          `sum ${sum(outputs)} vs ${expected}, ${outputs.length}/${inputs.length} outputs`
      )
    }
  }

  const inputs = makeInputs(input.tasks)
  const probe = inputs[1]!

  const setup = await timed(() => variant.setup(input.workers))
  const handle = setup.value
  try {
    const first = await timed(() => handle.roundTrip(probe))
    check("first result", [probe], [first.value])

    // Whole batches of warm-up: a 2,000-task warm-up left the first measured
    // 10,000-task batch about twice as slow as the later ones.
    const batches = await repeat(async () => {
      const outputs = await handle.runBatch(inputs)
      check("batch", inputs, outputs)
    }, { warmup: input.warmupBatches, warmupMillis: input.warmupMillis, repetitions: input.repetitions })

    const latency = await measureRoundTrips({ warmup: input.warmupRoundTrips, count: input.roundTrips }, async (i) => {
      const x = inputs[i % inputs.length]!
      const y = await handle.roundTrip(x)
      if (y !== x.a + x.b) check("round trip", [x], [y])
    })

    const closed = await timed(() => handle.close())
    return {
      setupMs: round(setup.ms),
      firstResultMs: round(first.ms),
      samples: batches.samples.map((s) => round(s)),
      seconds: round(batches.seconds),
      throughput: Math.round(input.tasks / batches.seconds),
      latency,
      closeMs: round(closed.ms),
      mismatch: mismatches.length === 0 ? undefined : mismatches.slice(0, 3).join("; ")
    }
  } catch (error) {
    await handle.close().catch(() => undefined)
    throw error
  }
}
