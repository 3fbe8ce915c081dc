/**
 * The contract every `stateful` variant implements.
 *
 * A variant module (`bench/scenarios/stateful/<peer>.ts`) exports
 * `variants: ReadonlyArray<StatefulVariant>` and is listed once in
 * `variantModules` in `bench/scenarios/stateful.ts`. Worker scripts sit next
 * to their variant as `<peer>.worker.ts`.
 *
 * The handle is the post's actor interface, one counter (a
 * `StreamingPrefixCount`) per worker: `add` a document to counter `c`, ask
 * counter `c` for its `popular` prefixes or for one prefix's `count`. The
 * measurement (`measure.ts`) owns the workload's shape — document `i` goes to
 * counter `i % counters`, every `add` is issued before any reply is awaited,
 * then every counter is asked for its popular set — so variants differ only
 * in where the counters live and how calls reach them.
 */
import type { CounterKind } from "../../../src/workloads/prefixCount.ts"
import type { NamedVariant } from "../../lib/sweep.ts"

export interface StatefulHandle {
  /** Number of counters (one per worker; `serial` keeps as many in one thread). */
  readonly counters: number
  /**
   * Replaces every counter by an empty one. Not timed: called before each
   * repetition so every repetition starts from empty state, as the post's
   * freshly constructed actors do.
   */
  readonly reset: () => Promise<void>
  /**
   * Counts the prefixes of `document` in counter `counter`. Calls to one
   * counter must take effect in call order: `popular` called after `add`
   * (without awaiting the `add`) must see that document.
   */
  readonly add: (counter: number, document: string) => Promise<void>
  /** Counter `counter`'s popular prefixes (any order). */
  readonly popular: (counter: number) => Promise<ReadonlyArray<string>>
  /** Counter `counter`'s count of `prefix`: a tiny call, used for round-trip latency. */
  readonly count: (counter: number, prefix: string) => Promise<number>
  /** Stops every worker; afterwards nothing of the variant keeps the process alive. */
  readonly close: () => Promise<void>
}

export interface StatefulVariant extends NamedVariant {
  /**
   * Starts `workers` counters and resolves once they can take calls (the
   * post creates its actors before the timed region).
   */
  readonly setup: (workers: number, counter: CounterKind) => Promise<StatefulHandle>
}
