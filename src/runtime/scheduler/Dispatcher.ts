/**
 * The caller-side scheduler of a pool: spawns and supervises workers over a `Backend`, queues
 * submissions, chunks them into messages, dispatches to the least busy worker, and routes every
 * outcome back to its submission. Plain synchronous code: this is the hot path.
 *
 * Rules:
 * 1. A worker holds at most `pipelineDepth` unanswered messages; a message holds tasks of one
 *    chunk size, at most that many (single tasks coalesce, up to 256); so in-flight tasks never
 *    exceed size × pipelineDepth × chunk.
 * 2. A message takes at most its fair share of the queue (queued / ready workers), so a few long
 *    tasks spread over every worker instead of piling onto one.
 * 3. Each dispatched task is in exactly one worker's `inFlight` map until it is settled; it is
 *    settled exactly once — by its result, by the death of its worker (lost, or re-queued while
 *    its `attempts` ≤ `retries`), or by its backstop timer — and every path removes it first.
 * 4. A cancelled submission is never settled again; its `cancel()` resolves once none of its
 *    tasks is in any worker, terminating workers that do not stop within `interruptGrace`.
 * 5. A worker that dies is replaced unless the pool is closing — also one that was ready while the
 *    pool was still starting; replacements that fail to start (their init fails or times out, or
 *    they die before the ready handshake) are retried with backoff, and after `maxRespawnFailures`
 *    in a row the pool is broken: queued and new tasks fail as lost.
 * 6. When one request is all the pool awaits (one task, or one actor call), and its worker's
 *    connection can `poll`, the caller's thread waits for the reply for a moment (the pool's
 *    `replyWait`) before going back to its event loop: a reply that comes within it is taken at
 *    once, and the worker's reply need not wake a sleeping thread. A wait that goes unanswered
 *    makes the next lone requests skip waiting, 1, 2, 4 … 64 of them, so long tasks cost at most
 *    one wait in 64 requests; an answered one resets that. With more than one request in
 *    flight the pool never waits: the thread has other replies to take and workers need the cores.
 */
import { WorkerInitError } from "../../core/TaskError.ts"
import type { ActorTransport, PoolClient, Submission, Ticket } from "../client/PoolClient.ts"
import { type FromWorker, Op, Outcome, resultStride, type ToWorker } from "../protocol/protocol.ts"

/** A live worker, as a backend exposes it. */
export interface Connection {
  readonly send: (message: ToWorker) => void
  /** Stops the worker now; its `onExit` follows. */
  readonly terminate: () => void
  /**
   * Waits briefly, without yielding to the event loop, for the worker's next message and delivers
   * it through `onMessage`; false if none came. Backends that cannot do so leave it out (rule 6).
   */
  readonly poll?: () => boolean
}

export interface WorkerEvents {
  readonly onMessage: (message: FromWorker) => void
  /** The worker is gone (crash, exit, termination); called once. */
  readonly onExit: (reason: string) => void
}

/** Where workers come from: threads, the caller's own thread, a simulation. */
export interface Backend {
  readonly spawn: (workerId: number, events: WorkerEvents) => Connection
}

/** Time as the dispatcher sees it; the simulated backend supplies virtual time. */
export interface Timers {
  readonly set: (millis: number, f: () => void) => unknown
  readonly clear: (handle: unknown) => void
}

export const realTimers: Timers = {
  set: (millis, f) => setTimeout(f, millis),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>)
}

export interface DispatcherOptions {
  readonly size: number
  readonly initTimeoutMillis: number
  readonly shutdownTimeoutMillis: number
  readonly exitTimeoutMillis: number
  readonly interruptGraceMillis: number
  readonly retries: number
  readonly pipelineDepth: number
  readonly timers: Timers
  /** Told of each task as it is put in a message (retries included); the simulation traces it. */
  readonly onDispatch?:
    | ((workerId: number, taskId: number, submission: Submission, index: number, attempts: number) => void)
    | undefined
}

/** Replacement start-ups that may fail in a row before the pool gives up (rule 5). */
const maxRespawnFailures = 5

