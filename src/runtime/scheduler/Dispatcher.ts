/**
 * The caller-side scheduler of a pool: spawns and supervises workers through a backend's
 * `Spawner`, admits and queues submissions, chunks them into messages, dispatches to the least
 * busy worker, and routes every outcome back to its submission. Plain synchronous code: this is
 * the hot path. What it does is published on the pool's `EventHub` while someone listens.
 *
 * Rules:
 * 1. A worker holds at most `pipelineDepth` unanswered messages. A message holds tasks of one
 *    kind: single runs (`coalesce`), up to 256 of them from any callers, or tasks of submissions
 *    with one chunk size, at most that many — `chunkSize: 1` is one task per message. So
 *    in-flight tasks never exceed size × pipelineDepth × max(chunk, 256).
 * 2. A message takes at most its fair share of the queue (queued / ready workers), so a few long
 *    tasks spread over every worker instead of piling onto one. Once a task's cost is known (rule
 *    12), the queue is shared among no more workers than it holds shares of 1/32 of a message's
 *    work (~60 µs on threads, what sending a message costs here): splitting 64 tasks of 1 µs into
 *    two messages cost more than it saved (a `Task.stream` of tiny tasks sent two messages of
 *    32 per chunk, and its caller spent most of its time in `postMessage`).
 * 3. Each dispatched task is in exactly one worker's `inFlight` map until it is settled; it is
 *    settled exactly once — by its result, by the death of its worker (rule 7), by its backstop
 *    timer, or by the pool closing — and every path removes it first.
 * 4. A cancelled submission is never settled again. Its queued tasks are dropped here, its tasks
 *    in workers are cancelled (each worker drops its queued ones before interrupting the running
 *    one), and `cancel()` resolves once none of them is in any worker, terminating workers that do
 *    not answer within `interruptGrace`. Submissions cancelled in one turn of the event loop (the
 *    fibers of a program interrupted together, as by Ctrl-C) are cancelled in one message per
 *    worker: one at a time, interrupting one submission's running task would start another's
 *    queued task whose cancel is still on its way, and a handler that blocks its thread would
 *    then cost its worker.
 * 5. A worker that dies is replaced unless the pool is closing — also one that was ready while the
 *    pool was still starting; replacements that fail to start (their init fails or times out, or
 *    they die before the ready handshake) are retried with backoff, and after `maxRespawnFailures`
 *    in a row the pool is broken: queued and new tasks fail as `Closed`.
 * 6. When one request is all the pool awaits (one task, or one actor call), and its worker's
 *    connection can `poll`, the caller's thread waits for the reply for a moment (the pool's
 *    `replyWait`) before going back to its event loop: a reply that comes within it is taken at
 *    once, and the worker's reply need not wake a sleeping thread. A wait that goes unanswered
 *    makes the next lone requests skip waiting, 1, 2, 4 … 64 of them, so long tasks cost at most
 *    one wait in 64 requests; an answered one resets that. With more than one request in
 *    flight the pool never waits: the thread has other replies to take and workers need the cores.
 * 7. A crash costs only what the dead worker had started. Each worker counts the tasks it has
 *    taken off its queue in memory it shares with the pool (`Connection.tasksTaken`: no message
 *    per task); tasks reach it and are taken in the order they were sent. When it dies, the tasks
 *    sent after the last one it took never started: they go back to the front of the queue, their
 *    attempt not counted (`Requeued`, `NotStarted`). Of those it took, at most one was running; the
 *    others finished, and their results died with the worker unless it flushed them on its way out
 *    (a worker flushes at `process.exit` and on an uncaught error, not when it runs out of memory
 *    or is terminated). Those it took are lost, or re-sent while `attempts` ≤ `retries`. A task
 *    that `maxUnstarted` workers in a row died before taking, each with it next in line and no
 *    task of ours running, is lost: what it carries may be what kills them (a child process dies
 *    reading a payload it cannot read), and re-sent uncounted it would kill workers for good. Every
 *    re-queued task, never started or retried, is sent alone: another worker killer may be among
 *    them, and in a shared message it would take the unsent answers of those ahead of it (tasks of
 *    20 out-of-memory inputs of 1,000 coalesced runs: 900 lost with never-started tasks batched
 *    again, 76-81 alone). After a crash its never-started tasks cost a message each. A backend that
 *    cannot share the count (`tasksTaken` absent) treats every task the worker held as taken.
 * 8. At most `maxQueued` tasks wait in the queue for a worker. A submission that does not fit
 *    either fails at once (`Saturated`, when its `whenFull` is `"fail"`) or waits, first come first
 *    served, and is admitted as room frees, part by part: a map larger than the queue streams in.
 * 9. A message that cannot be sent (`postMessage` cannot clone a payload, or move a buffer) is
 *    taken back whole: its tasks go back to the front of the queue, each to be sent alone
 *    (`Requeued`, `Unsendable`); a task that cannot be sent alone fails with `PayloadInvalid`, the
 *    path found by the codec's `cloneIssue`. Other callers' tasks that shared the message run.
 * 10. A message moves the union of its tasks' buffers (`Submission.transfers`); nothing is moved
 *    when it cannot be sent (rule 9), so a task sent alone again moves its own. A task whose
 *    payload moved went with its message: if its worker dies holding it, it is lost (`Lost`), never
 *    re-queued or retried — its bytes went with the worker.
 * 11. Recycling: a worker is sent at most `maxTasksPerWorker` tasks (a message is cut to what is
 *    left of its quota); one that reached it, or that said its heap passed `recycleAboveHeapMb`
 *    after a task (`[Heap, bytes]`), retires: it takes no more tasks, a replacement starts at once,
 *    and once it has answered every task it holds it is shut down gracefully (its exit hooks run)
 *    and reported `Recycled`. No task of it is lost or sent twice: it answers all it was sent. A
 *    worker that hosts actors is not retired while they live (their state is there, and a worker
 *    kept for them beside its replacement would grow the pool without bound); it retires before
 *    its next task once they are gone.
 * 12. A message of tasks whose chunking is the pool's to choose (single runs, and maps and
 *    `Task.stream` chunks whose caller set no `chunkSize`: `Submission.chunkAuto`) holds about 2 ms
 *    of work (8 on processes: `Connection.messageMillis`) once their task's cost is known, and one
 *    task while it is not: a worker holds at most `pipelineDepth` such messages, so at the end of a
 *    map no worker is left with a backlog while another idles, whatever order the costs come in (a
 *    map whose heavy tasks came first ran at 0.84-0.88x a hand-written one-task-at-a-time pool
 *    with a static chunk of an eighth of it). A task's cost is learned from its answers: the time
 *    its worker was busy, by its own clock (`Connection.busyMicros`: shared memory on threads, the
 *    status file on processes), over the answers it sent meanwhile, for messages of one task name.
 *    A backend that cannot tell keeps the static chunks.
 */
import * as Schema from "effect/Schema"
import type { DispatchedTask, PoolStats } from "../../core/PoolEvent.ts"
import { InvalidOptions, PoolError, PoolErrorReason, WorkerInitFailed } from "../../core/PoolError.ts"
import type { Connection, Spawner, Timers } from "../backends/Backend.ts"
import type { ActorTransport } from "../client/ActorTransport.ts"
import type { PoolClient, Submission, Ticket } from "../client/PoolClient.ts"
import { remoteErrorText } from "../internal/errorText.ts"
import type { EventHub } from "../observe/EventHub.ts"
import { cloneIssue } from "../protocol/codec.ts"
import type { WireMetric } from "../protocol/metricsWire.ts"
import {
  foreignHandle,
  type FromWorker,
  Op,
  Outcome,
  outcomeName,
  pushRun,
  pushRunTraced,
  RunOneTrace,
  spreadTrace,
  SameName,
  SameTrace,
  SpanField,
  Result,
  ResultTimed,
  type ToWorker,
  type WorkerExit
} from "../protocol/protocol.ts"

