/**
 * A pool whose workers are the cluster's runners: the `PoolClient` that `Cluster.pool` provides,
 * so `Task.run` / `map` / `mapUnordered` / `stream` run across runners unchanged. A submission is
 * cut into chunks; each chunk goes to a lane entity (`TaskEntity.ts`) on whichever runner owns
 * it, runs there on that runner's local pool, and its tasks' outcomes come back to the caller's
 * call path, which decodes them and builds its errors as it does for a local pool.
 *
 * Rules:
 * 1. At most `concurrency` chunks are in flight over the whole cluster; the others wait in one
 *    queue, first come first served. A chunk holds at most its submission's `chunkSize` tasks.
 * 2. Each task is settled exactly once, unless its submission was cancelled first; a cancelled
 *    submission is never settled again. `cancel()` drops its queued chunks and interrupts those in
 *    flight (the runner cancels them on its pool); it resolves once their calls have ended.
 * 3. A chunk lost with its runner — the cluster could not deliver it or its reply, or the runner
 *    interrupted it — and a task its runner reports `Lost` (its worker died there, past that
 *    pool's own `retries`) are re-sent while the task was sent at most `retries` times (sends by
 *    this pool: the runner pool's own retries do not count against them); each
 *    re-sent task goes alone (another runner killer may be among them). Otherwise they fail as
 *    `Lost`. Only those tasks: the other chunks of the submission are untouched.
 * 4. A payload is checked against its Schema before it is sent: one that does not fit fails alone
 *    (`PayloadInvalid`, with its path), the rest of its submission runs.
 * 5. When the pool's scope closes, chunks in flight are interrupted and every task not yet
 *    settled, queued or in flight, fails as `Closed`; later submissions fail at once.
 *
 * Task ids and worker ids in outcomes are the runner's (`Settle`'s `runner` names it); `attempts`
 * counts every run, on every runner (their pools' own retries included).
 *
 * Observers (`events`, `stats`) see `size` workers, the lanes folded onto them (lane modulo
 * `size`): a runner's worker ids are its own, and the same on every runner, so the pool names its
 * own. A chunk is `Dispatched` to its lane's worker, and the tasks settled out of it are `Settled`
 * there; `busyWorkers` counts those workers holding a chunk in flight (a dropped one included,
 * until its call has ended), so it never exceeds `workers` (the 64 lanes counted alone did).
 */
import * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import { ClusterError } from "../../core/ClusterError.ts"
import type { PoolStats } from "../../core/PoolEvent.ts"
import type * as Task from "../../core/Task.ts"
import type { PoolClient, Submission, Ticket } from "../client/PoolClient.ts"
import type { EventHub } from "../observe/EventHub.ts"
import { Outcome, outcomeName, type RemoteError, type WorkerExit } from "../protocol/protocol.ts"
import { type ChunkCodec, chunkCodecOf, type ChunkReply, lanes, Settled } from "./TaskEntity.ts"

export interface ClusterPoolOptions {
  /** The cluster's workers as callers see them: `Task.map` chunks for about four per worker. */
  readonly size: number
  /** Chunks in flight at once (rule 1). */
  readonly concurrency: number
  /** Times a task lost with its runner or worker is re-sent (rule 3). */
  readonly retries: number
}

/** Sends one chunk of a task's JSON-coded payloads to a lane. Fails with `ClusterError` when the cluster could not deliver it. */
export type SendChunk = (
  lane: string,
  payloads: ReadonlyArray<unknown>,
  timeoutMillis: number
) => Effect.Effect<ChunkReply, unknown>

/** Runs a chunk's call in a fiber the pool's scope owns. */
export type Fork = (effect: Effect.Effect<ChunkReply, unknown>) => Fiber.Fiber<ChunkReply, unknown>

/**
 * Whether a chunk's call failed because its runner, or the way to it, was lost (rule 3): the
 * runner interrupted it, or the cluster could not deliver it (`ClusterError`, as `SendChunk`
 * reports it). A message saying so, or undefined for any other failure (a defect).
 */
export const lossOf = (cause: Cause.Cause<unknown>): string | undefined => {
  if (Cause.hasInterruptsOnly(cause)) return "the runner interrupted the chunk before it answered"
  const failure = cause.reasons.find((reason) => reason._tag === "Fail")
  return failure !== undefined && failure.error instanceof ClusterError ? failure.error.message : undefined
}

