/**
 * Measures one `stateful` variant; runs in its own child process
 * (`runInChild`) so that the peak RSS it reports belongs to this variant alone.
 *
 * Order: make documents -> setup -> repetitions (untimed `reset`, then timed:
 * every `add` issued round robin, every `popular` issued behind them, all
 * awaited, union built) -> latency (sequential `count` calls, one in flight)
 * -> close. The first repetition(s) are warm-up and not reported.
 *
 * Outputs are checked here and only fingerprints go back: every repetition's
 * union must be the same set (else `mismatch`), and the parent compares the
 * union's fingerprint and the probed counts with the serial run's.
 */
import { makeDocuments, unionPopular, WORD_LENGTH } from "../../../src/workloads/prefixCount.ts"
import { fnv1a } from "../../lib/digest.ts"
import { measureRoundTrips, type RoundTrips } from "../../lib/latency.ts"
import { median, round, timed } from "../../lib/stats.ts"
import { findVariant } from "../../lib/sweep.ts"
import type { StatefulHandle, StatefulVariant } from "./variant.ts"

export interface MeasureInput {
  /** `file:` URL of the variant module. */
  readonly module: string
  readonly variant: string
  readonly workers: number
  readonly counter: "radix" | "map"
  readonly documents: number
  readonly wordsPerDocument: number
  readonly seed: number
  readonly warmup: number
  readonly repetitions: number
  readonly roundTrips: number
  readonly warmupRoundTrips: number
}

export interface Measurement {
  readonly setupMs: number
  /** Seconds of each measured repetition, in order. */
  readonly samples: ReadonlyArray<number>
  /** Median of `samples`. */
  readonly seconds: number
  /** Size and fingerprint (sorted prefixes) of the union of popular prefixes. */
  readonly unionSize: number
  readonly unionDigest: string
  /** The answers of the latency probes: `count` of a few fixed prefixes on every counter. */
  readonly probeCounts: ReadonlyArray<number>
  /** p50/p99 of one `count` call with nothing else in flight, in µs. */
  /** One `count` call with nothing else in flight (see `lib/latency.ts`). */
  readonly latency: RoundTrips
  readonly closeMs: number
  /** `undefined` when every repetition gave the same union, else what differed. */
  readonly mismatch: string | undefined
}

export const measureVariant = async (input: MeasureInput): Promise<Measurement> => {
  const variant = await findVariant<StatefulVariant>(input.module, input.variant)

  const documents = makeDocuments(input.documents, input.wordsPerDocument, input.seed)
  const probes = probePrefixes(documents)

  const setup = await timed(() => variant.setup(input.workers, input.counter))
  const handle = setup.value
  try {
    const samples: Array<number> = []
    let union: ReadonlyArray<string> | undefined
    const mismatches: Array<string> = []
    for (let i = 0; i < input.warmup + input.repetitions; i++) {
      await handle.reset()
      const { ms, value } = await timed(() => countAll(handle, documents))
      if (i >= input.warmup) samples.push(ms / 1000)
      const sorted = [...value].sort()
      if (union === undefined) union = sorted
      else if (fnv1a(sorted) !== fnv1a(union)) {
        mismatches.push(`repetition ${i}: ${sorted.length} popular prefixes vs ${union.length} in repetition 0`)
      }
    }

    // Probes run against the last repetition's state, after all its documents.
    const probeCounts: Array<number> = []
    const latency = await measureRoundTrips({ warmup: input.warmupRoundTrips, count: input.roundTrips }, async (i) => {
      const counter = i % handle.counters
      const n = await handle.count(counter, probes[Math.floor(i / handle.counters) % probes.length]!)
      if (i < probes.length * handle.counters) probeCounts.push(n)
    })

    const closed = await timed(() => handle.close())
    return {
      setupMs: round(setup.ms),
      samples: samples.map((s) => round(s)),
      seconds: round(median(samples)),
      unionSize: union?.length ?? 0,
      unionDigest: fnv1a(union ?? []),
      probeCounts,
      latency,
      closeMs: round(closed.ms),
      mismatch: mismatches.length === 0 ? undefined : mismatches.slice(0, 3).join("; ")
    }
  } catch (error) {
    await handle.close().catch(() => undefined)
    throw error
  }
}

/**
 * The timed work: the post's driver loop. Every `add` is issued before any
 * reply is awaited (the post does not wait for `add_document`), then every
 * counter's `popular`, which per-counter ordering puts behind its documents.
 */
const countAll = async (handle: StatefulHandle, documents: ReadonlyArray<string>): Promise<Set<string>> => {
  const added = documents.map((document, i) => handle.add(i % handle.counters, document))
  const popular = Array.from({ length: handle.counters }, (_, c) => handle.popular(c))
  const [, sets] = await Promise.all([Promise.all(added), Promise.all(popular)])
  return unionPopular(sets)
}

/**
 * Prefixes to probe with `count`: lengths 1, 3 and 5 of the first document's
 * first word (popular, borderline and rare in a counter), so the answers
 * check state on every counter and not just a zero.
 */
const probePrefixes = (documents: ReadonlyArray<string>): ReadonlyArray<string> => {
  const word = documents[0]?.slice(0, WORD_LENGTH) ?? "a"
  return [word.slice(0, 1), word.slice(0, 3), word.slice(0, 5)]
}