export interface DispatcherOptions {
  readonly size: number
  readonly initTimeoutMillis: number
  readonly shutdownTimeoutMillis: number
  readonly exitTimeoutMillis: number
  readonly interruptGraceMillis: number
  readonly retries: number
  readonly pipelineDepth: number
  /** Rule 8; `Infinity` for no bound. */
  readonly maxQueued: number
  /** What a submission that does not fit does when it does not say. */
  readonly whenFull: "wait" | "fail"
  /** Rule 11; `Infinity` for never. */
  readonly maxTasksPerWorker?: number | undefined
  /**
   * Each worker has a metric registry of its own (threads, processes): watched metrics are sent
   * from it (`WatchMetrics`). Workers in the caller's thread record into the caller's already.
   */
  readonly workersOwnMetrics?: boolean | undefined
  /**
   * The tasks and actors the pool's group names: a worker whose entry serves not all of them fails
   * to start (`InvalidOptions` at `entry`) rather than failing every call to the others.
   */
  readonly serves?: ReadonlyArray<string> | undefined
  /** The entry's file (or module URL), named when it does not serve the group; none for an entry value. */
  readonly entry?: string | undefined
}

/** Who watches the workers' own metrics, and how often they are sent. */
interface MetricsWatch {
  readonly intervalMillis: number
  /** A worker's latest metrics; `undefined` once it is gone. */
  readonly onMetrics: (workerId: number, metrics: ReadonlyArray<WireMetric> | undefined) => void
}

/** Replacement start-ups that may fail in a row before the pool gives up (rule 5). */
const maxRespawnFailures = 5

/** Workers in a row that may die idle before taking a task, it next in line, before it is lost (rule 7). */
const maxUnstarted = 3

/** A run of single tasks coalesces up to this many per message (rule 1). */
const coalesceLimit = 256

/** Rule 12: the work a message holds once its task's cost is known, unless its worker's connection says otherwise. */
const defaultMessageMillis = 2

/** Rule 12: each task answered weighs the cost learned before it by this: it forgets over ~64 tasks. */
const costMemory = 63 / 64

/** Rule 2: a share of the queue holds at least this part of a message's work (rule 12), once the cost is known. */
const shareOfMessage = 1 / 32

/**
 * Rule 12: what a task of one name costs its worker, learned from its answers: their time over
 * their count, older answers weighing less by the task, and the latest answers' own cost when it
 * is higher (a map whose costs rise mid-way is cut to smaller messages at once; one whose costs
 * fall grows them over the next ~64 tasks).
 */
class TaskCost {
  private millis = 0
  private count = 0
  private latest = 0

  learn(millis: number, count: number): void {
    const keep = costMemory ** count
    this.millis = this.millis * keep + millis
    this.count = this.count * keep + count
    this.latest = millis / count
  }

  /** The tasks a message of `messageMillis` may hold: one until the cost is known. */
  limit(messageMillis: number): number {
    if (this.count === 0) return 1
    const perTask = this.perTask()
    return perTask > 0 ? Math.max(1, Math.floor(messageMillis / perTask)) : Infinity
  }

  /**
   * Rule 2: how many workers `tasks` are worth sharing among, at `shareMillis` of work a share at
   * least; unlimited until the cost is known. By the smoothed cost alone: the latest answers'
   * (`limit`'s guard against rising costs) are often a map's small last message, whose own
   * sending cost, divided among few tasks, made a µs task read as 15 µs.
   */
  shares(tasks: number, shareMillis: number): number {
    if (this.count === 0) return Infinity
    return Math.max(1, Math.floor((tasks * this.millis) / this.count / shareMillis))
  }

  private perTask(): number {
    return Math.max(this.millis / this.count, this.latest)
  }
}

/** A submission in the pool, and its caller's ticket: one object per submission (a single run is one). */
class Pending implements Ticket {
  /** The next task to send; tasks before `admitted` are in the queue (rule 8). */
  next = 0
  admitted = 0
  inFlight = 0
  cancelled = false
  /** Set by the first `cancel()`; later calls wait for the same drain. */
  cancelling: Promise<void> | undefined = undefined
  onDrained: (() => void) | undefined = undefined
  readonly id: number
  readonly submission: Submission
  private readonly pool: Dispatcher
  constructor(id: number, submission: Submission, pool: Dispatcher) {
    this.id = id
    this.submission = submission
    this.pool = pool
  }
  cancel(): Promise<void> {
    return this.pool.cancelSubmission(this)
  }
}

interface Message {
  remaining: number
  /** Rule 10: the buffers its tasks move, until it is sent. */
  transfer: Array<ArrayBuffer> | undefined
  /** Rule 12: the cost its answers teach, when its tasks are of one name. */
  cost: TaskCost | undefined
}

interface InFlight {
  readonly pending: Pending
  readonly index: number
  readonly attempts: number
  /** Rule 7: workers in a row that died idle before taking it, it next in line. */
  readonly unstarted: number
  readonly message: Message
  /** Its position among the tasks sent to its worker (rule 7). */
  readonly seq: number
  readonly taskId: number
  backstop: unknown
}

/** A task back in the queue after its worker died or its message could not be sent: sent alone (rules 7 and 9). */
interface Requeued {
  readonly pending: Pending
  readonly index: number
  readonly attempts: number
  readonly unstarted?: number | undefined
}

interface Slot {
  readonly id: number
  readonly connection: Connection
  /** `retiring`: takes no more tasks, shut down once it has answered those it holds (rule 11). */
  state: "starting" | "ready" | "retiring" | "closing" | "dead"
  readonly inFlight: Map<number, InFlight>
  outstanding: number
  /** Tasks sent to it so far (rule 7). */
  sent: number
  /** The init deadline while starting, the shutdown deadline while closing. */
  timer: unknown
  /** Rule 11: why it is to be recycled, once it may be (it hosts no actor). */
  recycle: string | undefined
  /** Rule 11: it retired, and its replacement was started then. */
  replaced: boolean
  /** Rule 11: the retired worker it replaces, whose unanswered messages count as its own. */
  predecessor: Slot | undefined
  /** Rule 12: the worker's busy µs as last read (`Connection.busyMicros`). */
  busyRead: number
}

/** What the pool's actor host hears about workers (actors live on a given worker). */
export interface WorkerListener {
  /** A message that is not about tasks (actor traffic). */
  readonly onMessage: (workerId: number, message: FromWorker) => void
  readonly onReady: (workerId: number) => void
  /** After the worker's tasks were settled or re-queued. */
  readonly onExit: (workerId: number, exit: WorkerExit) => void
  /** The pool is closing: what waits for a worker (no exit will speak for it) must end now. */
  readonly onClose: () => void
  /** The pool is broken (rule 5): no worker will start any more. */
  readonly onBroken: () => void
  /** Actor calls sent and not yet answered (rule 6). */
  readonly pendingCalls: () => number
  /** Whether an actor lives (or is being built) on the worker: it is not recycled then (rule 11). */
  readonly hostsActors: (workerId: number) => boolean
  /** Spans a traced actor call made (`callId`), before its reply. */
  readonly onSpans: (workerId: number, callId: number, fields: ReadonlyArray<unknown>, at: number, count: number) => void
}