interface Pending {
  readonly id: number
  readonly submission: Submission
  readonly codec: ChunkCodec
  readonly send: SendChunk
  /** The JSON form of each payload (undefined for one that failed its Schema). */
  readonly json: Array<unknown>
  /** Sends so far, per task: the retry budget (rule 3). */
  readonly sends: Int32Array
  /** Runs so far, per task, on every runner's pool (its own retries included): what errors report. */
  readonly attempts: Int32Array
  /** Tasks not settled yet. */
  unsettled: number
  readonly inFlight: Set<Chunk>
  cancelled: boolean
  cancelling: Promise<void> | undefined
  onDrained: (() => void) | undefined
}

interface Chunk {
  readonly pending: Pending
  /** Positions in the submission. */
  readonly indices: ReadonlyArray<number>
  fiber: Fiber.Fiber<ChunkReply, unknown> | undefined
  /** Interrupted by `cancel` or by the pool closing: its end settles nothing. */
  dropped: boolean
  /** Observers' worker id: the lane it was sent to, modulo `size`; -1 while queued. */
  worker: number
}

export class ClusterPool implements PoolClient {
  readonly size: number
  private readonly queue: Array<Chunk> = []
  private chunksInFlight = 0
  private nextLane = 0
  /** Chunks in flight per observers' worker, and the workers holding any (`busyWorkers`). */
  private readonly workerChunks: Int32Array
  private busyCount = 0
  private submissions = 0
  private closed = false
  private counts = { submitted: 0, settled: 0, queued: 0, inFlight: 0, peakQueued: 0, maxInFlight: 0 }

  private readonly tasks: ReadonlyMap<string, { readonly task: Task.Any; readonly send: SendChunk }>
  private readonly options: ClusterPoolOptions
  private readonly fork: Fork
  readonly events: EventHub

  constructor(
    tasks: ReadonlyMap<string, { readonly task: Task.Any; readonly send: SendChunk }>,
    options: ClusterPoolOptions,
    fork: Fork,
    events: EventHub
  ) {
    this.tasks = tasks
    this.options = options
    this.fork = fork
    this.events = events
    this.size = options.size
    this.workerChunks = new Int32Array(options.size)
  }

  submit(submission: Submission): Ticket {
    const id = ++this.submissions
    const count = submission.payloads.length
    const target = this.tasks.get(submission.taskName)
    const pending: Pending = {
      id,
      submission,
      codec: target === undefined ? undefined as never : chunkCodecOf(target.task),
      send: target?.send as SendChunk,
      json: new Array(count),
      sends: new Int32Array(count),
      attempts: new Int32Array(count),
      unsettled: count,
      inFlight: new Set(),
      cancelled: false,
      cancelling: undefined,
      onDrained: undefined
    }
    const ticket: Ticket = { id, cancel: () => this.cancel(pending) }
    this.counts.submitted += count
    if (this.events.active) {
      this.events.emit({
        _tag: "Submitted",
        at: this.events.now(),
        submission: id,
        taskName: submission.taskName,
        count,
        chunkSize: submission.chunkSize,
        payloads: submission.payloads
      })
    }
    if (this.closed || target === undefined) {
      const message = this.closed ? "the cluster pool closed" : `the cluster pool does not serve task ${submission.taskName}`
      for (let i = 0; i < count; i++) this.settle(pending, i, Outcome.Closed, message, -1, -1, undefined, -1)
      return ticket
    }
    // Rule 4: every payload checked before any is sent; a chunk holds only those that fit.
    let chunk: Array<number> = []
    const chunkSize = Math.max(1, submission.chunkSize)
    for (let i = 0; i < count; i++) {
      const coded = pending.codec.payloadToJson(submission.payloads[i])
      if (coded.issue !== undefined) {
        this.settle(pending, i, Outcome.PayloadInvalid, coded.issue, -1, -1, undefined, -1)
        if (pending.cancelled) return ticket
        continue
      }
      pending.json[i] = coded.value
      chunk.push(i)
      if (chunk.length === chunkSize) {
        this.enqueue(pending, chunk, false)
        chunk = []
      }
    }
    if (chunk.length > 0) this.enqueue(pending, chunk, false)
    this.pump()
    return ticket
  }

