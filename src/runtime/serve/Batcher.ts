/**
 * The dynamic batcher of one deployment: requests wait in one FIFO queue and leave it in batches,
 * each batch to one replica.
 *
 * Rules (each has a test in `test/api/Serve.test.ts`; rule 7 also in `test/runtime/serve/Batcher.test.ts`):
 * 1. A request that finds a replica idle (no batch in flight) goes at once, with whatever else
 *    waits: at low load nothing waits for `maxWait`.
 * 2. While every ready replica is busy, the queue grows into batches of at most `maxBatchSize`
 *    items (a request never carries more: the routes refuse it). A batch is *closed* when it is full
 *    or its first request has waited `maxWait`; a closed batch may go to a busy replica, up to
 *    `maxBatchesPerReplica` in flight there (so its worker starts the next batch without a round
 *    trip), always to the least busy one.
 * 3. At most `maxQueued` requests wait; the next one is refused at once (`offer` returns
 *    undefined). Dispatched requests do not count: the queue bound is what bounds memory.
 * 4. A request cancelled while it waits (deadline, disconnect) leaves the queue and is never
 *    dispatched; one cancelled after dispatch is still computed, its answer dropped.
 * 5. Every request is settled exactly once: by its batch, by `close` or `failQueued`, or not at
 *    all when it was cancelled (its canceller answers it).
 * 6. A batch whose replica was lost under it and is sent once more (`retryOnReplicaLoss`) goes to
 *    the least busy other ready replica through `reroute`, and counts there until its `batchDone`:
 *    the retry is in flight like any batch, within the same accounting.
 * 7. Admission by expected wait: a request is also refused at once when the work ahead of it
 *    (the batches in flight, and the queued items in batches of `maxBatchSize`) would take the
 *    ready replicas longer than `maxExpectedWaitMillis`. A batch's time is counted from when its
 *    replica could start it (its dispatch, or the replica's previous `batchDone`, whichever is
 *    later: a replica runs its batches in order) to its `batchDone`, and fitted over recent
 *    batches as a time per batch plus a time per item (a batch of 32 costs far less than 32 of
 *    one). Until a batch has been measured nothing is refused by this rule; an idle deployment
 *    never refuses by it.
 *
 * Single-threaded: every method runs on the caller's event loop, so the state needs no locks.
 */

/** A request in the batcher: `rows` items of the deployment's input size, flat. */
export interface Pending {
  readonly rows: number
  readonly input: Float32Array
  readonly arrivedAt: number
  /** Called once with the outcome (see rule 5). */
  readonly settle: (outcome: Outcome) => void
  state: "queued" | "dispatched" | "cancelled" | "settled"
}

export type Outcome =
  | { readonly _tag: "Success"; readonly output: Float32Array; readonly width: number }
  | { readonly _tag: "Failure"; readonly status: number; readonly message: string }

export interface BatcherOptions {
  readonly maxBatchSize: number
  readonly maxWaitMillis: number
  readonly maxQueued: number
  readonly maxBatchesPerReplica: number
  /** Rule 7; Infinity turns it off. */
  readonly maxExpectedWaitMillis?: number | undefined
  readonly replicas: number
  /** Starts a batch on a replica; the caller calls `batchDone(replica)` when it has settled it. */
  readonly dispatch: (replica: number, batch: ReadonlyArray<Pending>) => void
  readonly now?: () => number
}

export interface BatcherStats {
  readonly queued: number
  readonly inFlight: ReadonlyArray<number>
  readonly ready: ReadonlyArray<boolean>
  /** Rule 7's estimate for a request arriving now, in ms (0 before any batch was measured). */
  readonly expectedWaitMillis: number
}

/** Why `offer` would refuse a request now. */
export type Refusal = "closed" | "queue_full" | "expected_wait"

/** How much each older batch counts in rule 7's fit: about the last 10 batches matter. */
const costMemory = 0.9

export class Batcher {
  private readonly options: BatcherOptions
  private readonly now: () => number
  private queue: Array<Pending> = []
  /** Index of the first live entry of `queue` (entries before it were taken). */
  private head = 0
  /** Queued requests not cancelled. */
  private waiting = 0
  private waitingItems = 0
  private readonly inFlight: Array<number>
  /** Per replica, its batches in flight in dispatch order: when each was sent and its items (rule 7). */
  private readonly running: Array<Array<{ readonly at: number; readonly items: number }>>
  /** Per replica, when it last finished a batch (rule 7). */
  private readonly lastDoneAt: Array<number>
  private inFlightItems = 0
  private inFlightBatches = 0
  private readonly cost = new BatchCost()
  private readonly ready: Array<boolean>
  private timer: ReturnType<typeof setTimeout> | undefined
  private closed = false
  private idleWaiters: Array<() => void> = []