export interface DispatcherStats extends PoolStats {
  /** Submissions the queue still references (their payloads stay alive while it does). */
  readonly queuedSubmissions: number
  /** Rule 6: lone requests whose reply was waited for, and how many of those it came within the wait. */
  readonly replyWaits: number
  readonly replyWaitsAnswered: number
}

export class Dispatcher implements PoolClient {
  /** Its workers run fused chains (`WorkerRuntime` resolves their names). */
  readonly fuses = true
  readonly size: number
  readonly events: EventHub
  private readonly spawner: Spawner
  private readonly options: DispatcherOptions
  private readonly timers: Timers
  private slots: Array<Slot> = []
  /** Submissions with tasks to send, in arrival order; those waiting for admission at the end (rule 8). */
  private queue: Array<Pending | undefined> = []
  private queueHead = 0
  /** Submissions not yet fully admitted, in arrival order (rule 8). */
  private waiting: Array<Pending> = []
  private waitingCount = 0
  private requeued: Array<Requeued> = []
  /** Rule 4: task ids to cancel per worker, sent together once this turn's work is done. */
  private cancels = new Map<Slot, Array<number>>()
  /** Admitted tasks not yet sent, requeued ones included. */
  private queuedCount = 0
  private nextTaskId = 0
  private nextSubmissionId = 0
  private nextWorkerId = 0
  private closed = false
  /** True once the first `size` workers were ready: from then on, dead workers are replaced. */
  private running = false
  private broken: string | undefined
  private respawnFailures = 0
  private respawnTimers = new Set<unknown>()
  private readonly maxTasksPerWorker: number
  private recycledCount = 0
  /** Replacements of dead workers started (a recycled worker's replacement is not one). */
  private restartedCount = 0
  private onStarted: ((error?: PoolError) => void) | undefined
  private onAllExited: (() => void) | undefined
  private inFlightTotal = 0
  private maxInFlightSeen = 0
  private settledCount = 0
  private peakQueued = 0
  private listener: WorkerListener | undefined
  /** Rule 6's state: lone requests still to skip, the current skip run, whether a wait is queued. */
  private replyWaitSkip = 0
  private replyWaitBackoff = 0
  private replyWaitQueued = false
  private replyWaits = 0
  private replyWaitsAnswered = 0
  /** A traced call was submitted once: from then on messages carry trace contexts (protocol `RunTraced`). */
  private traced = false
  /** Observers of the workers' own metrics; workers send at the shortest of their intervals. */
  private metricsWatches: ReadonlyArray<MetricsWatch> = []
  /**
   * The trace context and task name of the last task added to the message being built (null: none
   * yet), and whether its tasks are of several contexts (`RunTraced`, else `RunOneTrace`).
   */
  private messageTrace: string | undefined | null = null
  private messageTraces = false
  private messageTaskName: string | null = null
  private messageNames = false
  /** Rule 12, by task name. */
  private readonly costs = new Map<string, TaskCost>()
  /** The pool's actor host, when its group has actors. */
  actors: ActorTransport | undefined = undefined

  constructor(spawner: Spawner, timers: Timers, options: DispatcherOptions, events: EventHub) {
    this.spawner = spawner
    this.options = options
    this.timers = timers
    this.events = events
    this.size = options.size
    this.maxTasksPerWorker = options.maxTasksPerWorker ?? Infinity
  }

  /** Starts `size` workers and resolves when all are ready; rejects with the first init failure. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.onStarted = (error) => {
        if (error !== undefined) {
          this.onStarted = undefined
          reject(error)
        } else if (this.readyCount() === this.size) {
          // Counted, not tallied: a worker that got ready and then died (it is replaced, rule 5)
          // must not count towards a full pool.
          this.onStarted = undefined
          this.running = true
          resolve()
        }
      }
      for (let i = 0; i < this.size; i++) this.spawn()
    })
  }

  submit(submission: Submission): Ticket {
    const count = submission.payloads.length
    const pending = new Pending(this.nextSubmissionId++, submission, this)
    const events = this.events
    if (events.active) {
      events.emit({
        _tag: "Submitted",
        at: events.now(),
        submission: pending.id,
        taskName: submission.taskName,
        count,
        chunkSize: submission.coalesce ? 1 : submission.chunkSize,
        payloads: submission.payloads
      })
    }
    if (submission.trace !== undefined) this.traced = true
    if (this.closed || this.broken !== undefined) {
      // Settled at once, it never queues or waits: a later `cancel()` (a map failing fast) must
      // find nothing of it to take off the counts (rule 8).
      pending.next = pending.admitted = count
      const reason = this.broken ?? "the pool is closed"
      for (let i = 0; i < count; i++) this.settleIndex(pending, i, Outcome.Closed, reason, -1, 0, -1)
      return pending
    }
    // Rule 8: room for all of it now, or wait (first come, first served), or fail.
    const room = this.waiting.length > 0 ? 0 : this.options.maxQueued - this.queuedCount
    if (count > room && (submission.whenFull ?? this.options.whenFull) === "fail") {
      pending.next = pending.admitted = count
      for (let i = 0; i < count; i++) {
        this.settleIndex(pending, i, Outcome.Saturated, this.options.maxQueued, -1, 0, -1)
      }
      return pending
    }
    this.queue.push(pending)
    if (count <= room) {
      pending.admitted = count
      this.queuedCount += count
    } else {
      this.waiting.push(pending)
      this.waitingCount += count
      this.admit()
    }
    this.pump()
    return pending
  }

  /** Attaches the actor host; one per pool. */
  listen(listener: WorkerListener): void {
    this.listener = listener
  }

  /** A fresh id from the space task ids come from, so a `Cancel` names one thing only. */
  nextId(): number {
    return this.nextTaskId++
  }

  /** Ready workers' ids, oldest first. */
  readyWorkers(): Array<number> {
    const ids: Array<number> = []
    for (const slot of this.slots) if (slot.state === "ready") ids.push(slot.id)
    return ids
  }

  /**
   * Sends to one worker; false if it is not ready or retiring (gone, starting or closing). Throws when the
   * message cannot be sent (its caller's values cannot be cloned).
   */
  sendTo(workerId: number, message: ToWorker, transfer?: ReadonlyArray<ArrayBuffer>): boolean {
    for (const slot of this.slots) {
      if (slot.id !== workerId) continue
      // A retiring worker hosts no actor when it retires, but may still answer a late stop or ask.
      if (slot.state !== "ready" && slot.state !== "retiring") return false
      slot.connection.send(message, transfer)
      return true
    }
    return false
  }

  /**
   * Rule 6: after a request to `workerId` was sent, waits a moment for its reply if it is the one
   * thing the pool awaits. The wait runs once the current synchronous work is done (a microtask),
   * so the sender has finished registering for the reply and may still send more (then it skips).
   */
  awaitReply(workerId: number): void {
    const slot = this.slots.find((s) => s.id === workerId)
    if (slot !== undefined) this.awaitReplyFrom(slot)
  }