  stats(): PoolStats {
    return {
      workers: this.size,
      readyWorkers: this.size,
      queued: this.counts.queued,
      peakQueued: this.counts.peakQueued,
      waiting: 0,
      inFlight: this.counts.inFlight,
      maxInFlight: this.counts.maxInFlight,
      busyWorkers: this.busyCount,
      workersStarted: 0,
      submitted: this.counts.submitted,
      settled: this.counts.settled,
      recycled: 0
    }
  }

  /** Rule 5: called once, as the pool's scope closes, before its fibers are interrupted. */
  close(): void {
    this.closed = true
    const queued = this.queue.splice(0)
    for (const chunk of queued) {
      this.counts.queued -= chunk.indices.length
      this.failChunk(chunk, Outcome.Closed, "the cluster pool closed")
    }
  }

  private enqueue(pending: Pending, indices: ReadonlyArray<number>, front: boolean): void {
    const chunk: Chunk = { pending, indices, fiber: undefined, dropped: false, worker: -1 }
    if (front) this.queue.unshift(chunk)
    else this.queue.push(chunk)
    this.counts.queued += indices.length
    if (this.counts.queued > this.counts.peakQueued) this.counts.peakQueued = this.counts.queued
  }

  private pump(): void {
    while (this.chunksInFlight < this.options.concurrency && this.queue.length > 0) {
      const chunk = this.queue.shift()!
      this.counts.queued -= chunk.indices.length
      if (chunk.pending.cancelled) continue
      this.start(chunk)
    }
  }

  private start(chunk: Chunk): void {
    const { pending, indices } = chunk
    this.chunksInFlight++
    this.counts.inFlight += indices.length
    if (this.counts.inFlight > this.counts.maxInFlight) this.counts.maxInFlight = this.counts.inFlight
    for (const i of indices) {
      pending.sends[i]!++
      pending.attempts[i]!++
    }
    pending.inFlight.add(chunk)
    const lane = this.nextLane++ % lanes
    const worker = lane % this.size
    chunk.worker = worker
    if (this.workerChunks[worker]!++ === 0) this.busyCount++
    if (this.events.active) {
      this.events.dispatched(worker, indices.length, () =>
        indices.map((index) => ({ taskId: -1, submission: pending.id, index, attempt: pending.attempts[index]! })))
    }
    const payloads = indices.map((i) => pending.json[i])
    const fiber = this.fork(pending.send(`lane-${lane}`, payloads, pending.submission.timeoutMillis))
    chunk.fiber = fiber
    fiber.addObserver((exit) => this.onChunkEnd(chunk, exit))
  }

  private onChunkEnd(chunk: Chunk, exit: Exit.Exit<ChunkReply, unknown>): void {
    const { pending, indices } = chunk
    this.chunksInFlight--
    this.counts.inFlight -= indices.length
    if (--this.workerChunks[chunk.worker]! === 0) this.busyCount--
    pending.inFlight.delete(chunk)
    if (chunk.dropped || pending.cancelled) {
      if (pending.inFlight.size === 0) pending.onDrained?.()
    } else if (exit._tag === "Success") {
      this.settleReply(chunk, exit.value)
    } else if (this.closed) {
      this.failChunk(chunk, Outcome.Closed, "the cluster pool closed")
    } else {
      const loss = lossOf(exit.cause)
      if (loss === undefined) {
        const remote: RemoteError = { name: "ClusterDefect", message: Cause.pretty(exit.cause), stack: "" }
        this.failChunk(chunk, Outcome.Defect, remote)
      } else {
        const lost: WorkerExit = { kind: "Crashed", message: `the chunk's runner was lost: ${loss}` }
        for (const index of indices) {
          if (pending.cancelled) break
          this.retryOrSettle(pending, index, lost, -1, -1, undefined, chunk.worker)
        }
      }
    }
    this.pump()
  }