  constructor(options: BatcherOptions) {
    this.options = options
    this.now = options.now ?? performance.now.bind(performance)
    this.inFlight = Array.from({ length: options.replicas }, () => 0)
    this.running = Array.from({ length: options.replicas }, () => [])
    this.lastDoneAt = Array.from({ length: options.replicas }, () => -Infinity)
    this.ready = Array.from({ length: options.replicas }, () => false)
  }

  /** Queues a request, or returns undefined when `refusal` says why not (rules 3 and 7). */
  offer(rows: number, input: Float32Array, settle: (outcome: Outcome) => void): Pending | undefined {
    if (this.refusal() !== undefined) return undefined
    const pending: Pending = { rows, input, arrivedAt: this.now(), settle, state: "queued" }
    this.queue.push(pending)
    this.waiting++
    this.waitingItems += rows
    this.pump()
    return pending
  }

  /** Why `offer` would refuse now (rules 3 and 7), if it would: checked before a request's body is read. */
  refusal(): Refusal | undefined {
    if (this.closed) return "closed"
    if (this.waiting >= this.options.maxQueued) return "queue_full"
    const limit = this.options.maxExpectedWaitMillis
    if (limit !== undefined && limit < Infinity && this.expectedWaitMillis() > limit) return "expected_wait"
    return undefined
  }

  /**
   * Rule 7: how long the batches in flight and the queued items would take the ready replicas,
   * at the fitted time per batch and per item; 0 before any batch was measured or with no replica ready.
   */
  expectedWaitMillis(): number {
    let ready = 0
    for (const r of this.ready) if (r) ready++
    if (ready === 0 || !this.cost.measured()) return 0
    const batches = this.inFlightBatches + Math.ceil(this.waitingItems / this.options.maxBatchSize)
    return this.cost.millis(batches, this.inFlightItems + this.waitingItems) / ready
  }

  /** Takes a queued request out (rule 4); returns whether it was still queued. */
  cancel(pending: Pending): boolean {
    if (pending.state !== "queued") {
      if (pending.state === "dispatched") pending.state = "cancelled"
      return false
    }
    pending.state = "cancelled"
    this.waiting--
    this.waitingItems -= pending.rows
    // Rule 3: only `send` compacted the queue, so while no batch could go (every replica stuck on
    // its batches) each cancelled request stayed in it with its input, past any bound. Once they
    // outnumber the live ones, keep the live ones only (amortized: each pass drops over half).
    if (this.queue.length > 1024 && this.queue.length > 2 * this.waiting) {
      this.queue = this.queue.slice(this.head).filter((queued) => queued.state === "queued")
      this.head = 0
    }
    return true
  }

  /**
   * Rule 6: the least busy ready replica other than `lost`, charged with one batch of `items` in
   * flight (the caller calls `batchDone` on it when the batch settles); undefined when there is none.
   */
  reroute(lost: number, items: number): number | undefined {
    let best = -1
    for (let i = 0; i < this.inFlight.length; i++) {
      if (i === lost || !this.ready[i]) continue
      if (best === -1 || this.inFlight[i]! < this.inFlight[best]!) best = i
    }
    if (best === -1) return undefined
    this.inFlight[best]!++
    this.running[best]!.push({ at: this.now(), items })
    this.inFlightItems += items
    this.inFlightBatches++
    return best
  }

  /** A replica finished a batch (whatever its outcome). */
  batchDone(replica: number): void {
    this.inFlight[replica]!--
    const batch = this.running[replica]!.shift()
    const now = this.now()
    if (batch !== undefined) {
      this.inFlightItems -= batch.items
      this.inFlightBatches--
      this.cost.record(batch.items, now - Math.max(batch.at, this.lastDoneAt[replica]!))
    }
    this.lastDoneAt[replica] = now
    this.pump()
    this.notifyIdle()
  }

  /** A replica became ready (its actor was built) or stopped being so. */
  setReady(replica: number, ready: boolean): void {
    this.ready[replica] = ready
    if (ready) this.pump()
  }

  stats(): BatcherStats {
    return {
      queued: this.waiting,
      inFlight: [...this.inFlight],
      ready: [...this.ready],
      expectedWaitMillis: this.expectedWaitMillis()
    }
  }

  /** Resolves when nothing waits and no batch is in flight. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Refuses new requests and answers every queued one with `failure` (rule 5). */
  close(failure: { readonly status: number; readonly message: string }): void {
    this.closed = true
    this.failQueued(failure)
  }