interface Pending {
  readonly submission: Submission
  next: number
  inFlight: number
  cancelled: boolean
  /** Set by the first `cancel()`; later calls wait for the same drain. */
  cancelling: Promise<void> | undefined
  onDrained: (() => void) | undefined
}

interface Message {
  remaining: number
}

interface InFlight {
  readonly pending: Pending
  readonly index: number
  readonly attempts: number
  readonly message: Message
  backstop: unknown
}

interface Slot {
  readonly id: number
  readonly connection: Connection
  state: "starting" | "ready" | "closing" | "dead"
  readonly inFlight: Map<number, InFlight>
  outstanding: number
  /** The init deadline while starting, the shutdown deadline while closing. */
  timer: unknown
}

/** What the pool's actor host hears about workers (actors live on a given worker). */
export interface WorkerListener {
  /** A message that is not about tasks (actor traffic). */
  readonly onMessage: (workerId: number, message: FromWorker) => void
  readonly onReady: (workerId: number) => void
  /** After the worker's tasks were settled or re-queued. */
  readonly onExit: (workerId: number, reason: string) => void
  /** Actor calls sent and not yet answered (rule 6). */
  readonly pendingCalls: () => number
}

export interface DispatcherStats {
  readonly workers: number
  readonly readyWorkers: number
  readonly queued: number
  readonly inFlight: number
  readonly maxInFlight: number
  readonly workersStarted: number
  /** Submissions the queue still references (their payloads stay alive while it does). */
  readonly queuedSubmissions: number
  /** Rule 6: lone requests whose reply was waited for, and how many of those it came within the wait. */
  readonly replyWaits: number
  readonly replyWaitsAnswered: number
}

export class Dispatcher implements PoolClient {
  readonly size: number
  private readonly backend: Backend
  private readonly options: DispatcherOptions
  private readonly timers: Timers
  private slots: Array<Slot> = []
  private queue: Array<Pending> = []
  private queueHead = 0
  private requeued: Array<{ readonly pending: Pending; readonly index: number; readonly attempts: number }> = []
  private queuedCount = 0
  private nextTaskId = 0
  private nextWorkerId = 0
  private closed = false
  /** True once the first `size` workers were ready: from then on, dead workers are replaced. */
  private running = false
  private broken: string | undefined
  private respawnFailures = 0
  private respawnTimers = new Set<unknown>()
  private onStarted: ((error?: WorkerInitError) => void) | undefined
  private onAllExited: (() => void) | undefined
  private inFlightTotal = 0
  private maxInFlightSeen = 0
  private listener: WorkerListener | undefined
  /** Rule 6's state: lone requests still to skip, the current skip run, whether a wait is queued. */
  private replyWaitSkip = 0
  private replyWaitBackoff = 0
  private replyWaitQueued = false
  private replyWaits = 0
  private replyWaitsAnswered = 0
  /** The pool's actor host, when its group has actors. */
  actors: ActorTransport | undefined = undefined