  private awaitReplyFrom(slot: Slot): void {
    if (this.replyWaitQueued || slot.connection.poll === undefined) return
    if (this.replyWaitSkip > 0) {
      this.replyWaitSkip--
      return
    }
    this.replyWaitQueued = true
    queueMicrotask(() => {
      this.replyWaitQueued = false
      if (slot.state !== "ready" || this.inFlightTotal + (this.listener?.pendingCalls() ?? 0) !== 1) return
      this.replyWaits++
      if (slot.connection.poll!()) {
        this.replyWaitsAnswered++
        this.replyWaitBackoff = 0
      } else {
        this.replyWaitBackoff = Math.min(64, Math.max(1, this.replyWaitBackoff * 2))
        this.replyWaitSkip = this.replyWaitBackoff
      }
    })
  }

  /**
   * Has every worker send what its own metric registry holds every `intervalMillis` (and as it
   * shuts down) to `onMetrics`, until the returned function is called. Observers may overlap (two
   * registries): each gets every worker's metrics, sent at the shortest interval asked. Nothing on
   * backends whose workers record into the caller's registry.
   */
  watchWorkerMetrics(
    intervalMillis: number,
    onMetrics: (workerId: number, metrics: ReadonlyArray<WireMetric> | undefined) => void
  ): () => void {
    if (this.options.workersOwnMetrics !== true) return () => {}
    const watch: MetricsWatch = { intervalMillis, onMetrics }
    this.metricsWatches = [...this.metricsWatches, watch]
    this.sendWatches()
    return () => {
      if (!this.metricsWatches.includes(watch)) return
      this.metricsWatches = this.metricsWatches.filter((w) => w !== watch)
      this.sendWatches()
    }
  }

  /** The interval workers send their metrics at: the shortest asked, 0 (stop) with no observer. */
  private metricsInterval(): number {
    return this.metricsWatches.reduce((least, w) => least === 0 ? w.intervalMillis : Math.min(least, w.intervalMillis), 0)
  }

  private sendWatches(): void {
    const interval = this.metricsInterval()
    for (const slot of this.slots) if (slot.state === "ready") this.sendWatch(slot, interval)
  }

  private onWorkerMetrics(workerId: number, metrics: ReadonlyArray<WireMetric> | undefined): void {
    for (const watch of this.metricsWatches) watch.onMetrics(workerId, metrics)
  }

  private sendWatch(slot: Slot, intervalMillis: number): void {
    try {
      slot.connection.send([Op.WatchMetrics, intervalMillis])
    } catch {
      // A worker that cannot be written to is on its way out; its exit says so.
    }
  }

  /** Each live worker's event-loop times, for backends that report them (observers read it, never the scheduler). */
  eventLoops(): Array<{ readonly workerId: number; readonly idle: number; readonly active: number }> {
    const loops: Array<{ readonly workerId: number; readonly idle: number; readonly active: number }> = []
    for (const slot of this.slots) {
      const loop = slot.state === "dead" ? undefined : slot.connection.eventLoop?.()
      if (loop !== undefined) loops.push({ workerId: slot.id, idle: loop.idle, active: loop.active })
    }
    return loops
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** How long an interrupted handler may take to stop before its worker is terminated (rule 4). */
  get interruptGraceMillis(): number {
    return this.options.interruptGraceMillis
  }

  /** How long a worker's exit hooks may run; an actor's stop allows its finalizers as much. */
  get exitTimeoutMillis(): number {
    return this.options.exitTimeoutMillis
  }

  /** Rule 4 for an actor call whose method ignored its cancel: the worker's exit settles what it held. */
  terminateWorker(workerId: number): void {
    const slot = this.slots.find((s) => s.id === workerId)
    if (slot !== undefined) this.terminate(slot)
  }

  /** Why the pool is broken (rule 5), if it is: no worker will start any more. */
  get brokenReason(): string | undefined {
    return this.broken
  }

  /** Workers holding a task: read from the slots, where a cancelled task stays until its worker answers it. */
  private busyCount(): number {
    let busy = 0
    for (const slot of this.slots) if (slot.inFlight.size > 0) busy++
    return busy
  }

  stats(): DispatcherStats {
    return {
      workers: this.slots.length,
      readyWorkers: this.readyCount(),
      queued: this.queuedCount,
      peakQueued: this.peakQueued,
      waiting: this.waitingCount,
      inFlight: this.inFlightTotal,
      maxInFlight: this.maxInFlightSeen,
      busyWorkers: this.busyCount(),
      workersStarted: this.nextWorkerId,
      workersRestarted: this.restartedCount,
      submitted: this.nextSubmissionId,
      settled: this.settledCount,
      recycled: this.recycledCount,
      queuedSubmissions: this.queue.length - this.queueHead,
      replyWaits: this.replyWaits,
      replyWaitsAnswered: this.replyWaitsAnswered
    }
  }

  /**
   * Closes the pool: queued tasks fail as `Closed`, workers are asked to shut down (their exit
   * hooks run) and terminated if still alive after `shutdownTimeout`. Resolves when every worker
   * exited.
   */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.closed = true
    for (const timer of this.respawnTimers) this.timers.clear(timer)
    this.respawnTimers.clear()
    this.failQueued("the pool is closed")
    this.listener?.onClose()
    if (this.slots.length === 0) return Promise.resolve()
    return new Promise((resolve) => {
      this.onAllExited = resolve
      for (const slot of this.slots) this.shutdownSlot(slot)
    })
  }

  // -------------------------------------------------------------------------------------------
  // Workers
  // -------------------------------------------------------------------------------------------

  private spawn(predecessor?: Slot): void {
    const id = this.nextWorkerId++
    const events = this.events
    if (events.active) events.emit({ _tag: "WorkerStarting", at: events.now(), workerId: id, replacement: id >= this.size })
    let slot: Slot | undefined
    const connection = this.spawner.spawn(id, {
      onMessage: (message) => this.receive(slot!, message),
      onExit: (exit) => this.exited(slot!, exit)
    })
    slot = {
      id,
      connection,
      state: "starting",
      inFlight: new Map(),
      outstanding: 0,
      sent: 0,
      timer: undefined,
      recycle: undefined,
      replaced: false,
      predecessor: undefined,
      busyRead: 0
    }
    slot.timer = this.timers.set(this.options.initTimeoutMillis, () => {
      if (slot.state !== "starting") return
      this.initFailed(slot, "Timeout", `worker ${id} did not become ready within ${this.options.initTimeoutMillis} ms`)
    })
    slot.predecessor = predecessor
    this.slots.push(slot)
  }