  private settleReply(chunk: Chunk, reply: ChunkReply): void {
    const { pending, indices } = chunk
    const { settled, runner } = reply
    const answered = new Uint8Array(indices.length)
    for (let at = 0; at < settled.length; at += Settled.stride) {
      if (pending.cancelled) return
      const position = settled[at + Settled.position] as number
      const index = indices[position]
      if (index === undefined || answered[position] === 1) continue
      answered[position] = 1
      let outcome = settled[at + Settled.outcome] as Outcome
      const decoded = pending.codec.valueFromJson(outcome, settled[at + Settled.value])
      let value = decoded.value
      if (decoded.issue !== undefined) {
        outcome = Outcome.Defect
        value = { name: "ClusterDecodeError", message: `the runner's answer does not decode: ${decoded.issue.message}`, stack: "" }
      }
      const workerId = settled[at + Settled.workerId] as number
      const taskId = settled[at + Settled.taskId] as number
      // The runner counted the runs on its pool (its own retries); ours counted one of them. Only
      // `sends` is the retry budget: a runner's retries must not use up the caller's.
      pending.attempts[index] = pending.attempts[index]! - 1 + (settled[at + Settled.attempts] as number)
      if (outcome === Outcome.Lost) this.retryOrSettle(pending, index, value as WorkerExit, workerId, taskId, runner, chunk.worker)
      else this.settle(pending, index, outcome, value, workerId, taskId, runner, chunk.worker)
    }
    // A runner answers a chunk early only at a failure its caller fails fast on: the tasks it
    // stopped end here if the caller did not cancel them (rule 2).
    for (let position = 0; position < indices.length; position++) {
      if (pending.cancelled) return
      if (answered[position] === 0) {
        this.settle(pending, indices[position]!, Outcome.Interrupted, undefined, -1, -1, runner, chunk.worker)
      }
    }
  }

  private retryOrSettle(
    pending: Pending,
    index: number,
    lost: WorkerExit,
    workerId: number,
    taskId: number,
    runner: string | undefined,
    worker: number
  ): void {
    if (pending.sends[index]! <= this.options.retries && !this.closed) {
      if (this.events.active) {
        this.events.emit({ _tag: "Requeued", at: this.events.now(), taskId, submission: pending.id, index, why: "Retry" })
      }
      this.enqueue(pending, [index], true)
    } else {
      this.settle(pending, index, Outcome.Lost, lost, workerId, taskId, runner, worker)
    }
  }

  private failChunk(chunk: Chunk, outcome: Outcome, value: unknown): void {
    for (const index of chunk.indices) {
      if (chunk.pending.cancelled) return
      this.settle(chunk.pending, index, outcome, value, -1, -1, undefined, chunk.worker)
    }
  }

  private settle(
    pending: Pending,
    index: number,
    outcome: Outcome,
    value: unknown,
    workerId: number,
    taskId: number,
    runner: string | undefined,
    /** Observers' worker id (`Chunk.worker`), -1 for a task never sent. */
    worker: number
  ): void {
    pending.unsettled--
    this.counts.settled++
    const attempts = pending.attempts[index]!
    if (this.events.active) this.events.settled(pending.id, index, taskId, worker, attempts, outcomeName(outcome), undefined, undefined)
    pending.submission.settle(index, outcome, value, workerId, attempts, taskId, runner)
  }

  /** Rule 2. */
  private cancel(pending: Pending): Promise<void> {
    if (pending.cancelling !== undefined) return pending.cancelling
    pending.cancelled = true
    if (this.events.active) this.events.emit({ _tag: "Cancelled", at: this.events.now(), submission: pending.id })
    // Its queued chunks leave now: skipped by `pump`, they stayed counted in `stats().queued` (and
    // held their payloads) until a slot freed, which a long chunk of another submission may delay.
    let kept = 0
    for (const chunk of this.queue) {
      if (chunk.pending === pending) this.counts.queued -= chunk.indices.length
      else this.queue[kept++] = chunk
    }
    this.queue.length = kept
    if (pending.unsettled === 0 || pending.inFlight.size === 0) {
      pending.cancelling = Promise.resolve()
      return pending.cancelling
    }
    pending.cancelling = new Promise<void>((resolve) => {
      pending.onDrained = resolve
    })
    for (const chunk of pending.inFlight) {
      chunk.dropped = true
      chunk.fiber?.interruptUnsafe()
    }
    return pending.cancelling
  }
}