  constructor(backend: Backend, options: DispatcherOptions) {
    this.backend = backend
    this.options = options
    this.timers = options.timers
    this.size = options.size
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
    const pending: Pending = {
      submission,
      next: 0,
      inFlight: 0,
      cancelled: false,
      cancelling: undefined,
      onDrained: undefined
    }
    if (this.closed || this.broken !== undefined) {
      const reason = this.broken ?? "the pool is closed"
      for (let i = 0; i < submission.payloads.length; i++) submission.settle(i, Outcome.Lost, reason, -1, 0)
      return { cancel: () => Promise.resolve() }
    }
    this.queue.push(pending)
    this.queuedCount += submission.payloads.length
    this.pump()
    return { cancel: () => this.cancel(pending) }
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

  /** Sends to one worker; false if it is not ready (gone, starting or closing). */
  sendTo(workerId: number, message: ToWorker): boolean {
    for (const slot of this.slots) {
      if (slot.id !== workerId) continue
      if (slot.state !== "ready") return false
      slot.connection.send(message)
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

  get isClosed(): boolean {
    return this.closed
  }

  stats(): DispatcherStats {
    return {
      workers: this.slots.length,
      readyWorkers: this.slots.filter((slot) => slot.state === "ready").length,
      queued: this.queuedCount,
      inFlight: this.inFlightTotal,
      maxInFlight: this.maxInFlightSeen,
      workersStarted: this.nextWorkerId,
      queuedSubmissions: this.queue.length,
      replyWaits: this.replyWaits,
      replyWaitsAnswered: this.replyWaitsAnswered
    }
  }

  /**
   * Closes the pool: queued tasks are lost, workers are asked to shut down (their exit hooks
   * run) and terminated if still alive after `shutdownTimeout`. Resolves when every worker exited.
   */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.closed = true
    for (const timer of this.respawnTimers) this.timers.clear(timer)
    this.respawnTimers.clear()
    this.failQueued("the pool is closed")
    if (this.slots.length === 0) return Promise.resolve()
    return new Promise((resolve) => {
      this.onAllExited = resolve
      for (const slot of this.slots) this.shutdownSlot(slot)
    })
  }

  // -------------------------------------------------------------------------------------------
  // Workers
  // -------------------------------------------------------------------------------------------

  private spawn(): void {
    const id = this.nextWorkerId++
    let slot: Slot | undefined
    const connection = this.backend.spawn(id, {
      onMessage: (message) => this.receive(slot!, message),
      onExit: (reason) => this.exited(slot!, reason)
    })
    slot = { id, connection, state: "starting", inFlight: new Map(), outstanding: 0, timer: undefined }
    slot.timer = this.timers.set(this.options.initTimeoutMillis, () => {
      if (slot.state !== "starting") return
      this.initFailed(slot, "Timeout", `worker ${id} did not become ready within ${this.options.initTimeoutMillis} ms`)
    })
    this.slots.push(slot)
  }

  private receive(slot: Slot, message: FromWorker): void {
    switch (message[0]) {
      case Op.Results:
        return this.settleResults(slot, message)
      case Op.Started:
        return this.armBackstop(slot, message[1] as number)
      case Op.Ready: {
        if (slot.state !== "starting") return
        this.timers.clear(slot.timer)
        slot.state = "ready"
        this.respawnFailures = 0
        this.onStarted?.()
        this.pump()
        return this.listener?.onReady(slot.id)
      }
      case Op.InitFailed:
        return this.initFailed(slot, "Failed", `${message[1].name}: ${message[1].message}\n${message[1].stack}`)
      default:
        return this.listener?.onMessage(slot.id, message)
    }
  }

  private initFailed(slot: Slot, reason: "Failed" | "Timeout", text: string): void {
    if (slot.state !== "starting") return
    this.timers.clear(slot.timer)
    const error = new WorkerInitError({ workerId: slot.id, reason, message: text })
    slot.state = "dead"
    slot.connection.terminate()
    if (!this.running) {
      this.onStarted?.(error)
      return
    }
    this.replacementFailed(text)
  }

  /** Rule 5: counts a replacement that did not start; the last one allowed breaks the pool. */
  private replacementFailed(text: string): void {
    if (++this.respawnFailures >= maxRespawnFailures) {
      this.broken = `no replacement worker could be started: ${text}`
      this.failQueued(this.broken)
    }
  }

  /** Rule 3: a dead worker's tasks are re-queued or lost; rule 5: it is replaced. */
  private exited(slot: Slot, reason: string): void {
    const wasStarting = slot.state === "starting"
    this.timers.clear(slot.timer)
    slot.state = "dead"
    this.slots = this.slots.filter((s) => s !== slot)
    const held = [...slot.inFlight]
    slot.inFlight.clear()
    for (const [, entry] of held) {
      this.timers.clear(entry.backstop)
      this.removeInFlight(entry)
      if (entry.pending.cancelled) continue
      if (!this.closed && this.broken === undefined && entry.attempts <= this.options.retries) {
        this.requeued.push({ pending: entry.pending, index: entry.index, attempts: entry.attempts })
        this.queuedCount++
      } else {
        this.settleOne(entry, Outcome.Lost, `worker ${slot.id} ${reason}`, slot.id)
      }
    }
    // Dying before the ready handshake is failing to start, as much as a failed init is.
    const starting = this.onStarted
    if (wasStarting && !this.running) starting?.(new WorkerInitError({ workerId: slot.id, reason: "Failed", message: reason }))
    else if (wasStarting) this.replacementFailed(`worker ${slot.id} ${reason}`)
    this.listener?.onExit(slot.id, reason)
    if (this.closed) {
      if (this.slots.length === 0) this.onAllExited?.()
      return
    }
    // Replaced — also a worker that was ready while the others were still starting: the pool
    // must not start short. Not when the start itself failed: the pool is being closed.
    const startPending = !this.running && !wasStarting && starting !== undefined
    if ((this.running || startPending) && this.broken === undefined) this.respawn()
    this.pump()
  }

  private respawn(): void {
    const delay = this.respawnFailures === 0 ? 0 : Math.min(5_000, 100 * 2 ** (this.respawnFailures - 1))
    if (delay === 0) return this.spawn()
    const timer = this.timers.set(delay, () => {
      this.respawnTimers.delete(timer)
      if (!this.closed) this.spawn()
    })
    this.respawnTimers.add(timer)
  }

  private shutdownSlot(slot: Slot): void {
    if (slot.state === "dead" || slot.state === "closing") return
    const starting = slot.state === "starting"
    slot.state = "closing"
    this.timers.clear(slot.timer)
    if (starting) return slot.connection.terminate()
    slot.connection.send([Op.Shutdown, this.options.exitTimeoutMillis])
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
  // Dispatch
  // -------------------------------------------------------------------------------------------

  /** Sends queued tasks to workers with room (rules 1 and 2). */
  private pump(): void {
    while (this.queuedCount > 0) {
      const slot = this.leastBusy()
      if (slot === undefined) return
      const head = this.headPending()
      const chunk = head?.submission.chunkSize ?? 1
      const ready = this.readyCount()
      // A re-sent task travels alone: if it is what kills workers, it takes no other task down with it.
      const take = Math.max(1, Math.min(this.requeued.length > 0 ? 1 : maxCoalesce(chunk), Math.ceil(this.queuedCount / ready)))
      this.dispatch(slot, take)
    }
    // Nothing left to send: let go of every submission the queue still points at. Their payloads
    // (a 72 MB image each, say) must not live on until 1,024 more submissions have gone by.
    if (this.queue.length > 0) {
      this.queue = []
      this.queueHead = 0
    }
  }

  private leastBusy(): Slot | undefined {
    let best: Slot | undefined
    for (const slot of this.slots) {
      if (slot.state !== "ready" || slot.outstanding >= this.options.pipelineDepth) continue
      if (
        best === undefined || slot.outstanding < best.outstanding ||
        (slot.outstanding === best.outstanding && slot.inFlight.size < best.inFlight.size)
      ) best = slot
    }
    return best
  }

  private readyCount(): number {
    let count = 0
    for (const slot of this.slots) if (slot.state === "ready") count++
    return count
  }

  private headPending(): Pending | undefined {
    while (this.queueHead < this.queue.length) {
      const pending = this.queue[this.queueHead]!
      if (!pending.cancelled && pending.next < pending.submission.payloads.length) {
        // Under steady traffic the queue never empties: drop the finished prefix now and then.
        if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.queueHead)
          this.queueHead = 0
        }
        return pending
      }
      this.queueHead++
    }
    this.queue = []
    this.queueHead = 0
    return undefined
  }

  private dispatch(slot: Slot, take: number): void {
    const fields: Array<unknown> = [Op.Run]
    const message: Message = { remaining: 0 }
    while (message.remaining < take && this.requeued.length > 0) {
      const retry = this.requeued.shift()!
      this.queuedCount--
      if (retry.pending.cancelled) continue
      this.addTask(slot, message, fields, retry.pending, retry.index, retry.attempts + 1)
    }
    let pending: Pending | undefined
    let chunk: number | undefined
    while (message.remaining < take && (pending = this.headPending()) !== undefined) {
      const { chunkSize, payloads } = pending.submission
      // Tasks of one message share a chunk size: a run of single tasks coalesces, a map's chunk
      // stays whole, and neither spills into the other (rule 1 holds per submission).
      if (chunk !== undefined && chunkSize !== chunk) break
      chunk = chunkSize
      const limit = Math.min(take, message.remaining + payloads.length - pending.next)
      while (message.remaining < limit) {
        this.queuedCount--
        this.addTask(slot, message, fields, pending, pending.next++, 1)
      }
    }
    if (message.remaining === 0) return
    slot.outstanding++
    if (this.inFlightTotal > this.maxInFlightSeen) this.maxInFlightSeen = this.inFlightTotal
    slot.connection.send(fields as unknown as ToWorker)
    if (this.inFlightTotal === 1) this.awaitReplyFrom(slot)
  }

  private addTask(slot: Slot, message: Message, fields: Array<unknown>, pending: Pending, index: number, attempts: number) {
    const id = this.nextTaskId++
    const { submission } = pending
    fields.push(id, submission.taskName, submission.payloads[index], submission.timeoutMillis)
    this.options.onDispatch?.(slot.id, id, submission, index, attempts)
    slot.inFlight.set(id, { pending, index, attempts, message, backstop: undefined })
    message.remaining++
    pending.inFlight++
    this.inFlightTotal++
  }

  // -------------------------------------------------------------------------------------------
  // Outcomes
  // -------------------------------------------------------------------------------------------

  private settleResults(slot: Slot, fields: ReadonlyArray<unknown>): void {
    for (let i = 1; i < fields.length; i += resultStride) {
      const id = fields[i] as number
      const entry = slot.inFlight.get(id)
      if (entry === undefined) continue
      slot.inFlight.delete(id)
      this.timers.clear(entry.backstop)
      if (this.removeInFlight(entry) && slot.outstanding > 0) slot.outstanding--
      if (!entry.pending.cancelled) this.settleOne(entry, fields[i + 1] as Outcome, fields[i + 2], slot.id)
    }
    this.pump()
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

  private settleOne(entry: InFlight, outcome: Outcome, value: unknown, workerId: number): void {
    entry.pending.submission.settle(entry.index, outcome, value, workerId, entry.attempts)
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
      if (!entry.pending.cancelled) this.settleOne(entry, Outcome.Timeout, undefined, slot.id)
    })
  }