  private receive(slot: Slot, message: FromWorker): void {
    switch (message[0]) {
      case Op.Results:
        return this.settleResults(slot, message, undefined)
      case Op.ResultsTimed:
        return this.settleResults(slot, message, message[ResultTimed.times] as Float64Array)
      case Op.Started:
        return this.armBackstop(slot, message[1] as number)
      case Op.Spans:
        return this.receiveSpans(slot, message)
      case Op.Metrics:
        return this.onWorkerMetrics(slot.id, message[1])
      case Op.Ready: {
        if (slot.state !== "starting") return
        const wrongEntry = this.unserved(message[2])
        if (wrongEntry !== undefined) return this.initFailed(slot, "Failed", wrongEntry.message, Schema.encodeSync(PoolErrorReason)(wrongEntry))
        this.timers.clear(slot.timer)
        slot.state = "ready"
        this.respawnFailures = 0
        const events = this.events
        if (events.active) {
          events.emit({ _tag: "WorkerReady", at: events.now(), workerId: slot.id, initStartedAt: message[1] })
        }
        if (this.metricsWatches.length > 0) this.sendWatch(slot, this.metricsInterval())
        this.onStarted?.()
        this.pump()
        return this.listener?.onReady(slot.id)
      }
      case Op.InitFailed:
        return this.initFailed(slot, "Failed", remoteErrorText(message[1]), message[2])
      case Op.Heap:
        if (slot.state === "ready" && slot.recycle === undefined) {
          slot.recycle = `its heap (${Math.round(message[1] / 1_048_576)} MB used) passed the pool's threshold`
          this.retireIfIdleOfActors(slot)
          this.pump()
        }
        return
      default:
        if (this.listener === undefined && message[0] === Op.Ask) {
          // No actor lives in this pool: the handle is another pool's. Unanswered, its caller waited for good.
          return slot.connection.send([Op.Answer, message[1], Outcome.Defect, foreignHandle(message[3], message[2])])
        }
        if (this.listener === undefined && message[0] === Op.AskStop) {
          return slot.connection.send([Op.Answer, message[1], Outcome.Defect, foreignHandle(`${message[3]}.stop`, message[2])])
        }
        this.listener?.onMessage(slot.id, message)
        // An actor on it stopped, or its spawn failed: a worker due for recycling may go now.
        if (slot.recycle !== undefined) {
          if (slot.state === "ready") this.retireIfIdleOfActors(slot)
          else if (slot.state === "retiring") this.closeIfRetired(slot)
        }
        return
    }
  }

  /** What the pool's group names that a worker's entry does not serve (`served`, from its `Ready`), as the reason it is refused. */
  private unserved(served: ReadonlyArray<string> | undefined): InvalidOptions | undefined {
    const serves = this.options.serves
    if (served === undefined || serves === undefined) return undefined
    const missing = serves.filter((name) => !served.includes(name))
    if (missing.length === 0) return undefined
    return new InvalidOptions({
      path: ["entry"],
      message: `the worker entry${this.options.entry === undefined ? "" : ` ${this.options.entry}`} does not serve ` +
        `${missing.join(", ")} of the pool's group (it serves ${served.join(", ") || "nothing"}): is it the entry of another group?`
    })
  }

  private initFailed(
    slot: Slot,
    failure: "Failed" | "Timeout",
    text: string,
    reason?: typeof PoolErrorReason.Encoded
  ): void {
    if (slot.state !== "starting") return
    this.timers.clear(slot.timer)
    const events = this.events
    if (events.active) events.emit({ _tag: "WorkerInitFailed", at: events.now(), workerId: slot.id, message: text })
    slot.state = "dead"
    slot.connection.terminate()
    if (!this.running) {
      this.onStarted?.(
        reason === undefined
          ? initError(slot.id, failure, text)
          : new PoolError({ reason: Schema.decodeUnknownSync(PoolErrorReason)(reason) })
      )
      return
    }
    this.replacementFailed(text)
  }

  /** Rule 5: counts a replacement that did not start; the last one allowed breaks the pool. */
  private replacementFailed(text: string): void {
    if (++this.respawnFailures >= maxRespawnFailures) {
      this.broken = `the pool is broken: no replacement worker could be started: ${text}`
      this.failQueued(this.broken)
      this.listener?.onBroken()
    }
  }

  /** Rules 3 and 7: a dead worker's tasks are re-queued or lost; rule 5: it is replaced. */
  private exited(slot: Slot, exit: WorkerExit): void {
    const wasStarting = slot.state === "starting"
    // Rule 11: its replacement started when it retired; a graceful end is its recycling.
    const retired = slot.replaced
    // Graceful: it exited cleanly after the pool asked it to (`shutdownSlot`). A retiring worker
    // that dies before (a `process.exit(1)` in its last task) crashed, and ran no exit hook.
    const asked = slot.state === "closing"
    this.timers.clear(slot.timer)
    slot.state = "dead"
    this.slots = this.slots.filter((s) => s !== slot)
    this.onWorkerMetrics(slot.id, undefined)
    const taken = slot.connection.tasksTaken?.() ?? slot.sent
    const lost: WorkerExit = { ...exit, message: `worker ${slot.id} ${exit.message}` }
    const held = [...slot.inFlight.values()].sort((a, b) => a.seq - b.seq)
    slot.inFlight.clear()
    const notStarted: Array<Requeued> = []
    // Rule 7: with none of the tasks it took unanswered, it died between tasks — or reading the next.
    const idle = held.every((entry) => entry.seq >= taken)
    const events = this.events
    for (const entry of held) {
      this.timers.clear(entry.backstop)
      this.removeInFlight(entry)
      if (entry.pending.cancelled) continue
      const open = !this.closed && this.broken === undefined
      if (open && entry.pending.submission.transfers?.[entry.index] !== undefined) {
        // Rule 10: its moved payload went with the worker; there is nothing left to send again.
        this.settleEntry(entry, Outcome.Lost, {
          kind: lost.kind,
          message: `${lost.message}, with the task's moved payload`
        } satisfies WorkerExit, slot.id)
      } else if (open && idle && entry.seq === taken && entry.unstarted + 1 >= maxUnstarted) {
        this.settleEntry(entry, Outcome.Lost, {
          kind: lost.kind,
          message: `${lost.message}; ${maxUnstarted} workers in a row died before taking this task, ` +
            `it next in line: what it carries may be what kills them`
        } satisfies WorkerExit, slot.id)
      } else if (open && entry.seq >= taken) {
        notStarted.push({
          pending: entry.pending,
          index: entry.index,
          attempts: entry.attempts - 1,
          unstarted: idle && entry.seq === taken ? entry.unstarted + 1 : 0
        })
        if (events.active) this.emitRequeued(entry, "NotStarted")
      } else if (open && entry.attempts <= this.options.retries) {
        this.requeued.push({ pending: entry.pending, index: entry.index, attempts: entry.attempts })
        this.queuedCount++
        if (events.active) this.emitRequeued(entry, "Retry")
      } else if (open) {
        this.settleEntry(entry, Outcome.Lost, lost, slot.id)
      } else {
        this.settleEntry(entry, Outcome.Closed, this.broken ?? `the pool closed: ${lost.message}`, slot.id)
      }
    }
    if (notStarted.length > 0) {
      // Rule 7: they were sent before anything still queued, so they go first.
      this.requeued = [...notStarted, ...this.requeued]
      this.queuedCount += notStarted.length
    }
    const recycled = retired && asked && exit.kind === "Exited" && (exit.exitCode ?? 0) === 0
    if (recycled) this.recycledCount++
    if (events.active) {
      events.emit({
        _tag: "WorkerExited",
        at: events.now(),
        workerId: slot.id,
        exit: recycled ? "Recycled" : exit.kind,
        message: recycled ? `recycled: ${slot.recycle!}` : exit.message
      })
    }
    // Dying before the ready handshake is failing to start, as much as a failed init is.
    const starting = this.onStarted
    if (wasStarting && !this.running) starting?.(initError(slot.id, "Failed", exit.message))
    else if (wasStarting) this.replacementFailed(`worker ${slot.id} ${exit.message}`)
    this.listener?.onExit(slot.id, exit)
    if (this.closed) {
      if (this.slots.length === 0) this.onAllExited?.()
      return
    }
    // Replaced — also a worker that was ready while the others were still starting: the pool
    // must not start short. Not when the start itself failed: the pool is being closed.
    const startPending = !this.running && !wasStarting && starting !== undefined
    // A replacement of a recycling replacement shares the pipeline of the worker still retiring
    // (rule 11): it inherits the dead one's predecessors, else both would be sent a full pipeline.
    if ((this.running || startPending) && this.broken === undefined && !retired) this.respawn(slot.predecessor)
    this.pump()
  }

