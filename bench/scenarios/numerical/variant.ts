/**
 * The contract every `numerical` variant implements, and the workload's inputs.
 *
 * A variant module (`bench/scenarios/numerical/<peer>.ts`) exports
 * `variants: ReadonlyArray<NumericalVariant>` and is listed once in
 * `variantModules` in `bench/scenarios/numerical.ts`.
 */
import type { NamedVariant } from "../../lib/sweep.ts"
import { type Matrix, randomFilter, type ReadonlyMatrix } from "../../../src/workloads/convolve.ts"

export interface RoundInput {
  readonly rows: number
  readonly cols: number
  /**
   * The round's image, made by the variant in its own memory, the way its users would: random,
   * `randomImage(rows, cols, imageSeed)`; zero, a new zero image (the Ray post's `np.zeros` per round).
   */
  readonly image: "random" | "zero"
  readonly imageSeed: number
  /** One filter per worker. */
  readonly filters: ReadonlyArray<Matrix>
}

export interface RoundOutput {
  /** One result per filter, in filter order. */
  readonly outputs: ReadonlyArray<ReadonlyMatrix>
  /** Making the image (part of the round, not of its convolution phase). */
  readonly imageMs: number
  /** From handing the image and filters to the variant to having every result. */
  readonly convolveMs: number
}

export interface NumericalHandle {
  /** One round; its outputs stay valid until the next round starts (or `close`). */
  readonly round: (input: RoundInput) => Promise<RoundOutput>
  /** Releases every worker; afterwards nothing of the variant keeps the process alive. */
  readonly close: () => Promise<void>
}

export interface NumericalVariant extends NamedVariant {
  /** Starts `workers` workers and resolves when they can take work. */
  readonly setup: (workers: number) => Promise<NumericalHandle>
}

export const filterSize = 4

/** Round `round`'s filters: one per worker, the same for every variant. */
export const roundFilters = (round: number, workers: number): ReadonlyArray<Matrix> =>
  Array.from({ length: workers }, (_, w) => randomFilter(filterSize, round * 64 + w + 1))

export const imageSeed = (round: number): number => 1_000 + round