  /** Rule 4. */
  private cancel(pending: Pending): Promise<void> {
    if (pending.cancelling !== undefined) return pending.cancelling
    pending.cancelling = this.startCancel(pending)
    return pending.cancelling
  }

  private startCancel(pending: Pending): Promise<void> {
    pending.cancelled = true
    this.queuedCount -= pending.submission.payloads.length - pending.next
    pending.next = pending.submission.payloads.length
    const before = this.requeued.length
    this.requeued = this.requeued.filter((retry) => retry.pending !== pending)
    this.queuedCount -= before - this.requeued.length
    if (pending.inFlight === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const holders: Array<Slot> = []
      for (const slot of this.slots) {
        const ids: Array<number> = []
        for (const [id, entry] of slot.inFlight) if (entry.pending === pending) ids.push(id)
        if (ids.length > 0) {
          holders.push(slot)
          slot.connection.send([Op.Cancel, ...ids])
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

  private failQueued(reason: string): void {
    const requeued = this.requeued
    this.requeued = []
    for (const retry of requeued) {
      if (!retry.pending.cancelled) retry.pending.submission.settle(retry.index, Outcome.Lost, reason, -1, retry.attempts)
    }
    let pending: Pending | undefined
    while ((pending = this.headPending()) !== undefined) {
      const { submission } = pending
      while (pending.next < submission.payloads.length) submission.settle(pending.next++, Outcome.Lost, reason, -1, 0)
    }
    this.queuedCount = 0
  }
}

/** A run of single tasks (chunk size 1) coalesces up to this many per message. */
const coalesceLimit = 256

const maxCoalesce = (chunk: number): number => (chunk === 1 ? coalesceLimit : chunk)