  private emitRequeued(entry: InFlight, why: "NotStarted" | "Retry" | "Unsendable"): void {
    this.events.emit({
      _tag: "Requeued",
      at: this.events.now(),
      taskId: entry.taskId,
      submission: entry.pending.id,
      index: entry.index,
      why
    })
  }

  private respawn(predecessor: Slot | undefined): void {
    const delay = this.respawnFailures === 0 ? 0 : Math.min(5_000, 100 * 2 ** (this.respawnFailures - 1))
    if (delay === 0) {
      this.restartedCount++
      return this.spawn(predecessor)
    }
    const timer = this.timers.set(delay, () => {
      this.respawnTimers.delete(timer)
      if (this.closed) return
      this.restartedCount++
      this.spawn(predecessor)
    })
    this.respawnTimers.add(timer)
  }

  /** Rule 11: stops sending to `slot` unless it hosts actors; its replacement starts now. */
  private retireIfIdleOfActors(slot: Slot): void {
    if (this.closed || this.listener?.hostsActors(slot.id) === true) return
    slot.state = "retiring"
    slot.replaced = this.broken === undefined
    if (slot.replaced) this.spawn(slot)
    this.closeIfRetired(slot)
  }

  /** Rule 11: a retiring worker that has answered everything is shut down gracefully. */
  private closeIfRetired(slot: Slot): void {
    if (slot.state === "retiring" && slot.inFlight.size === 0) this.shutdownSlot(slot)
  }

  private shutdownSlot(slot: Slot): void {
    if (slot.state === "dead" || slot.state === "closing") return
    const starting = slot.state === "starting"
    slot.state = "closing"
    this.timers.clear(slot.timer)
    if (starting) return slot.connection.terminate()
    slot.connection.send([Op.Shutdown, this.options.exitTimeoutMillis])
    if (this.events.active) this.events.emit({ _tag: "WorkerStopping", at: this.events.now(), workerId: slot.id })
    const timer = this.timers.set(this.options.shutdownTimeoutMillis, () => {
      if (slot.state !== "dead") slot.connection.terminate()
    })
    slot.timer = timer
  }

  private terminate(slot: Slot): void {
    if (slot.state === "dead") return
    slot.state = "closing"
    slot.connection.terminate()
  }

  // -------------------------------------------------------------------------------------------
  // Admission and dispatch
  // -------------------------------------------------------------------------------------------

  /** Rule 8: admits waiting submissions, in order, as far as the queue has room. */
  private admit(): void {
    while (this.waiting.length > 0) {
      const pending = this.waiting[0]!
      const room = this.options.maxQueued - this.queuedCount
      if (room <= 0) return
      if (pending.cancelled) {
        this.waiting.shift()
        continue
      }
      const take = Math.min(room, pending.submission.payloads.length - pending.admitted)
      pending.admitted += take
      this.queuedCount += take
      this.waitingCount -= take
      if (this.queuedCount > this.peakQueued) this.peakQueued = this.queuedCount
      if (pending.admitted < pending.submission.payloads.length) return
      this.waiting.shift()
    }
  }

  /** Sends queued tasks to workers with room (rules 1, 2 and 8). */
  private pump(): void {
    if (this.queuedCount > this.peakQueued) this.peakQueued = this.queuedCount
    while (this.queuedCount > 0) {
      const slot = this.leastBusy()
      if (slot === undefined) break
      const left = this.quotaLeft(slot)
      if (left === 0) {
        // Rule 11: it reached its quota while it hosted actors; they are gone now (or it retires later).
        slot.recycle ??= `after ${slot.sent} tasks`
        this.retireIfIdleOfActors(slot)
        if (slot.state !== "retiring") break
        continue
      }
      let shares = this.readyCount()
      let limit: number
      if (this.requeued.length > 0) {
        limit = 1
      } else {
        const head = this.headPending()
        if (head === undefined) break
        const submission = head.submission
        limit = chunkLimit(submission)
        if ((submission.coalesce || submission.chunkAuto === true) && slot.connection.busyMicros !== undefined) {
          const cost = this.costOf(submission.taskName)
          const messageMillis = slot.connection.messageMillis ?? defaultMessageMillis
          limit = Math.min(limit, cost.limit(messageMillis))
          shares = Math.min(shares, cost.shares(this.queuedCount, messageMillis * shareOfMessage))
        }
      }
      this.dispatch(slot, Math.max(1, Math.min(limit, Math.ceil(this.queuedCount / shares), left)))
      if (this.waiting.length > 0) this.admit()
    }
    // Nothing left to send: let go of every submission the queue still points at. Their payloads
    // (a 72 MB image each, say) must not live on until 1,024 more submissions have gone by.
    if (this.queuedCount === 0 && this.waiting.length === 0 && this.queue.length > 0) {
      this.queue = []
      this.queueHead = 0
    }
  }

  private leastBusy(): Slot | undefined {
    let best: Slot | undefined
    let bestLoad = 0
    for (const slot of this.slots) {
      if (slot.state !== "ready") continue
      const load = this.load(slot)
      if (load >= this.options.pipelineDepth) continue
      if (
        best === undefined || load < bestLoad ||
        (load === bestLoad && slot.inFlight.size < best.inFlight.size)
      ) {
        best = slot
        bestLoad = load
      }
    }
    return best
  }

  /**
   * Unanswered messages of `slot`, and (rule 11) of the retired workers it replaces that still
   * answer theirs: a replacement and its predecessors share one worker's pipeline, so recycling
   * never raises the bound of rule 1.
   */
  private load(slot: Slot): number {
    let load = slot.outstanding
    let link = slot
    while (link.predecessor !== undefined) {
      const before = link.predecessor
      if (before.state === "dead") {
        // Gone: unlinked, so a long run of recycling keeps no chain of dead workers.
        link.predecessor = before.predecessor
        continue
      }
      load += before.outstanding
      link = before
    }
    return load
  }

  /**
   * Rule 11: tasks `slot` may still be sent; 0 once its quota is used up, or when a heap report
   * asked for its recycling; `Infinity` while it hosts actors or without a quota.
   */
  private quotaLeft(slot: Slot): number {
    const left = slot.recycle !== undefined ? 0 : this.maxTasksPerWorker - slot.sent
    if (left > 0) return left
    return this.listener?.hostsActors(slot.id) === true ? Infinity : 0
  }

  private readyCount(): number {
    let count = 0
    for (const slot of this.slots) if (slot.state === "ready") count++
    return count
  }

