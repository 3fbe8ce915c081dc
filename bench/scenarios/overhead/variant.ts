/**
 * The contract every `overhead` variant implements, and the workload's inputs.
 *
 * A variant module (`bench/scenarios/overhead/<peer>.ts`) exports
 * `variants: ReadonlyArray<OverheadVariant>` and is listed once in
 * `variantModules` in `bench/scenarios/overhead.ts`. Worker scripts sit next
 * to their variant as `<peer>.worker.ts`.
 */

/** One task's payload; its result is `a + b`. */
export interface AddInput {
  readonly a: number
  readonly b: number
}

export interface OverheadHandle {
  /**
   * Runs every input as its own task (no batching of several inputs into one
   * task: per-task overhead is what this scenario measures), all submitted at
   * once, and resolves with the results in input order.
   */
  readonly runBatch: (inputs: ReadonlyArray<AddInput>) => Promise<ReadonlyArray<number>>
  /** Runs one task and resolves with its result. */
  readonly roundTrip: (input: AddInput) => Promise<number>
  /** Releases every worker; afterwards nothing of the variant keeps the process alive. */
  readonly close: () => Promise<void>
}

export interface OverheadVariant {
  /** Unique; used in the table, the record and `--variants`. */
  readonly name: string
  /** How the variant is configured, copied into the record's notes. */
  readonly config: string
  /**
   * Starts `workers` workers. May resolve before they are ready; the time
   * from here to the first result is reported as `firstResultMs`.
   */
  readonly setup: (workers: number) => Promise<OverheadHandle>
}

/** Deterministic small integers, so every variant sees the same inputs. */
export const makeInputs = (n: number): ReadonlyArray<AddInput> =>
  Array.from({ length: n }, (_, i) => ({ a: i, b: (i * 7919) % 1009 }))

/** Index of the first wrong or missing output, or -1 when all are right. */
export const firstMismatch = (inputs: ReadonlyArray<AddInput>, outputs: ReadonlyArray<number>): number => {
  if (outputs.length !== inputs.length) return Math.min(outputs.length, inputs.length)
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i]!
    if (outputs[i] !== input.a + input.b) return i
  }
  return -1
}

export const sum = (xs: ReadonlyArray<number>): number => {
  let s = 0
  for (const x of xs) s += x
  return s
}