  /**
   * Answers every queued request with `failure` (rule 5), and takes new ones: for when no replica
   * is left to send them to, which new requests are refused for before they reach `offer`.
   */
  failQueued(failure: { readonly status: number; readonly message: string }): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    for (let i = this.head; i < this.queue.length; i++) {
      const pending = this.queue[i]!
      if (pending.state !== "queued") continue
      pending.state = "settled"
      pending.settle({ _tag: "Failure", ...failure })
    }
    this.queue = []
    this.head = 0
    this.waiting = 0
    this.waitingItems = 0
    this.notifyIdle()
  }

  /** Sends every batch the rules allow now, and arms the timer for the next closing one. */
  private pump(): void {
    if (this.closed) return
    while (this.waiting > 0) {
      const replica = this.leastBusy()
      if (replica === -1) break
      const busy = this.inFlight[replica]!
      // Rule 1: an idle replica takes what is there; rule 2: a busy one only a closed batch.
      if (busy > 0 && (busy >= this.options.maxBatchesPerReplica || !this.firstBatchClosed())) break
      this.send(replica)
    }
    this.arm()
  }

  private send(replica: number): void {
    const batch: Array<Pending> = []
    let items = 0
    while (this.head < this.queue.length) {
      const pending = this.queue[this.head]!
      if (pending.state !== "queued") {
        this.head++
        continue
      }
      if (batch.length > 0 && items + pending.rows > this.options.maxBatchSize) break
      this.head++
      pending.state = "dispatched"
      batch.push(pending)
      items += pending.rows
      this.waiting--
      this.waitingItems -= pending.rows
    }
    this.compact()
    this.inFlight[replica]!++
    this.running[replica]!.push({ at: this.now(), items })
    this.inFlightItems += items
    this.inFlightBatches++
    this.options.dispatch(replica, batch)
  }

  private firstBatchClosed(): boolean {
    if (this.waitingItems >= this.options.maxBatchSize) return true
    const first = this.first()
    return first !== undefined && this.now() - first.arrivedAt >= this.options.maxWaitMillis
  }

  private first(): Pending | undefined {
    while (this.head < this.queue.length && this.queue[this.head]!.state !== "queued") this.head++
    return this.queue[this.head]
  }

  private leastBusy(): number {
    let best = -1
    for (let i = 0; i < this.inFlight.length; i++) {
      if (!this.ready[i]) continue
      if (best === -1 || this.inFlight[i]! < this.inFlight[best]!) best = i
    }
    return best
  }

  /** Wakes the batcher when the first waiting request's batch closes by age (rule 2). */
  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    const first = this.waiting > 0 ? this.first() : undefined
    // A closed batch waits for a replica to finish (batchDone pumps), not for time.
    if (first === undefined || this.firstBatchClosed()) return
    const delay = Math.max(0, first.arrivedAt + this.options.maxWaitMillis - this.now())
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.pump()
    }, Math.ceil(delay))
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }

  private isIdle(): boolean {
    return this.waiting === 0 && this.inFlight.every((n) => n === 0)
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0 || !this.isIdle()) return
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const resolve of waiters) resolve()
  }
}

/**
 * Rule 7's model of a batch's time: `perBatch + perItem × items`, a least-squares fit over the
 * batches measured so far in which each older batch counts `costMemory` times less. While every
 * batch had the same size (or the fit says a batch costs less than nothing), all of its time is
 * put on its items.
 */
class BatchCost {
  private weight = 0
  private items = 0
  private millisSum = 0
  private itemsSquared = 0
  private itemsMillis = 0

  record(items: number, millis: number): void {
    this.weight = this.weight * costMemory + 1
    this.items = this.items * costMemory + items
    this.millisSum = this.millisSum * costMemory + millis
    this.itemsSquared = this.itemsSquared * costMemory + items * items
    this.itemsMillis = this.itemsMillis * costMemory + items * millis
  }

  measured(): boolean {
    return this.weight > 0 && this.items > 0
  }

  /** Expected time of `batches` batches holding `items` items in all, one after another. */
  millis(batches: number, items: number): number {
    const spread = this.weight * this.itemsSquared - this.items * this.items
    const perItem = spread > 1e-9 * this.weight * this.itemsSquared
      ? (this.weight * this.itemsMillis - this.items * this.millisSum) / spread
      : Number.NaN
    const perBatch = (this.millisSum - perItem * this.items) / this.weight
    if (!(perItem >= 0) || !(perBatch >= 0)) return (items * this.millisSum) / this.items
    return batches * perBatch + items * perItem
  }
}