  /** The first submission with admitted tasks to send (rule 8 admits in order, so none after it waits less). */
  private headPending(): Pending | undefined {
    while (this.queueHead < this.queue.length) {
      const pending = this.queue[this.queueHead]!
      if (!pending.cancelled && pending.next < pending.admitted) {
        // Under steady traffic the queue never empties: drop the finished prefix now and then.
        if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.queueHead)
          this.queueHead = 0
        }
        return pending
      }
      if (!pending.cancelled && pending.admitted < pending.submission.payloads.length) return undefined
      // Every task of it is sent (or it was cancelled): let go of it now, not when the prefix is
      // dropped. Its submission reaches its caller's settle callback, and through it a single
      // run's finished fiber: 100,000 concurrent runs kept up to half of theirs alive.
      this.queue[this.queueHead++] = undefined
    }
    return undefined
  }

  private dispatch(slot: Slot, take: number): void {
    const timed = this.events.timings
    const traced = this.traced
    // A traced pool's message names one trace context in its header until a task of another joins it.
    const fields: Array<unknown> = traced ? [Op.RunOneTrace, undefined] : [timed ? Op.RunTimed : Op.Run]
    const message: Message = { remaining: 0, transfer: undefined, cost: undefined }
    const entries: Array<InFlight> = []
    this.messageTrace = null
    this.messageTraces = false
    this.messageTaskName = null
    this.messageNames = false
    // Rules 7 and 9: a task back from a dead worker or an unsendable message goes first, alone.
    while (entries.length === 0 && this.requeued.length > 0) {
      const retry = this.requeued.shift()!
      this.queuedCount--
      if (retry.pending.cancelled) continue
      this.addTask(slot, message, fields, entries, retry.pending, retry.index, retry.attempts + 1, retry.unstarted)
    }
    // Rule 1: single runs coalesce with each other; a map's chunk stays whole and apart.
    let kind: number | undefined
    while (entries.length === 0 || (kind !== undefined && entries.length < take)) {
      const pending = this.headPending()
      if (pending === undefined) break
      const { submission } = pending
      const pendingKind = kindOf(submission)
      if (kind !== undefined && pendingKind !== kind) break
      kind = pendingKind
      const limit = Math.min(take, entries.length + pending.admitted - pending.next)
      while (entries.length < limit) {
        this.queuedCount--
        this.addTask(slot, message, fields, entries, pending, pending.next++, 1)
      }
    }
    if (entries.length === 0) return
    if (traced) {
      if (this.messageTraces) fields[0] = timed ? Op.RunTimedTraced : Op.RunTraced
      else {
        fields[0] = timed ? Op.RunTimedOneTrace : Op.RunOneTrace
        fields[RunOneTrace.trace] = this.messageTrace
      }
    }
    const transfer = message.transfer
    message.transfer = undefined
    try {
      slot.connection.send(fields as unknown as ToWorker, transfer)
    } catch (error) {
      return this.unsendable(entries, error)
    }
    if (!this.messageNames && slot.connection.busyMicros !== undefined) message.cost = this.costOf(this.messageTaskName!)
    slot.sent += entries.length
    slot.outstanding++
    for (const entry of entries) slot.inFlight.set(entry.taskId, entry)
    if (slot.sent >= this.maxTasksPerWorker && slot.recycle === undefined) {
      slot.recycle = `after ${slot.sent} tasks`
      this.retireIfIdleOfActors(slot)
    }
    if (this.inFlightTotal > this.maxInFlightSeen) this.maxInFlightSeen = this.inFlightTotal
    const events = this.events
    if (events.active) {
      events.dispatched(slot.id, entries.length, (): Array<DispatchedTask> =>
        entries.map((entry) => ({
          taskId: entry.taskId,
          submission: entry.pending.id,
          index: entry.index,
          attempt: entry.attempts
        })))
    }
    if (this.inFlightTotal === 1) this.awaitReplyFrom(slot)
  }

  private addTask(
    slot: Slot,
    message: Message,
    fields: Array<unknown>,
    entries: Array<InFlight>,
    pending: Pending,
    index: number,
    attempts: number,
    unstarted = 0
  ): void {
    const taskId = this.nextTaskId++
    const { submission } = pending
    const sameName = submission.taskName === this.messageTaskName
    if (!sameName && this.messageTaskName !== null) this.messageNames = true
    const name = sameName ? SameName : submission.taskName
    this.messageTaskName = submission.taskName
    const wire = this.traced ? submission.trace?.wire : undefined
    if (!this.messageTraces && this.messageTrace !== null && wire !== this.messageTrace) {
      // A task of another context joins the message: from here on it carries one a task.
      spreadTrace(fields, this.messageTrace)
      this.messageTraces = true
    }
    if (this.messageTraces) {
      pushRunTraced(fields, taskId, name, submission.payloads[index], submission.timeoutMillis, wire === this.messageTrace ? SameTrace : wire)
    } else {
      pushRun(fields, taskId, name, submission.payloads[index], submission.timeoutMillis)
    }
    this.messageTrace = wire
    const moved = submission.transfers?.[index]
    if (moved !== undefined) {
      // Rule 10. A buffer in two tasks' lists makes the message unsendable (rule 9): sent alone,
      // the first moves it and the second finds it gone, failing alone.
      message.transfer ??= []
      for (const buffer of moved) message.transfer.push(buffer)
    }
    entries.push({ pending, index, attempts, unstarted, message, seq: slot.sent + entries.length, taskId, backstop: undefined })
    message.remaining++
    pending.inFlight++
    this.inFlightTotal++
  }

  /** Rule 9: the message could not be sent; nothing of it reached the worker. */
  private unsendable(entries: ReadonlyArray<InFlight>, error: unknown): void {
    for (const entry of entries) this.removeInFlight(entry)
    if (entries.length === 1) {
      const entry = entries[0]!
      if (!entry.pending.cancelled) {
        // Nothing reached a worker: no worker, and this attempt does not count.
        const issue = cloneIssue(entry.pending.submission.payloads[entry.index], error)
        this.settleIndex(entry.pending, entry.index, Outcome.PayloadInvalid, issue, -1, entry.attempts - 1, -1)
      }
    } else {
      const back: Array<Requeued> = []
      for (const entry of entries) {
        if (entry.pending.cancelled) continue
        back.push({ pending: entry.pending, index: entry.index, attempts: entry.attempts - 1, unstarted: entry.unstarted })
        if (this.events.active) this.emitRequeued(entry, "Unsendable")
      }
      this.requeued = [...back, ...this.requeued]
      this.queuedCount += back.length
    }
  }

  // -------------------------------------------------------------------------------------------
  // Outcomes
  // -------------------------------------------------------------------------------------------

  private settleResults(slot: Slot, fields: ReadonlyArray<unknown>, times: Float64Array | undefined): void {
    const first = times === undefined ? 1 : ResultTimed.first
    // Rule 12: undefined until an answer names it, null once answers of several costs came.
    let cost: TaskCost | undefined | null
    for (let at = first; at < fields.length; at += Result.stride) {
      const id = fields[at + Result.id] as number
      const entry = slot.inFlight.get(id)
      if (entry === undefined) continue
      slot.inFlight.delete(id)
      if (cost !== entry.message.cost) cost = cost === undefined ? entry.message.cost ?? null : null
      this.timers.clear(entry.backstop)
      if (this.removeInFlight(entry) && slot.outstanding > 0) slot.outstanding--
      if (entry.pending.cancelled) {
        // Its handler may have run before the cancel reached it: that time was its worker's work.
        if (times !== undefined && this.events.active) {
          const k = 2 * ((at - first) / Result.stride)
          if (times[k + 1]! > times[k]!) this.events.cancelledRun(slot.id, times[k]!, times[k + 1]!, entry.pending.submission.taskName)
        }
        continue
      }
      let outcome = fields[at + Result.outcome] as Outcome
      let value = fields[at + Result.value]
      if (outcome === Outcome.Interrupted) {
        // Nobody asked: the worker is shutting down with the pool.
        outcome = Outcome.Closed
        value = "the pool closed while the task ran"
      }
      if (times !== undefined) {
        const k = 2 * ((at - first) / Result.stride)
        this.settleEntry(entry, outcome, value, slot.id, times[k], times[k + 1])
      } else {
        this.settleEntry(entry, outcome, value, slot.id)
      }
    }
    this.learnCost(slot, cost, (fields.length - first) / Result.stride)
    this.closeIfRetired(slot)
    this.pump()
  }

  /**
   * Rule 12: `count` answers of tasks of one cost (`null`: of several) came from `slot`; they took
   * the time its worker was busy since its previous answers (two messages of answers read at once
   * give one all the time and the other none: the sum is right).
   */
  private learnCost(slot: Slot, cost: TaskCost | undefined | null, count: number): void {
    const read = slot.connection.busyMicros
    if (read === undefined) return
    const busy = read()
    const micros = (busy - slot.busyRead) >>> 0
    slot.busyRead = busy
    if (cost != null && count > 0) cost.learn(micros / 1000, count)
  }

  private costOf(taskName: string): TaskCost {
    let cost = this.costs.get(taskName)
    if (cost === undefined) {
      cost = new TaskCost()
      this.costs.set(taskName, cost)
    }
    return cost
  }

  /** Rule 3's single exit: returns whether the entry's message is now fully answered. */
  private removeInFlight(entry: InFlight): boolean {
    this.inFlightTotal--
    const pending = entry.pending
    if (--pending.inFlight === 0 && pending.onDrained !== undefined) {
      const drained = pending.onDrained
      pending.onDrained = undefined
      drained()
    }
    return --entry.message.remaining === 0
  }

  private settleEntry(
    entry: InFlight,
    outcome: Outcome,
    value: unknown,
    workerId: number,
    startedAt?: number,
    endedAt?: number
  ): void {
    this.settleIndex(entry.pending, entry.index, outcome, value, workerId, entry.attempts, entry.taskId, startedAt, endedAt)
  }

  private settleIndex(
    pending: Pending,
    index: number,
    outcome: Outcome,
    value: unknown,
    workerId: number,
    attempts: number,
    taskId: number,
    startedAt?: number,
    endedAt?: number
  ): void {
    this.settledCount++
    const events = this.events
    if (events.active) events.settled(pending.id, index, taskId, workerId, attempts, outcomeName(outcome), startedAt, endedAt)
    pending.submission.settle(index, outcome, value, workerId, attempts, taskId)
  }

  /** A traced task's spans come just before its result: its caller replays them. */
  private receiveSpans(slot: Slot, fields: ReadonlyArray<unknown>): void {
    for (let at = 1; at + 1 < fields.length;) {
      const id = fields[at] as number
      const count = fields[at + 1] as number
      const entry = slot.inFlight.get(id)
      if (entry === undefined) this.listener?.onSpans(slot.id, id, fields, at + 2, count)
      else if (!entry.pending.cancelled) entry.pending.submission.trace?.receive(fields, at + 2, count, slot.id, id)
      at += 2 + count * SpanField.stride
    }
  }

  private armBackstop(slot: Slot, id: number): void {
    const entry = slot.inFlight.get(id)
    if (entry === undefined) return
    const after = entry.pending.submission.timeoutMillis + this.options.interruptGraceMillis
    entry.backstop = this.timers.set(after, () => {
      if (slot.inFlight.get(id) !== entry) return
      // The handler ignored its interruption: only terminating the worker stops it. Terminate
      // first: settling resumes the caller, which may submit again before this returns.
      slot.inFlight.delete(id)
      this.terminate(slot)
      this.removeInFlight(entry)
      if (!entry.pending.cancelled) this.settleEntry(entry, Outcome.Timeout, undefined, slot.id)
    })
  }

  /** Rule 4. */
  /** `Ticket.cancel` of a submission (rule 4). */
  cancelSubmission(pending: Pending): Promise<void> {
    if (pending.cancelling !== undefined) return pending.cancelling
    pending.cancelling = this.startCancel(pending)
    return pending.cancelling
  }

  private startCancel(pending: Pending): Promise<void> {
    if (pending.cancelled) return Promise.resolve()
    pending.cancelled = true
    const events = this.events
    if (events.active) events.emit({ _tag: "Cancelled", at: events.now(), submission: pending.id })
    const count = pending.submission.payloads.length
    this.queuedCount -= pending.admitted - pending.next
    this.waitingCount -= count - pending.admitted
    pending.next = pending.admitted = count
    const before = this.requeued.length
    this.requeued = this.requeued.filter((retry) => retry.pending !== pending)
    this.queuedCount -= before - this.requeued.length
    if (this.waiting.length > 0) {
      // Its place in the queue is free: admit who waits behind it.
      this.waiting = this.waiting.filter((waiting) => waiting !== pending)
      this.admit()
      this.pump()
    }
    if (pending.inFlight === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const holders: Array<Slot> = []
      for (const slot of this.slots) {
        const ids: Array<number> = []
        for (const [id, entry] of slot.inFlight) if (entry.pending === pending) ids.push(id)
        if (ids.length > 0) {
          holders.push(slot)
          this.sendCancel(slot, ids)
        }
      }
      const grace = this.timers.set(this.options.interruptGraceMillis, () => {
        for (const slot of holders) {
          for (const entry of slot.inFlight.values()) {
            if (entry.pending === pending) {
              this.terminate(slot)
              break
            }
          }
        }
      })
      pending.onDrained = () => {
        this.timers.clear(grace)
        resolve()
      }
    })
  }

  /** Rule 4: queues a cancel for `slot`; a microtask sends this turn's cancels, one message per worker. */
  private sendCancel(slot: Slot, ids: ReadonlyArray<number>): void {
    const queued = this.cancels.get(slot)
    if (queued !== undefined) {
      for (const id of ids) queued.push(id)
      return
    }
    this.cancels.set(slot, [...ids])
    if (this.cancels.size > 1) return
    queueMicrotask(() => {
      const cancels = this.cancels
      this.cancels = new Map()
      // A worker that died meanwhile had its tasks settled or re-queued (rule 7): nothing to cancel.
      for (const [slot, ids] of cancels) if (slot.state !== "dead") slot.connection.send([Op.Cancel, ...ids])
    })
  }

  private failQueued(reason: string): void {
    const requeued = this.requeued
    this.requeued = []
    for (const retry of requeued) {
      if (!retry.pending.cancelled) this.settleIndex(retry.pending, retry.index, Outcome.Closed, reason, -1, retry.attempts, -1)
    }
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const pending = this.queue[i]!
      if (pending.cancelled) continue
      const count = pending.submission.payloads.length
      pending.admitted = count
      while (pending.next < count) this.settleIndex(pending, pending.next++, Outcome.Closed, reason, -1, 0, -1)
    }
    this.queue = []
    this.queueHead = 0
    this.waiting = []
    this.waitingCount = 0
    this.queuedCount = 0
  }
}

/** Rule 1: what may share a message: single runs (-1), or submissions of one chunk size. */
const kindOf = (submission: Submission): number => submission.coalesce ? -1 : submission.chunkSize

/** Rule 1: the most tasks of a submission's kind in one message. */
const chunkLimit = (submission: Submission): number => submission.coalesce ? coalesceLimit : submission.chunkSize

const initError = (workerId: number, failure: "Failed" | "Timeout", message: string): PoolError =>
  new PoolError({ reason: new WorkerInitFailed({ workerId, failure, message }) })

